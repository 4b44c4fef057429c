//! Finds libfeat.so. In order:
//!   FEAT_LIB_DIR      a directory holding libfeat.so
//!   FEAT_BUILD_DIR    a meson build directory of this repository
//!   pkg-config        `pkg-config --libs-only-L libfeat`, else its `libdir` variable
//!                     (honours PKG_CONFIG_PATH: PREFIX/lib/<triplet>/pkgconfig after
//!                     `meson install`, BUILD/meson-uninstalled for a build tree)
//!   ../../../build    the repository's default build directory, when it exists
//!   otherwise         plain `-lfeat` from the system library path
//! The directory is passed on to dependents as DEP_FEAT_LIB_DIR. This crate's own targets get
//! an rpath to it; cargo applies a build script's link arguments to its own package only, so
//! a program's binary gets the rpath from its own build script, which reads DEP_FEAT_LIB_DIR
//! (bindings/rust/README.md, "Linking").
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config(args: &[&str]) -> Option<String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libfeat")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

// pkg-config leaves out -L for the system's own directories (an install under /usr), hence
// the libdir variable after the -L flags.
fn pkg_config_dir() -> Option<PathBuf> {
    let l_flags = pkg_config(&["--libs-only-L"]).unwrap_or_default();
    let libdir = pkg_config(&["--variable=libdir"]).unwrap_or_default();
    l_flags
        .split_whitespace()
        .filter_map(|t| t.strip_prefix("-L"))
        .chain(libdir.split_whitespace())
        .map(PathBuf::from)
        .find(|d| d.join("libfeat.so").exists())
}

fn main() {
    for v in ["FEAT_LIB_DIR", "FEAT_BUILD_DIR", "PKG_CONFIG_PATH"] {
        println!("cargo:rerun-if-env-changed={v}");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let repo_build = manifest.join("../../../build");
    let dir = env::var_os("FEAT_LIB_DIR")
        .map(PathBuf::from)
        .or_else(|| env::var_os("FEAT_BUILD_DIR").map(PathBuf::from))
        .or_else(pkg_config_dir)
        .or_else(|| Some(repo_build).filter(|d| d.join("libfeat.so").exists()));
    if let Some(d) = dir {
        let d = d.canonicalize().unwrap_or(d);
        if !Path::new(&d).join("libfeat.so").exists() {
            println!("cargo:warning=libfeat.so not found in {}", d.display());
        }
        println!("cargo:rustc-link-search=native={}", d.display());
        println!("cargo:lib_dir={}", d.display());
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
        println!("cargo:rerun-if-changed={}", d.join("libfeat.so").display());
    }
    println!("cargo:rustc-link-lib=dylib=feat");
}
