//! Fine-tuning against the feat CLI's runs with the same options and data
//! (bindings/testdata/prepare.py): the same record bit for bit, and the tuned models extract
//! the CLI's features of its own tuned models; the progress closure sees every step and
//! epoch, cancels, and a panic in it comes back to the caller.
mod common;
use common::*;
use libfeat::*;
use std::path::{Path, PathBuf};

/// Restores the thread budget when the test ends; the CLI's runs used one thread.
struct OneThread(i32);
impl OneThread {
    fn new() -> Self {
        let saved = threads();
        set_threads(1).unwrap();
        OneThread(saved)
    }
}
impl Drop for OneThread {
    fn drop(&mut self) {
        set_threads(self.0).unwrap();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("libfeat-rs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// class<TAB>input lines with the class indices of the CLI's run (TUNED.classes.txt).
fn tune_set(tsv: &str, classes: &str) -> (Vec<String>, Vec<i32>) {
    let classes: Vec<String> = std::fs::read_to_string(data().join("ref").join(classes))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    std::fs::read_to_string(data().join(tsv))
        .unwrap()
        .lines()
        .map(|l| {
            let (c, input) = l.split_once('\t').unwrap();
            (
                input.to_owned(),
                classes.iter().position(|x| x == c).unwrap() as i32,
            )
        })
        .unzip()
}

/// The side-car's "finetune" record (one line) without the head's file name.
fn side_car_run(model: &Path) -> String {
    let s = std::fs::read_to_string(model.with_extension("json")).unwrap();
    let line = s
        .lines()
        .find(|l| l.trim_start().starts_with("\"finetune\":"))
        .unwrap();
    let h = line.find("\"head\": \"").unwrap();
    let end = h + line[h + 9..].find('"').unwrap() + 12;
    format!("{}{}", &line[..h], &line[end..])
}

/// A number array of the record ("null" = NaN).
fn record_array(run: &str, key: &str) -> Vec<f64> {
    let a = &run[run.find(&format!("\"{key}\": [")).unwrap() + key.len() + 5..];
    a[..a.find(']').unwrap()]
        .split(',')
        .map(|v| v.trim().parse().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn finetune_texts_matches_cli() {
    let _g = serial();
    let _t = OneThread::new();
    let (texts, labels) = tune_set("tune.tsv", "tuned-text.classes.txt");
    let out = temp_dir("texts").join("tuned.pt");
    let mut calls = Vec::new();
    let opts = FinetuneOptions::new()
        .epochs(2)
        .batch_size(2)
        .validation_fraction(0.3)
        .seed(3)
        .progress(|p| {
            calls.push(*p);
            false
        });
    let rep = finetune_texts(get("FEAT_TEST_TINY_MODEL"), &texts, &labels, &out, &opts).unwrap();
    drop(opts);
    let want = side_car_run(&data().join("ref/tuned-text.pt"));
    assert_eq!(side_car_run(&out), want);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(&rep.train_loss),
        bits(&record_array(&want, "train_loss"))
    );
    assert_eq!(
        bits(&rep.val_accuracy),
        bits(&record_array(&want, "validation_accuracy"))
    );
    assert_eq!((rep.step_losses.len(), rep.items.len()), (4, 6));
    assert!(rep.items.iter().all(Option::is_none));
    let steps: Vec<u64> = calls.iter().map(|c| c.step).collect();
    assert_eq!(steps, [1, 2, 2, 3, 4, 4]);
    for (i, c) in calls.iter().enumerate() {
        assert_eq!(c.epoch as usize, i / 3);
        match c.val_accuracy {
            None => assert_eq!(c.loss as f32, rep.step_losses[c.step as usize - 1]),
            Some(acc) => {
                assert!(i == 2 || i == 5);
                assert_eq!(
                    (c.loss, acc),
                    (rep.train_loss[i / 3], rep.val_accuracy[i / 3])
                );
            }
        }
    }
    let ex = TextExtractor::new(&out, None, &TextOptions::new()).unwrap();
    let (_, _, cli) = read_npy(&data().join("ref/tuned-text.npy"));
    assert_same(ex.extract(&texts).unwrap().data(), &cli);
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn finetune_images_matches_cli() {
    let _g = serial();
    let _t = OneThread::new();
    let (paths, labels) = tune_set("tune-images.tsv", "tuned-image.classes.txt");
    let out = temp_dir("images").join("tuned.pt");
    let opts = FinetuneOptions::new()
        .train("layer4.-1")
        .head_tap("layer4.-1:gap")
        .epochs(1)
        .batch_size(2)
        .learning_rate(1e-4);
    let rep = finetune_images(get("FEAT_TEST_IMAGE_MODEL"), &paths, &labels, &out, &opts).unwrap();
    assert_eq!(
        side_car_run(&out),
        side_car_run(&data().join("ref/tuned-image.pt"))
    );
    let mut good = Vec::new();
    for (p, item) in paths.iter().zip(&rep.items) {
        match item {
            Some(e) => {
                assert!(
                    p.contains("truncated") && e.kind() == ErrorKind::Decode,
                    "{p}: {e}"
                );
                assert!(e.message().starts_with(&format!("{p}: ")), "{e}");
            }
            None => good.push(p.clone()),
        }
    }
    assert_eq!((good.len(), rep.step_losses.len()), (5, 3));
    assert!(rep.val_accuracy[0].is_nan());
    let ex = ImageExtractor::new(
        &out,
        &ImageOptions::new().taps(&get("FEAT_TEST_TUNED_IMAGE_TAPS")),
    )
    .unwrap();
    let (_, _, cli) = read_npy(&data().join("ref/tuned-image.npy"));
    assert_same(ex.extract_files(&good).unwrap().data(), &cli);
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

#[test]
fn finetune_cancel_panic_and_errors() {
    let _g = serial();
    let (texts, labels) = tune_set("tune.tsv", "tuned-text.classes.txt");
    let model = get("FEAT_TEST_TINY_MODEL");
    let dir = temp_dir("cancel");
    let out = dir.join("t.pt");
    let mut seen = Vec::new();
    let opts = FinetuneOptions::new()
        .epochs(3)
        .batch_size(2)
        .progress(|p| {
            seen.push(p.step);
            p.step == 2
        });
    let e = finetune_texts(&model, &texts, &labels, &out, &opts).unwrap_err();
    drop(opts);
    assert_eq!((e.kind(), seen), (ErrorKind::Cancelled, vec![1, 2]));
    let opts = FinetuneOptions::new()
        .epochs(3)
        .batch_size(2)
        .progress(|_| panic!("boom"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finetune_texts(&model, &texts, &labels, &out, &opts)
    }));
    assert_eq!(r.unwrap_err().downcast_ref::<&str>(), Some(&"boom"));
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "a cancelled run wrote files"
    );
    let e = finetune_texts(
        &model,
        &texts,
        &labels,
        &out,
        &FinetuneOptions::new().epochs(20000),
    )
    .unwrap_err();
    assert!(
        e.kind() == ErrorKind::InvalidArgument && e.message().contains("above the limit"),
        "{e}"
    );
    let e = finetune_images(
        &model,
        &["a.png", "b.png"],
        &[0, 1],
        &out,
        &FinetuneOptions::new(),
    )
    .unwrap_err();
    assert!(
        e.kind() == ErrorKind::Model && e.message().contains("not an image model"),
        "{e}"
    );
    let e =
        finetune_texts(&model, &texts, &labels[..2], &out, &FinetuneOptions::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let e = finetune_texts(
        &model,
        &["a\0b", "c"],
        &[0, 1],
        &out,
        &FinetuneOptions::new(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let mut opts = FinetuneOptions::new();
    opts.class_weights = Some(vec![1.0, -1.0]);
    assert_eq!(
        finetune_texts(&model, &texts, &labels, &out, &opts)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidArgument
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
