//! Records where OpenSlide 4 lives (the openslide-bin wheel, `scripts/env.sh`) as an rpath of
//! this crate's binary and tests, so they find it without LD_LIBRARY_PATH.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=MELANOSCOPE_OPENSLIDE_LIB");
    if let Some(dir) = std::env::var_os("MELANOSCOPE_OPENSLIDE_LIB").filter(|d| !d.is_empty()) {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", std::path::PathBuf::from(dir).display());
    }
}
