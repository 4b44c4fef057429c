//! The safe crate against the `feat` CLI on the same inputs (max abs difference 0), errors,
//! other input kinds, cancellation.
mod common;
use common::*;
use libfeat::*;
use std::path::Path;

fn image_ex() -> ImageExtractor {
    ImageExtractor::new(
        get("FEAT_TEST_IMAGE_MODEL"),
        &ImageOptions::new().taps(&get("FEAT_TEST_IMAGE_TAPS")),
    )
    .unwrap()
}

#[test]
fn image_files_match_cli() {
    let _g = serial();
    let ex = image_ex();
    let files = files();
    let f = ex.extract_files(&files).unwrap();
    let (rows, cols, want) = read_npy(&data().join("ref/image.npy"));
    assert_eq!((f.rows(), f.dim(), ex.dim()), (rows, cols, 640));
    assert_eq!(ex.taps(), vec!["layer4:gap", "layer2:gmp"]);
    assert_eq!(ex.tap_dims(), vec![512, 128]);
    assert_same(f.data(), &want);
    for (i, (status, input, msg)) in read_rows(&data().join("ref/image.npy")).iter().enumerate() {
        assert_eq!(input, &files[i]);
        match f.item_error(i) {
            None => assert_eq!(status, "ok"),
            Some(e) => {
                assert_eq!(e.status_name(), status);
                assert_eq!(e.message(), msg);
            }
        }
    }
    let kinds: Vec<_> = (0..f.rows())
        .map(|i| f.item_error(i).map(|e| e.kind()))
        .collect();
    assert_eq!(kinds[1], Some(ErrorKind::Decode));
    assert_eq!(kinds[3], Some(ErrorKind::NotFound));
    assert_eq!(f.n_failed(), 3);
    assert_eq!(f.check_items().unwrap_err().kind(), ErrorKind::Decode);
    assert!(f.row(1).iter().all(|x| x.is_nan()));
}

#[test]
fn encoded_and_pixels_match_files() {
    let _g = serial();
    let ex = image_ex();
    let d = data().join("images");
    let good = [d.join("FreshFlower.jpg"), d.join("gradient.png")];
    let want = ex.extract_files(&good).unwrap();
    let blobs: Vec<Vec<u8>> = good.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let mut with_bad = blobs.clone();
    with_bad.push(b"garbage".to_vec());
    let got = ex.extract_encoded(&with_bad).unwrap();
    assert_same(&got.data()[..2 * got.dim()], want.data());
    assert_eq!(got.n_failed(), 1);
    let pix = std::fs::read(d.join("gradient.rgb")).unwrap();
    let im = Rgb8 {
        pixels: &pix,
        width: 97,
        height: 61,
        stride: 0,
    };
    assert_same(ex.extract_rgb8(&[im]).unwrap().data(), want.row(1));
    // a padded row stride
    let mut padded = vec![0u8; 61 * 300];
    for y in 0..61 {
        padded[y * 300..y * 300 + 291].copy_from_slice(&pix[y * 291..(y + 1) * 291]);
    }
    let im2 = Rgb8 {
        pixels: &padded,
        width: 97,
        height: 61,
        stride: 300,
    };
    assert_same(ex.extract_rgb8(&[im2]).unwrap().data(), want.row(1));
    // too few bytes is refused before the call
    let short = Rgb8 {
        pixels: &pix[..100],
        width: 97,
        height: 61,
        stride: 0,
    };
    assert_eq!(
        ex.extract_rgb8(&[short]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(ex.extract_files::<&str>(&[]).unwrap().rows(), 0);
}

#[test]
fn text_matches_cli() {
    let _g = serial();
    let ex = TextExtractor::new(
        get("FEAT_TEST_TEXT_MODEL"),
        None,
        &TextOptions::new().taps(&get("FEAT_TEST_TEXT_TAPS")),
    )
    .unwrap();
    assert_eq!(ex.dim(), 384);
    let lines = lines();
    let f = ex.extract(&lines).unwrap();
    let (_, _, want) = read_npy(&data().join("ref/text.npy"));
    assert_same(f.data(), &want);
    for (i, (status, _, msg)) in read_rows(&data().join("ref/text.npy")).iter().enumerate() {
        assert_eq!(f.is_ok(i), status == "ok");
        if let Some(e) = f.item_error(i) {
            assert_eq!((e.kind(), e.message()), (ErrorKind::Decode, msg.as_str()));
        }
    }
    assert_eq!(f.n_failed(), 1);
    // &str and bytes agree
    let strs: Vec<&str> = lines
        .iter()
        .filter_map(|l| std::str::from_utf8(l).ok())
        .take(4)
        .collect();
    let bytes: Vec<&[u8]> = strs.iter().map(|s| s.as_bytes()).collect();
    assert_eq!(ex.extract(&strs).unwrap(), ex.extract(&bytes).unwrap());
}

#[test]
fn pairs_match_cli() {
    let _g = serial();
    let ex = TextExtractor::new(get("FEAT_TEST_TEXT_MODEL"), None, &TextOptions::new()).unwrap();
    let raw = std::fs::read(data().join("pairs.txt")).unwrap();
    let pairs: Vec<(&[u8], &[u8])> = raw
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let t = l.iter().position(|&c| c == b'\t').unwrap();
            (&l[..t], &l[t + 1..])
        })
        .collect();
    let a: Vec<&[u8]> = pairs.iter().map(|p| p.0).collect();
    let b: Vec<&[u8]> = pairs.iter().map(|p| p.1).collect();
    let (_, _, want) = read_npy(&data().join("ref/pairs.npy"));
    assert_same(ex.extract_pairs(&a, &b).unwrap().data(), &want);
    assert_eq!(
        ex.extract_pairs(&a, &b[..1]).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

/// Extracts the same inputs under bfloat16 and float32: autocast moves the features a little
/// (so the option reached the model), never far.
fn assert_bf16_near_fp32(extract: impl Fn(Precision) -> Features) {
    let (a, b) = (extract(Precision::Bf16), extract(Precision::Fp32));
    assert_eq!(
        (a.n_failed(), b.n_failed(), a.data().len()),
        (0, 0, b.data().len())
    );
    let diff = a.data().iter().zip(b.data()).map(|(x, y)| (x - y).abs());
    let diff = diff.fold(0f32, f32::max);
    let scale = b.data().iter().fold(0f32, |m, y| m.max(y.abs()));
    assert!(
        diff > 0.0 && diff < 0.1 * scale,
        "bf16 vs fp32: {diff} of {scale}"
    );
}

#[test]
fn precision_bf16_and_fp32() {
    let _g = serial();
    let d = data().join("images");
    let images = [d.join("FreshFlower.jpg"), d.join("gradient.png")];
    assert_bf16_near_fp32(|p| {
        let opts = ImageOptions::new()
            .taps(&get("FEAT_TEST_IMAGE_TAPS"))
            .precision(p);
        let ex = ImageExtractor::new(get("FEAT_TEST_IMAGE_MODEL"), &opts).unwrap();
        ex.extract_files(&images).unwrap()
    });
    let texts: Vec<Vec<u8>> = lines()
        .into_iter()
        .filter(|l| std::str::from_utf8(l).is_ok())
        .take(4)
        .collect();
    assert_bf16_near_fp32(|p| {
        let opts = TextOptions::new()
            .taps(&get("FEAT_TEST_TEXT_TAPS"))
            .precision(p);
        let ex = TextExtractor::new(get("FEAT_TEST_TEXT_MODEL"), None, &opts).unwrap();
        ex.extract(&texts).unwrap()
    });
}

#[test]
fn tokenizer() {
    let _g = serial();
    let tok = Tokenizer::new(get("FEAT_TEST_VOCAB"), &TextOptions::new()).unwrap();
    let e = tok
        .encode("Hello, world! Héllo", Some(b"second part".as_slice()))
        .unwrap();
    assert_eq!(e.ids[..3], [101, 7592, 1010]);
    assert_eq!(e.type_ids, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
    assert_eq!(e.sequence_ids, [-1, 0, 0, 0, 0, 0, -1, 1, 1, -1]);
    assert_eq!(e.offsets[5], (14, 19));
    assert_eq!(e.byte_offsets[5], (14, 20));
    assert_eq!(tok.vocab_size(), 30522);
    assert_eq!(tok.token_to_id("hello"), Some(7592));
    assert_eq!(tok.id_to_token(7592).as_deref(), Some("hello"));
    assert_eq!(tok.token_to_id("notatoken~~"), None);
    let err = tok.encode(b"caf\xe9", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decode);
    assert!(err.message().contains("UTF-8"), "{err}");
    let short = Tokenizer::new(get("FEAT_TEST_VOCAB"), &TextOptions::new().max_length(5)).unwrap();
    let e = short.encode("one two three four five six", None).unwrap();
    assert_eq!((e.ids.len(), e.n_truncated), (5, 3));
    // the extractor's own tokenizer, borrowed
    let ex = TextExtractor::new(get("FEAT_TEST_TINY_MODEL"), None, &TextOptions::new()).unwrap();
    assert_eq!(
        ex.tokenizer().encode("A man", None).unwrap().ids,
        tok.encode("A man", None).unwrap().ids
    );
    let missing = Tokenizer::new("/nonexistent/vocab.txt", &TextOptions::new())
        .err()
        .unwrap();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

#[test]
fn layers_and_load_errors() {
    let _g = serial();
    let ls = layers(get("FEAT_TEST_IMAGE_MODEL"), 0).unwrap();
    let l4 = ls.iter().find(|l| l.path == "layer4").unwrap();
    assert_eq!(l4.shape.as_deref(), Some(&[1i64, 512, 7, 7][..]));
    let e = layers("/nonexistent/model.pt", 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("/nonexistent/model.pt"));
    let opts = ImageOptions::new().taps("layer4:gap");
    assert_eq!(
        ImageExtractor::new("/nonexistent/m.pt", &opts)
            .err()
            .unwrap()
            .kind(),
        ErrorKind::NotFound
    );
    let garbage =
        std::env::temp_dir().join(format!("libfeat-rs-garbage-{}.pt", std::process::id()));
    std::fs::write(&garbage, b"not a model").unwrap();
    assert_eq!(
        ImageExtractor::new(&garbage, &opts).err().unwrap().kind(),
        ErrorKind::Model
    );
    std::fs::remove_file(&garbage).ok();
    let bad = ImageExtractor::new(
        get("FEAT_TEST_IMAGE_MODEL"),
        &ImageOptions::new().taps("layer4:::"),
    )
    .err()
    .unwrap();
    assert_eq!(bad.kind(), ErrorKind::InvalidArgument);
    assert!(!bad.message().is_empty());
    assert_eq!(
        set_threads(-1).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let nul = ImageExtractor::new(Path::new("a\0b"), &opts).err().unwrap();
    assert_eq!(nul.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn cancel_from_another_thread() {
    let _g = serial();
    let ex = TextExtractor::new(
        get("FEAT_TEST_TEXT_MODEL"),
        None,
        &TextOptions::new().batch_size(8),
    )
    .unwrap();
    let lines: Vec<Vec<u8>> = lines()
        .into_iter()
        .filter(|l| std::str::from_utf8(l).is_ok())
        .collect();
    let many: Vec<&Vec<u8>> = lines.iter().cycle().take(lines.len() * 60).collect();
    let c = ex.canceller();
    let r = std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            c.cancel();
        });
        ex.extract(&many)
    });
    assert_eq!(r.unwrap_err().kind(), ErrorKind::Cancelled);
    assert_eq!(ex.extract(&many[..2]).unwrap().n_failed(), 0);
}
