//! The trainer binary must keep libtorch_cuda.so as a dependency, or tch silently runs on the
//! CPU of a GPU machine (see build.rs). Checked with `ldd`, as the deployment would.

use std::path::Path;
use std::process::Command;

#[test]
fn binary_links_libtorch_cuda_when_torch_has_it() {
    let torch_lib = Path::new(env!("MELANOSCOPE_TORCH_LIB"));
    assert!(torch_lib.join("libtorch_cpu.so").exists(), "no libtorch in {}", torch_lib.display());
    let out = Command::new("ldd").arg(env!("CARGO_BIN_EXE_melanoscope-train")).output().expect("ldd runs");
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("libtorch_cpu.so"), "{listing}");
    assert!(
        torch_lib.join("libtorch_cuda.so").exists(),
        "the project's torch ({}) is a CPU-only build; the trainer must be built against the CUDA wheel",
        torch_lib.display()
    );
    assert!(listing.contains("libtorch_cuda.so"), "libtorch_cuda.so was dropped by the linker:\n{listing}");
}

#[test]
fn info_reports_devices_as_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_melanoscope-train")).arg("info").output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"cuda_available\"") && text.contains("\"chosen\""), "{text}");
}
