//! Test fixtures: models, inputs and the `feat` CLI's reference outputs made by
//! bindings/testdata/prepare.py (cached in $FEAT_BUILD_DIR/bindings-test).
#![allow(dead_code)]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../..")
        .canonicalize()
        .unwrap()
}

pub fn env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let data = match std::env::var("FEAT_TEST_DATA") {
            Ok(d) => PathBuf::from(d),
            Err(_) => {
                let py = root().join(".venv/bin/python");
                let py = if py.exists() {
                    py
                } else {
                    PathBuf::from("python3")
                };
                let out = Command::new(py)
                    .arg(root().join("bindings/testdata/prepare.py"))
                    .output()
                    .expect("run prepare.py");
                assert!(
                    out.status.success(),
                    "prepare.py: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                PathBuf::from(
                    String::from_utf8(out.stdout)
                        .unwrap()
                        .trim()
                        .lines()
                        .last()
                        .unwrap(),
                )
            }
        };
        std::fs::read_to_string(data.join("env.txt"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect()
    })
}

pub fn get(key: &str) -> String {
    env()[key].clone()
}

pub fn data() -> PathBuf {
    PathBuf::from(get("FEAT_TEST_DATA"))
}

/// Tests share process-wide state (the inference thread budget): run them one at a time.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A 2-D float32 little-endian .npy: (rows, cols, data).
pub fn read_npy(path: &Path) -> (usize, usize, Vec<f32>) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..6], b"\x93NUMPY");
    let (hlen, start) = if b[6] == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(&b[start..start + hlen]).unwrap();
    assert!(
        header.contains("'<f4'") && header.contains("False"),
        "{header}"
    );
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    let shape = &shape[..shape.find(')').unwrap()];
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let data: Vec<f32> = b[start + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(data.len(), dims[0] * dims[1]);
    (dims[0], dims[1], data)
}

/// (status, input, message) per row of OUT.rows.tsv.
pub fn read_rows(npy: &Path) -> Vec<(String, String, String)> {
    let tsv = npy.with_extension("rows.tsv");
    String::from_utf8_lossy(&std::fs::read(tsv).unwrap())
        .lines()
        .skip(1)
        .map(|l| {
            let p: Vec<&str> = l.split('\t').collect();
            (
                p[1].to_owned(),
                p.get(2).unwrap_or(&"").to_string(),
                p.get(3).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

/// Max abs difference 0, NaN in the same places.
pub fn assert_same(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    let mut max = 0f32;
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.is_nan(), w.is_nan());
        if !w.is_nan() {
            max = max.max((g - w).abs());
        }
    }
    assert_eq!(max, 0.0, "max abs difference {max}");
}

pub fn lines() -> Vec<Vec<u8>> {
    let b = std::fs::read(data().join("lines.txt")).unwrap();
    let mut v: Vec<Vec<u8>> = b.split(|&c| c == b'\n').map(|s| s.to_vec()).collect();
    v.pop();
    v
}

pub fn files() -> Vec<String> {
    std::fs::read_to_string(data().join("files.txt"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

pub fn note(line: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(data().join("measurements.txt"))
        .unwrap();
    writeln!(f, "rust: {line}").unwrap();
}

pub fn rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0 / 1048576.0
}
