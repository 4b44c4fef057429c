// Tests and examples of this crate run from the build tree: give them an rpath to the
// libfeat.so that libfeat-sys linked (DEP_FEAT_LIB_DIR). Library users choose their own.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_FEAT_LIB_DIR");
    if let Ok(dir) = std::env::var("DEP_FEAT_LIB_DIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
