//! The command-line handlers of the commands that train, measure and explain networks (the
//! slide and patch commands stay in `main.rs`).

pub mod args;
pub mod bench;
pub mod bench_export;
pub mod experiment;
pub mod explain;
pub mod export;
pub mod train;

use melanoscope_engine::{Backend, onnxruntime_wheel_library};

/// The onnxruntime backend an `--onnxruntime-lib` argument names: `none` is no backend, else a
/// path; by default the onnxruntime wheel's library in $VIRTUAL_ENV, else in .venv. Err says
/// where it looked when there is none.
pub fn onnxruntime_arg(arg: Option<&str>) -> Result<Option<Backend>, String> {
    match arg {
        Some("none") => Ok(None),
        Some(path) => Ok(Some(Backend::OnnxRuntime { library: path.into() })),
        None => {
            let venv = std::env::var_os("VIRTUAL_ENV").map_or_else(|| std::path::PathBuf::from(".venv"), Into::into);
            onnxruntime_wheel_library(&venv)
                .map(|library| Some(Backend::OnnxRuntime { library }))
                .ok_or_else(|| format!("no onnxruntime library in {}", venv.display()))
        }
    }
}
