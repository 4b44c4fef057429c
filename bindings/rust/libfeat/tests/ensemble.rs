//! Ensembles against their members: every row is the members' own rows side by side, bit for
//! bit; a failed row has the first failing member's status and message, prefixed with its name.
mod common;
use common::*;
use libfeat::*;

fn concat(parts: &[&Features]) -> Vec<f32> {
    let mut out = Vec::new();
    for i in 0..parts[0].rows() {
        for p in parts {
            assert_eq!(p.rows(), parts[0].rows());
            out.extend_from_slice(p.row(i));
        }
    }
    out
}

/// Bit equality, any NaN equal to any NaN.
fn same_bits(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "value {i}: {g} vs {w}"
        );
    }
}

fn failed_rows(got: &Features, names: &[&str], members: &[&Features]) {
    for i in 0..got.rows() {
        let want = members.iter().enumerate().find_map(|(k, m)| {
            m.item_error(i)
                .map(|e| (e.status(), format!("{}: {}", names[k], e.message())))
        });
        match (got.item_error(i), want) {
            (None, None) => {}
            (Some(e), Some((st, msg))) => {
                assert_eq!((e.status(), e.message()), (st, msg.as_str()), "row {i}");
                assert!(got.row(i).iter().all(|v| v.is_nan()), "row {i}");
            }
            (g, w) => panic!("row {i}: {g:?} vs {w:?}"),
        }
    }
}

#[test]
fn image_ensemble_equals_members() {
    let _g = serial();
    let a = ImageExtractor::new(
        get("FEAT_TEST_IMAGE_MODEL"),
        &ImageOptions::new().taps(&get("FEAT_TEST_IMAGE_TAPS")),
    )
    .unwrap();
    // another preprocessing preset: decoded once, preprocessed twice
    let b = ImageExtractor::new(
        get("FEAT_TEST_IMAGE_MODEL"),
        &ImageOptions::new()
            .taps("layer3:gap")
            .preset(Preset::KerasVgg16),
    )
    .unwrap();
    let en = ImageEnsemble::with_names(&[&a, &b], &["A", "B"]).unwrap();
    assert_eq!((en.len(), en.dim(), en.members().len()), (2, 640 + 256, 2));
    assert_eq!(en.tap_dims(), vec![512, 128, 256]);
    assert_eq!(en.taps(), vec!["layer4:gap", "layer2:gmp", "layer3:gap"]);
    let files = files();
    let got = en.extract_files(&files).unwrap();
    let (fa, fb) = (
        a.extract_files(&files).unwrap(),
        b.extract_files(&files).unwrap(),
    );
    same_bits(got.data(), &concat(&[&fa, &fb]));
    failed_rows(&got, &["A", "B"], &[&fa, &fb]);
    assert_eq!(got.n_failed(), 3);
    assert_eq!(got.item_error(1).unwrap().kind(), ErrorKind::Decode);
    assert_eq!(got.item_error(3).unwrap().kind(), ErrorKind::NotFound);
    // member A's columns are the feat CLI's rows for the same files
    let (_, _, cli) = read_npy(&data().join("ref/image.npy"));
    for i in 0..got.rows() {
        assert_same(&got.row(i)[..640], &cli[i * 640..(i + 1) * 640]);
    }
    let d = data().join("images");
    let mut blobs: Vec<Vec<u8>> = ["FreshFlower.jpg", "gradient.png"]
        .iter()
        .map(|n| std::fs::read(d.join(n)).unwrap())
        .collect();
    blobs.push(b"garbage".to_vec());
    let enc = en.extract_encoded(&blobs).unwrap();
    let (ea, eb) = (
        a.extract_encoded(&blobs).unwrap(),
        b.extract_encoded(&blobs).unwrap(),
    );
    same_bits(enc.data(), &concat(&[&ea, &eb]));
    failed_rows(&enc, &["A", "B"], &[&ea, &eb]);
    let pix = std::fs::read(d.join("gradient.rgb")).unwrap();
    let im = [Rgb8 {
        pixels: &pix,
        width: 97,
        height: 61,
        stride: 0,
    }];
    let px = en.extract_rgb8(&im).unwrap();
    same_bits(
        px.data(),
        &concat(&[&a.extract_rgb8(&im).unwrap(), &b.extract_rgb8(&im).unwrap()]),
    );
    let short = [Rgb8 {
        pixels: &pix[..10],
        width: 97,
        height: 61,
        stride: 0,
    }];
    assert_eq!(
        en.extract_rgb8(&short).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn ensemble_members_and_errors() {
    let _g = serial();
    let a = ImageExtractor::new(get("FEAT_TEST_IMAGE_MODEL"), &ImageOptions::new()).unwrap();
    assert_eq!(
        ImageEnsemble::with_names(&[&a], &["x", "y"])
            .err()
            .unwrap()
            .kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        ImageEnsemble::with_names(&[&a], &["a\0b"])
            .err()
            .unwrap()
            .kind(),
        ErrorKind::InvalidArgument
    );
    let empty = ImageEnsemble::new(&[]).unwrap();
    assert!(empty.is_empty());
    let e = empty.extract_files(&files()[..1]).unwrap_err();
    assert!(
        e.kind() == ErrorKind::State && e.message().contains("no members"),
        "{e}"
    );
    // the same member twice: its columns twice, unnamed members are "member K"
    let en = ImageEnsemble::new(&[&a, &a]).unwrap();
    let two = &files()[..2];
    let (got, fa) = (
        en.extract_files(two).unwrap(),
        a.extract_files(two).unwrap(),
    );
    same_bits(got.data(), &concat(&[&fa, &fa]));
    assert!(got
        .item_error(1)
        .unwrap()
        .message()
        .starts_with("member 0: "));
}

#[test]
fn text_ensemble_equals_members_and_cancels() {
    let _g = serial();
    let tiny = TextExtractor::new(get("FEAT_TEST_TINY_MODEL"), None, &TextOptions::new()).unwrap();
    let mini = TextExtractor::new(
        get("FEAT_TEST_TEXT_MODEL"),
        None,
        &TextOptions::new()
            .taps(&get("FEAT_TEST_TEXT_TAPS"))
            .batch_size(8),
    )
    .unwrap();
    let en = TextEnsemble::new(&[&tiny, &mini]).unwrap();
    assert_eq!((en.len(), en.dim()), (2, 64 + 384));
    let lines = lines();
    let got = en.extract(&lines).unwrap();
    let (ft, fm) = (tiny.extract(&lines).unwrap(), mini.extract(&lines).unwrap());
    same_bits(got.data(), &concat(&[&ft, &fm]));
    failed_rows(&got, &["member 0", "member 1"], &[&ft, &fm]);
    assert_eq!(got.n_failed(), 1);
    let raw = std::fs::read_to_string(data().join("pairs.txt")).unwrap();
    let (a, b): (Vec<&str>, Vec<&str>) = raw.lines().map(|l| l.split_once('\t').unwrap()).unzip();
    let pg = en.extract_pairs(&a, &b).unwrap();
    same_bits(
        pg.data(),
        &concat(&[
            &tiny.extract_pairs(&a, &b).unwrap(),
            &mini.extract_pairs(&a, &b).unwrap(),
        ]),
    );
    assert_eq!(
        en.extract_pairs(&a, &b[..1]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // a member's canceller, from another thread, stops the ensemble's call
    let many = vec!["the quick brown fox jumps over the lazy dog, again and again"; 400];
    let c = mini.canceller();
    let r = std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            c.cancel();
        });
        en.extract(&many)
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(en.extract(&many[..2]).unwrap().n_failed(), 0);
}
