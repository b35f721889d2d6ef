//! One module per command (or a few related ones): each turns its arguments into library calls.
//! The slide commands (`patch`, `import-patches`, `split`) are `melanoscope_slides::cli`'s.

pub mod args;
pub mod bench;
pub mod bench_export;
pub mod bench_patch;
pub mod colour_baseline;
pub mod experiment;
pub mod explain;
pub mod export;
pub mod merge;
pub mod ood;
pub mod report;
pub mod synth;
pub mod train;

use anyhow::{Result, anyhow};
use melanoscope_engine::{Backend, onnxruntime_wheel_library};

/// The onnxruntime backend an `--onnxruntime-lib` argument names: `none` is no backend, else a
/// path; by default the onnxruntime wheel's library in $VIRTUAL_ENV, else in .venv. The error
/// says where it looked when there is none.
pub fn onnxruntime_arg(arg: Option<&str>) -> Result<Option<Backend>> {
    match arg {
        Some("none") => Ok(None),
        Some(path) => Ok(Some(Backend::OnnxRuntime { library: path.into() })),
        None => {
            let venv = std::env::var_os("VIRTUAL_ENV").map_or_else(|| std::path::PathBuf::from(".venv"), Into::into);
            onnxruntime_wheel_library(&venv)
                .map(|library| Some(Backend::OnnxRuntime { library }))
                .ok_or_else(|| anyhow!("no onnxruntime library in {}", venv.display()))
        }
    }
}
