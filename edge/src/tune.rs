//! Choosing the form, runtime, batch and threads on the device itself: every form of the
//! bundle × every runtime available × every batch × every thread count first reproduces that
//! form's reference outputs (its self-test), then is timed on them; the fastest that passed is
//! the choice `backend = "auto"` screens with. A form the CPU cannot run fast (f16 without
//! half-precision arithmetic, which tract emulates at minutes a field) is skipped with the
//! reason instead of timed.

use melanoscope_engine::{Backend, Engine, EngineError, Outputs, check_references, reference_batches};
use melanoscope_shared::formats::BackendKind;
use melanoscope_shared::formats::{Form, ModelFile, hex};
use melanoscope_shared::run_files::tune::{RowStatus, TuneReport, TuneRow};
use std::time::Instant;

/// The CPU as /proc/cpuinfo describes it, reduced to what decides which kernels run: the
/// architecture, the model name (x86) or implementer and part (ARM), and the SIMD features
/// the runtimes dispatch on. Two boards of one model give the same string.
pub fn cpu_fingerprint() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    fingerprint_of(std::env::consts::ARCH, &info)
}

/// The features the runtimes' kernels dispatch on, as /proc/cpuinfo spells them.
const FEATURES: [&str; 9] = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "asimdhp", "asimddp", "sve", "neon"];

fn fingerprint_of(arch: &str, cpuinfo: &str) -> String {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    let model = field("model name")
        .or_else(|| Some(format!("{}/{}", field("CPU implementer")?, field("CPU part")?)))
        .unwrap_or_else(|| "unknown".into());
    let flags = field("flags").or_else(|| field("Features")).unwrap_or_default();
    let present: Vec<&str> = FEATURES.into_iter().filter(|f| flags.split_whitespace().any(|x| x == *f)).collect();
    format!("{arch} {model} [{}]", present.join(" "))
}

/// Why `form` is not timed on this CPU (`fingerprint` from [`cpu_fingerprint`]), if it is not.
pub fn form_refused(form: Form, fingerprint: &str) -> Option<String> {
    let has = |f: &str| fingerprint.contains(&format!("[{f}")) || fingerprint.contains(&format!(" {f}"));
    match form {
        Form::F16 if !fingerprint.starts_with("aarch64") => Some(
            "f16: this CPU has no half-precision arithmetic; tract emulates it (minutes a field), so it is not timed"
                .into(),
        ),
        Form::F16 if !has("asimdhp") => Some(
            "f16: this core lacks half-precision arithmetic (no asimdhp in /proc/cpuinfo; e.g. Cortex-A72/A57); \
             tract would emulate it"
                .into(),
        ),
        _ => None,
    }
}

/// Relative difference in ms per field below which two combinations count as equally fast.
pub const TIE: f64 = 0.03;

/// What to try.
#[derive(Debug, Clone)]
pub struct TunePlan {
    /// Each runtime to try, or why it cannot be (e.g. no onnxruntime library found).
    pub backends: Vec<Result<Backend, (BackendKind, String)>>,
    pub batches: Vec<usize>,
    pub threads: Vec<usize>,
    /// Timed passes over the reference fields (the median counts), after one warm-up pass.
    pub runs: usize,
}

/// Self-tests, then times, one engine on the reference fields.
fn measure(file: &ModelFile, engine: &Engine, runs: usize) -> Result<(f64, f64), EngineError> {
    let batches = reference_batches(file, engine.batch)?;
    check_references(file, engine, &batches)?;
    let mut out = Outputs::default();
    let mut per_batch = Vec::with_capacity(runs);
    for pass in 0..=runs.max(1) {
        let t = Instant::now();
        for input in &batches {
            engine.run_into(input, &mut out)?;
        }
        if pass > 0 {
            per_batch.push(t.elapsed().as_secs_f64() * 1e3 / batches.len().max(1) as f64);
        }
    }
    let ms = melanoscope_shared::metrics::median(&per_batch).unwrap_or(f64::NAN);
    Ok((ms, ms / engine.batch as f64))
}

/// Runs the plan on every form of `file` (already read and its signature checked), calling
/// `progress` after each row.
pub fn tune(file: &ModelFile, plan: &TunePlan, mut progress: impl FnMut(&TuneRow)) -> TuneReport {
    let cpu = cpu_fingerprint();
    let side = file.meta.input_size as usize;
    let mut rows = Vec::new();
    let mut hashes = Vec::new();
    let mut push = |row: TuneRow, rows: &mut Vec<TuneRow>| {
        progress(&row);
        rows.push(row);
    };
    for name in file.forms() {
        let row = |backend, batch, threads, status, reason: Option<String>, ms: Option<(f64, f64)>| TuneRow {
            backend,
            form: name,
            batch,
            threads,
            status,
            reason,
            ms_per_batch: ms.map(|m| m.0),
            ms_per_field: ms.map(|m| m.1),
        };
        let form = match file.form(Some(name)) {
            Ok(f) => f,
            Err(e) => {
                push(
                    row(
                        BackendKind::Tract,
                        0,
                        0,
                        RowStatus::Failed,
                        Some(melanoscope_shared::errors::error_chain(&e)),
                        None,
                    ),
                    &mut rows,
                );
                continue;
            }
        };
        hashes.push((name, hex(&form.meta.onnx_sha256)));
        for backend in &plan.backends {
            let backend = match backend {
                Ok(b) => b,
                Err((kind, why)) => {
                    push(row(*kind, 0, 0, RowStatus::Skipped, Some(why.clone()), None), &mut rows);
                    continue;
                }
            };
            if let Some(why) = form_refused(name, &cpu) {
                push(row(backend.kind(), 0, 0, RowStatus::Skipped, Some(why), None), &mut rows);
                continue;
            }
            for &batch in &plan.batches {
                // tract's plan depends on the batch only (its threads are process-wide), so one
                // plan serves every thread count; onnxruntime takes threads per session.
                // A plan that fails to open fails every thread count's row with its reason.
                let mut tract_engine: Option<Result<Engine, String>> = None;
                for &threads in &plan.threads {
                    melanoscope_engine::set_threads(threads);
                    let engine = match backend {
                        Backend::Tract => tract_engine
                            .get_or_insert_with(|| {
                                Engine::open(&form.onnx, batch, side, backend, 1).map_err(|e| e.to_string())
                            })
                            .clone(),
                        Backend::OnnxRuntime { .. } => {
                            Engine::open(&form.onnx, batch, side, backend, threads).map_err(|e| e.to_string())
                        }
                    };
                    let outcome = engine.and_then(|e| {
                        measure(&form, &e, plan.runs).map_err(|e| melanoscope_shared::errors::error_chain(&e))
                    });
                    let r = match outcome {
                        Ok(ms) => row(backend.kind(), batch, threads, RowStatus::Passed, None, Some(ms)),
                        Err(why) => row(backend.kind(), batch, threads, RowStatus::Failed, Some(why), None),
                    };
                    push(r, &mut rows);
                }
            }
        }
    }
    let chosen = choose(&rows);
    let chosen_form = chosen.and_then(|i| rows.get(i)).map_or(file.meta.quantization.form(), |r| r.form);
    let onnx_sha256 =
        hashes.iter().find(|(n, _)| *n == chosen_form).map_or_else(|| hex(&file.meta.onnx_sha256), |(_, h)| h.clone());
    TuneReport { cpu, onnx_sha256, forms: file.forms(), reference_fields: file.references.len(), rows, chosen }
}

/// The fastest passing row, where rows within [`TIE`] of it count as equally fast: of those,
/// the smallest batch (a frame's short last batch is padded to a whole one), then the fewest
/// threads (cores left to the camera, preprocessing and display), then the first form (the
/// exporter's reference, f32).
fn choose(rows: &[TuneRow]) -> Option<usize> {
    let fastest = rows
        .iter()
        .filter(|r| r.status == RowStatus::Passed)
        .filter_map(|r| r.ms_per_field)
        .fold(f64::INFINITY, f64::min);
    rows.iter()
        .enumerate()
        .filter(|(_, r)| r.status == RowStatus::Passed && r.ms_per_field.is_some_and(|m| m <= fastest * (1.0 + TIE)))
        .min_by_key(|(i, r)| (r.batch, r.threads, *i))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const X86: &str = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\n\
                       flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_vnni\n";
    const PI5: &str = "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 \
                       atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n\
                       CPU part\t: 0xd0b\n";
    const PI4: &str = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n\
                       CPU part\t: 0xd08\n";

    #[test]
    fn fingerprints_name_the_core_and_its_kernel_features() {
        assert_eq!(fingerprint_of("x86_64", X86), "x86_64 AMD EPYC 9R14 [avx2 fma avx512f avx512_vnni]");
        assert_eq!(fingerprint_of("aarch64", PI5), "aarch64 0x41/0xd0b [asimdhp asimddp]");
        assert_eq!(fingerprint_of("aarch64", PI4), "aarch64 0x41/0xd08 []");
        assert_ne!(fingerprint_of("aarch64", PI5), fingerprint_of("aarch64", PI4));
        assert_eq!(fingerprint_of("x86_64", ""), "x86_64 unknown []");
    }

    #[test]
    fn f16_is_refused_where_it_would_be_emulated() {
        let x86 = fingerprint_of("x86_64", X86);
        let (pi5, pi4) = (fingerprint_of("aarch64", PI5), fingerprint_of("aarch64", PI4));
        assert!(form_refused(Form::F16, &x86).is_some_and(|w| w.contains("emulates")));
        assert!(form_refused(Form::F16, &pi4).is_some_and(|w| w.contains("asimdhp")));
        assert_eq!(form_refused(Form::F16, &pi5), None);
        for cpu in [&x86, &pi5, &pi4] {
            assert_eq!(form_refused(Form::F32, cpu), None);
            assert_eq!(form_refused(Form::Int8, cpu), None);
        }
    }
}
