//! A model bundle checked and ready to screen with.

use super::{Backend, Engine, EngineError, max_abs_diff, names, pooled};
use melanoscope_shared::formats::{Form, FormatError, ModelFile, ModelIdentity, SignatureStatus, sha256};
use melanoscope_shared::image::{FieldRect, GridAlign, Normalization, RgbImage, TensorLayout, field_to_tensor};
use melanoscope_shared::pipeline::ExtractConfig;

/// A bundle file read, decoded and its signature checked: every form, not yet run.
#[derive(Debug, Clone)]
pub struct CheckedBundle {
    pub file: ModelFile,
    pub signature: SignatureStatus,
    pub identity: ModelIdentity,
}

/// What a bundle is run on: the runtime, fields per run, threads, and which of the bundle's
/// forms (`None`: its first).
#[derive(Debug, Clone, PartialEq)]
pub struct RunChoice {
    pub backend: Backend,
    pub batch: usize,
    pub threads: usize,
    pub form: Option<Form>,
}

/// A bundle checked and ready: its metadata and ONNX (of the form chosen), an engine at the
/// edge's batch, and the signature status.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    /// The bundle as the chosen form alone.
    pub file: ModelFile,
    /// Which bundle file, and who signed it (for every record screened with it).
    pub identity: ModelIdentity,
    /// Every form the bundle holds, the first first.
    pub forms: Vec<Form>,
    pub engine: Engine,
    pub signature: SignatureStatus,
}

/// How camera frames are cut into a model's fields: the study's rules at the model's µm/px,
/// field size and normalisation, on a centred grid (camera frames are vignetted at the
/// borders). The edge screens with it, and the trainer chooses frame thresholds with it.
pub fn frame_extract_config(um_per_px: f64, field_size: u32, normalization: Normalization) -> ExtractConfig {
    let mut config = ExtractConfig::study(um_per_px);
    config.field_size = field_size;
    config.normalization = normalization;
    config.align = GridAlign::Centered;
    config
}

impl LoadedBundle {
    /// Reads `path`, checks its envelope, hashes and signature (against `trusted` keys;
    /// required when `require_signature`), keeps the form `run` names, builds the engine for
    /// its batch on its backend (its threads for onnxruntime's session), and runs the self-test.
    pub fn open(
        path: &std::path::Path,
        trusted: &[[u8; 32]],
        require_signature: bool,
        run: &RunChoice,
    ) -> Result<Self, EngineError> {
        let CheckedBundle { file, signature, identity } = Self::read_checked(path, trusted, require_signature)?;
        let forms = file.forms();
        let file = file
            .into_form(run.form)
            .map_err(|source| EngineError::Bundle { path: path.display().to_string(), error: source })?;
        let side = file.meta.input_size as usize;
        let engine = Engine::open(&file.onnx, run.batch.max(1), side, &run.backend, run.threads)?;
        let loaded = LoadedBundle { file, identity, forms, engine, signature };
        loaded.self_test()?;
        Ok(loaded)
    }

    /// Reads `path` and checks its envelope, hash and signature, without building an engine
    /// (for trying several engines on one bundle).
    pub fn read_checked(
        path: &std::path::Path,
        trusted: &[[u8; 32]],
        require_signature: bool,
    ) -> Result<CheckedBundle, EngineError> {
        let bundle = |source: FormatError| EngineError::Bundle { path: path.display().to_string(), error: source };
        let bytes = melanoscope_shared::bounded::read_bounded(path, melanoscope_shared::bounded::MAX_BUNDLE_BYTES)
            .map_err(|e| EngineError::Read { path: path.display().to_string(), source: e.into_io() })?;
        let file = ModelFile::decode(&bytes).map_err(bundle)?;
        let signature = file.verify_signature(trusted, require_signature).map_err(bundle)?;
        let signer = match signature {
            SignatureStatus::Trusted(_) => file.signature.as_ref().map(|s| s.public_key),
            SignatureStatus::Unsigned => None,
        };
        Ok(CheckedBundle { file, signature, identity: ModelIdentity { bundle_sha256: sha256(&bytes), signer } })
    }

    pub fn normalization(&self) -> Normalization {
        Normalization { mean: self.file.meta.mean, std: self.file.meta.std }
    }

    /// How camera frames are cut into this model's fields ([`frame_extract_config`]).
    pub fn extract_config(&self) -> ExtractConfig {
        frame_extract_config(self.file.meta.um_per_px, self.file.meta.input_size, self.normalization())
    }

    /// Runs every reference field and compares logits and pooled features with what the
    /// exporter recorded.
    pub fn self_test(&self) -> Result<(), EngineError> {
        check_references(&self.file, &self.engine, &reference_batches(&self.file, self.engine.batch)?)
    }
}

/// The bundle's reference fields, normalised, in NCHW batches of `batch` (the last padded
/// with zeros): what the self-test runs, and what `tune` times.
pub fn reference_batches(file: &ModelFile, batch: usize) -> Result<Vec<Vec<f32>>, EngineError> {
    let side = file.meta.input_size as usize;
    let per = 3 * side * side;
    let norm = Normalization { mean: file.meta.mean, std: file.meta.std };
    let batch = batch.max(1);
    file.references
        .chunks(batch)
        .enumerate()
        .map(|(k, chunk)| {
            let mut input = vec![0f32; batch * per];
            for (i, r) in chunk.iter().enumerate() {
                let reference = |source| EngineError::Reference { field: k * batch + i, side, source };
                let img = RgbImage::from_raw(side as u32, side as u32, r.rgb.clone()).map_err(reference)?;
                field_to_tensor(
                    &img,
                    FieldRect::square(0, 0, side as u32),
                    &norm,
                    TensorLayout::Nchw,
                    &mut input[i * per..(i + 1) * per],
                )
                .map_err(reference)?;
            }
            Ok(input)
        })
        .collect()
}

/// Runs every reference field of `file` on `engine` (`batches`: [`reference_batches`] at the
/// engine's batch) and compares logits and pooled features with what the exporter recorded,
/// within each reference's tolerance.
pub fn check_references(file: &ModelFile, engine: &Engine, batches: &[Vec<f32>]) -> Result<(), EngineError> {
    let classes = file.meta.classes.len();
    let mut out = crate::Outputs::default();
    for (k, input) in batches.iter().enumerate() {
        engine.run_into(input, &mut out)?;
        let [c, h, w] = out.feature_shape;
        let chunk = file.references.iter().skip(k * engine.batch).take(engine.batch);
        for (i, r) in chunk.enumerate() {
            let field = k * engine.batch + i;
            let logits = out.logits.get(i * classes..(i + 1) * classes).unwrap_or_default();
            let means = pooled(out.features.get(i * c * h * w..(i + 1) * c * h * w).unwrap_or_default(), c);
            for (output, got, want) in [
                (names::LOGITS, logits, r.logits.as_slice()),
                (names::FEATURES, &means[..], r.feature_means.as_slice()),
            ] {
                let diff = max_abs_diff(got, want);
                if got.len() != want.len() || diff > r.tolerance {
                    return Err(EngineError::SelfTest { field, output, diff, tolerance: r.tolerance });
                }
            }
        }
    }
    Ok(())
}
