//! Finds libfeat.so. In order:
//!   FEAT_LIB_DIR      a directory holding libfeat.so
//!   FEAT_BUILD_DIR    a meson build directory of this repository
//!   pkg-config        `pkg-config --libs-only-L libfeat` (honours PKG_CONFIG_PATH; a meson
//!                     build has it in BUILD/meson-uninstalled or BUILD/meson-private)
//!   ../../../build    the repository's default build directory, when it exists
//!   otherwise         plain `-lfeat` from the system library path
//! The directory is passed on to dependents as DEP_FEAT_LIB_DIR (for an rpath in tests).
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pkg_config_dir() -> Option<PathBuf> {
    let out = Command::new("pkg-config")
        .args(["--libs-only-L", "libfeat"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    s.split_whitespace()
        .filter_map(|t| t.strip_prefix("-L"))
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
