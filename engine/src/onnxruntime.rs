//! The onnxruntime runtime, through the `ort` crate with its library loaded at run time (no
//! download or link at build time: the board image, or the trainer's venv, provides
//! `libonnxruntime.so`). Without the `onnxruntime` feature the type still exists and every
//! attempt to open a session says which feature is missing.

#[cfg(feature = "onnxruntime")]
pub use with_feature::{COMPILED_IN, OrtSession};
#[cfg(not(feature = "onnxruntime"))]
pub use without_feature::{COMPILED_IN, OrtSession};

#[cfg(not(feature = "onnxruntime"))]
mod without_feature {
    use crate::{EngineError, Outputs};
    use std::path::Path;

    pub const COMPILED_IN: bool = false;

    /// Never constructed: [`OrtSession::new`] refuses.
    #[derive(Debug, Clone)]
    pub enum OrtSession {}

    impl OrtSession {
        pub fn new(library: &Path, _onnx: &[u8], _threads: usize) -> Result<Self, EngineError> {
            Err(EngineError::Backend(format!(
                "backend onnxruntime ({}) is not in this build: rebuild melanoscope-edge with \
                 `--features onnxruntime`, or use backend tract",
                library.display()
            )))
        }

        pub fn output_names(&self) -> &[String] {
            match *self {}
        }

        pub fn run_into(&self, _shape: [usize; 4], _input: &[f32], _out: &mut Outputs) -> Result<(), EngineError> {
            match *self {}
        }
    }
}

#[cfg(feature = "onnxruntime")]
mod with_feature {
    use crate::{EngineError, Outputs, names};
    use ort::environment::Environment;
    use ort::session::Session;
    use ort::session::builder::GraphOptimizationLevel;
    use ort::value::TensorRef;
    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex, OnceLock};

    pub const COMPILED_IN: bool = true;

    /// The library this process loaded and its environment: one per process (a library
    /// cannot be unloaded or swapped, and onnxruntime allows one environment).
    static LOADED: OnceLock<(PathBuf, Environment)> = OnceLock::new();
    static LOADING: Mutex<()> = Mutex::new(());

    fn environment(library: &Path) -> Result<&'static Environment, EngineError> {
        let _one_at_a_time = LOADING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((loaded, env)) = LOADED.get() {
            return if loaded == library {
                Ok(env)
            } else {
                Err(EngineError::Backend(format!(
                    "onnxruntime is already loaded from {} in this process; cannot also load {}",
                    loaded.display(),
                    library.display()
                )))
            };
        }
        if !library.is_file() {
            return Err(EngineError::Backend(format!(
                "onnxruntime library {} does not exist (expected libonnxruntime.so, e.g. from the onnxruntime \
                 wheel's onnxruntime/capi/ folder)",
                library.display()
            )));
        }
        let library_name = library.display().to_string();
        let env = ort::init_from(library)
            .map_err(|e| EngineError::OnnxRuntimeLibrary { library: library_name.clone(), source: e.into() })?
            .with_name("melanoscope")
            .build()
            .map_err(|e| EngineError::OnnxRuntimeLibrary { library: library_name, source: e.into() })?;
        Ok(&LOADED.get_or_init(|| (library.to_path_buf(), env)).1)
    }

    /// A session builder's error hands the builder back; only the error is kept.
    fn load_error<R>(e: ort::Error<R>) -> EngineError
    where
        ort::Error: From<ort::Error<R>>,
    {
        EngineError::Load { runtime: "onnxruntime", source: ort::Error::from(e).into() }
    }

    /// A session (onnxruntime runs one call at a time per session here; runs take `&mut`).
    #[derive(Clone)]
    pub struct OrtSession {
        session: Arc<Mutex<Session>>,
        names: Vec<String>,
    }

    impl std::fmt::Debug for OrtSession {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("OrtSession").field("outputs", &self.names).finish_non_exhaustive()
        }
    }

    impl OrtSession {
        pub fn new(library: &Path, onnx: &[u8], threads: usize) -> Result<Self, EngineError> {
            let env = environment(library)?;
            let mut builder = Session::builder(env)
                .map_err(load_error)?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(load_error)?;
            if threads > 0 {
                // Spinning threads would steal the cores the camera and preprocessing need.
                builder = builder
                    .with_intra_threads(threads)
                    .map_err(load_error)?
                    .with_intra_op_spinning(false)
                    .map_err(load_error)?;
            }
            let session = builder.commit_from_memory(onnx).map_err(load_error)?;
            let names = session.outputs().iter().map(|o| o.name().to_string()).collect();
            Ok(OrtSession { session: Arc::new(Mutex::new(session)), names })
        }

        pub fn output_names(&self) -> &[String] {
            &self.names
        }

        /// Every output, in the graph's order, into `out`.
        pub fn run_into(&self, shape: [usize; 4], input: &[f32], out: &mut Outputs) -> Result<(), EngineError> {
            let run = |e: ort::Error| EngineError::Run { runtime: "onnxruntime", source: e.into() };
            let x = TensorRef::from_array_view((shape, input)).map_err(run)?;
            let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
            let outputs = session.run(ort::inputs![names::INPUT => x]).map_err(run)?;
            out.begin();
            let mut dims = Vec::with_capacity(4);
            for (i, name) in self.names.iter().enumerate() {
                let value = outputs
                    .get(name.as_str())
                    .ok_or_else(|| EngineError::Outputs(format!("onnxruntime returned no output {name:?}")))?;
                let (shape, data) = value.try_extract_tensor::<f32>().map_err(run)?;
                dims.clear();
                dims.extend(shape.iter().map(|d| usize::try_from(*d).unwrap_or(0)));
                out.put(i, name, &dims, data)?;
            }
            out.finish()
        }
    }
}
