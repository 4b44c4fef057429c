//! 8 threads extracting concurrently (each with its own clone) give the serial results bit for
//! bit; 10,000 extractor open/close cycles do not grow memory.
mod common;
use common::*;
use libfeat::*;
use std::time::Instant;

const THREADS: usize = 8;
const GROWTH_BOUND_MB: f64 = 10.0; // 1 KB per cycle: a leaked result, clone or encoding would show

fn rounds() -> usize {
    std::env::var("FEAT_STRESS_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// Runs `work` on THREADS clones at once, `rounds()` times each; all outputs must equal `serial`.
fn concurrent<E: Send, F>(base: &E, clone: impl Fn(&E) -> E, work: F, serial: &Features) -> f64
where
    F: Fn(&E) -> Features + Sync,
{
    let clones: Vec<E> = (0..THREADS).map(|_| clone(base)).collect();
    let barrier = std::sync::Barrier::new(THREADS);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let hs: Vec<_> = clones
            .into_iter()
            .map(|c| {
                let (work, barrier) = (&work, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    (0..rounds()).map(|_| work(&c)).collect::<Vec<_>>()
                })
            })
            .collect();
        for h in hs {
            for f in h.join().unwrap() {
                assert_eq!(f.statuses(), serial.statuses());
                let same = f
                    .data()
                    .iter()
                    .zip(serial.data())
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "a concurrent result differs from the serial one");
            }
        }
    });
    t0.elapsed().as_secs_f64()
}

#[test]
fn threads_identical_to_serial() {
    let _g = serial();
    let saved = threads();
    set_threads(1).unwrap(); // one core per worker; the serial reference runs under the same budget
    let lines = lines();
    let ex = TextExtractor::new(
        get("FEAT_TEST_TEXT_MODEL"),
        None,
        &TextOptions::new().taps(&get("FEAT_TEST_TEXT_TAPS")),
    )
    .unwrap();
    let want = ex.extract(&lines).unwrap();
    let secs = concurrent(
        &ex,
        |e| e.try_clone().unwrap(),
        |c| c.extract(&lines).unwrap(),
        &want,
    );
    note(&format!(
        "{THREADS} threads x {} rounds x {} texts (MiniLM) identical to serial, {secs:.1} s",
        rounds(),
        lines.len()
    ));
    let files = files();
    let ex = ImageExtractor::new(
        get("FEAT_TEST_IMAGE_MODEL"),
        &ImageOptions::new().taps(&get("FEAT_TEST_IMAGE_TAPS")),
    )
    .unwrap();
    let want = ex.extract_files(&files).unwrap();
    let secs = concurrent(
        &ex,
        |e| e.try_clone().unwrap(),
        |c| c.extract_files(&files).unwrap(),
        &want,
    );
    note(&format!(
        "{THREADS} threads x {} rounds x {} images (ResNet18) identical to serial, {secs:.1} s",
        rounds(),
        files.len()
    ));
    set_threads(if saved > 0 { saved } else { 0 }).unwrap();
}

#[test]
fn open_close_cycles_do_not_grow_memory() {
    let _g = serial();
    let cycles: usize = std::env::var("FEAT_MEMORY_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let ex = TextExtractor::new(get("FEAT_TEST_TINY_MODEL"), None, &TextOptions::new()).unwrap();
    let tok = ex.tokenizer();
    let texts: [&[u8]; 2] = [b"the quick brown fox", b"\xff"];
    let cycle = || {
        let c = ex.try_clone().unwrap();
        let f = c.extract(&texts).unwrap();
        assert_eq!((f.n_failed(), f.rows(), f.dim()), (1, 2, 64));
        drop(c);
        tok.encode("jumps over the lazy dog", None).unwrap();
    };
    for _ in 0..500 {
        cycle();
    }
    let before = rss_mb();
    let t0 = Instant::now();
    for _ in 0..cycles {
        cycle();
    }
    let secs = t0.elapsed().as_secs_f64();
    let after = rss_mb();
    let growth = after - before;
    note(&format!(
        "{cycles} clone/extract/drop cycles (bert-tiny): RSS {before:.1} -> {after:.1} MB (growth {growth:+.2} MB, bound {GROWTH_BOUND_MB} MB), {secs:.1} s"
    ));
    assert!(growth < GROWTH_BOUND_MB, "RSS grew by {growth:.2} MB");
}
