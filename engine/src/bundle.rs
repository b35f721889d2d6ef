//! A model bundle checked and ready to screen with.

use super::{Backend, Engine, EngineError, max_abs_diff, names, pooled};
use melanoscope_shared::formats::{FormatError, ModelFile, SignatureStatus};
use melanoscope_shared::image::{FieldRect, GridAlign, Normalization, RgbImage, TensorLayout, field_to_tensor};
use melanoscope_shared::pipeline::ExtractConfig;

/// A bundle checked and ready: its metadata and ONNX, an engine at the edge's batch, and the
/// signature status.
#[derive(Debug, Clone)]
pub struct LoadedBundle {
    pub file: ModelFile,
    pub engine: Engine,
    pub signature: SignatureStatus,
}

impl LoadedBundle {
    /// Reads `path`, checks its envelope, hash and signature (against `trusted` keys; required
    /// when `require_signature`), builds the engine for `batch` fields on `backend` (`threads`
    /// for onnxruntime's session), and runs the self-test.
    pub fn open(
        path: &std::path::Path,
        trusted: &[[u8; 32]],
        require_signature: bool,
        batch: usize,
        backend: &Backend,
        threads: usize,
    ) -> Result<Self, EngineError> {
        let (file, signature) = Self::read_checked(path, trusted, require_signature)?;
        let engine = Engine::open(&file.onnx, batch.max(1), file.meta.input_size as usize, backend, threads)?;
        let loaded = LoadedBundle { file, engine, signature };
        loaded.self_test()?;
        Ok(loaded)
    }

    /// Reads `path` and checks its envelope, hash and signature, without building an engine
    /// (for trying several engines on one bundle).
    pub fn read_checked(
        path: &std::path::Path,
        trusted: &[[u8; 32]],
        require_signature: bool,
    ) -> Result<(ModelFile, SignatureStatus), EngineError> {
        let bundle = |source: FormatError| EngineError::Bundle { path: path.display().to_string(), source };
        let bytes =
            std::fs::read(path).map_err(|source| EngineError::Read { path: path.display().to_string(), source })?;
        let file = ModelFile::decode(&bytes).map_err(bundle)?;
        let signature = file.verify_signature(trusted, require_signature).map_err(bundle)?;
        Ok((file, signature))
    }

    pub fn normalization(&self) -> Normalization {
        Normalization { mean: self.file.meta.mean, std: self.file.meta.std }
    }

    /// How camera frames are cut into this model's fields: the study's rules at the bundle's
    /// µm/px, field size and normalisation, on a centred grid (camera frames are vignetted at
    /// the borders).
    pub fn extract_config(&self) -> ExtractConfig {
        let mut config = ExtractConfig::study(self.file.meta.um_per_px);
        config.field_size = self.file.meta.input_size;
        config.normalization = self.normalization();
        config.align = GridAlign::Centered;
        config
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
