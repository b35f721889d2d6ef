//! `tune` on a tiny bundle: the table (one form, onnxruntime skipped with its reason), a
//! combination failing its self-test never chosen, the choice written into the site file and
//! used by `backend = "auto"`, a choice from another CPU refused with the command to re-tune,
//! and a read-only site file left as it was; on a bundle of three forms, every form timed or
//! skipped with its reason, and `auto` screening with the form chosen.

use melanoscope_edge::config::{BackendSetting, EdgeConfig, TunedChoice, update_tuned};
use melanoscope_edge::screen::setup::{SetupError, open_bundle};
use melanoscope_edge::tune::{TIE, TunePlan, cpu_fingerprint, tune};
use melanoscope_engine::{Backend, LoadedBundle};
use melanoscope_shared::formats::BackendKind;
use melanoscope_shared::formats::{Form, ModelFile, Quantization};
use melanoscope_shared::image::Normalization;
use melanoscope_shared::run_files::tune::RowStatus;
use melanoscope_shared::scratch::ScratchDir;
use melanoscope_tests::scenes::write_bundle;
use melanoscope_tests::tiny_model::{other_form, tiny_onnx};
use std::path::Path;

fn plan(backends: Vec<Result<Backend, (BackendKind, String)>>) -> TunePlan {
    TunePlan { backends, batches: vec![1, 2], threads: vec![1, 2], runs: 1 }
}

fn write_site(dir: &Path, bundle: &Path) -> std::path::PathBuf {
    let site = dir.join("site.toml");
    std::fs::write(&site, format!("[model]\nbundle = {:?}\n", bundle.display().to_string())).unwrap();
    site
}

fn tuned_from(report: &melanoscope_shared::run_files::tune::TuneReport, dir: &Path) -> TunedChoice {
    let best = report.choice().expect("a choice");
    TunedChoice {
        backend: best.backend,
        onnxruntime_library: String::new(),
        batch: best.batch,
        threads: best.threads,
        form: best.form,
        ms_per_field: best.ms_per_field.unwrap(),
        cpu: report.cpu.clone(),
        onnx_sha256: report.onnx_sha256.clone(),
        report: dir.join("tune.json").display().to_string(),
    }
}

/// The tiny bundle with an "int8" form (a differently fitted tiny graph stands in for it) and
/// an "f16" form, written as `forms.mscm`.
fn three_forms(dir: &Path) -> (ModelFile, std::path::PathBuf) {
    let mut file = LoadedBundle::read_checked(&write_bundle(dir), &[], false).unwrap().file;
    let int8 = Quantization::Int8 { calibration: "test".into(), samples: 2 };
    file.forms.push(other_form(&file, int8, tiny_onnx(&Normalization::IMAGENET, 2.0, 0.2)));
    let f16_graph = file.onnx.clone();
    file.forms.push(other_form(&file, Quantization::F16, f16_graph));
    let path = dir.join("forms.mscm");
    std::fs::write(&path, file.encode().unwrap()).unwrap();
    (file, path)
}

#[test]
fn tune_times_what_passes_and_auto_screens_with_the_choice() {
    let dir = ScratchDir::new("e2e-tune");
    let bundle = write_bundle(&dir);
    let file = LoadedBundle::read_checked(&bundle, &[], false).unwrap().file;
    let no_ort = Err((BackendKind::Onnxruntime, "no onnxruntime library found".to_string()));
    let report = tune(&file, &plan(vec![Ok(Backend::Tract), no_ort]), |_| {});
    assert_eq!(report.forms, [Form::F32], "a bundle with one form reports one form");
    assert_eq!(report.rows.len(), 5, "{:#?}", report.rows);
    let skipped: Vec<_> = report.rows.iter().filter(|r| r.status == RowStatus::Skipped).collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].backend, BackendKind::Onnxruntime);
    assert!(skipped[0].reason.as_deref().is_some_and(|r| r.contains("no onnxruntime library")));
    let passed: Vec<_> = report.rows.iter().filter(|r| r.status == RowStatus::Passed).collect();
    assert_eq!(passed.len(), 4, "tract at batches 1, 2 x threads 1, 2");
    let best = report.choice().expect("a choice");
    let fastest = passed.iter().filter_map(|r| r.ms_per_field).fold(f64::INFINITY, f64::min);
    let tied: Vec<_> = passed.iter().filter(|r| r.ms_per_field.is_some_and(|m| m <= fastest * (1.0 + TIE))).collect();
    assert!(tied.iter().any(|r| ***r == *best), "the choice is within {TIE} of the fastest passing row");
    assert!(
        tied.iter().all(|r| (best.batch, best.threads) <= (r.batch, r.threads)),
        "of rows as fast, the smallest batch and then the fewest threads is chosen"
    );
    assert!(passed.iter().all(|r| r.ms_per_field.is_some_and(|m| m > 0.0) && r.ms_per_batch.is_some()));

    // Written into the site file; `auto` screens with it.
    let site = write_site(&dir, &bundle);
    let tuned = tuned_from(&report, &dir);
    update_tuned(&site, &tuned).unwrap();
    let cfg = EdgeConfig::load(Some(&site)).unwrap();
    assert_eq!(cfg.model.backend, BackendSetting::Auto);
    assert_eq!(cfg.model.tuned.as_ref(), Some(&tuned), "the site file keeps the choice as written");
    let choice = cfg.model.run_choice().unwrap();
    assert_eq!((choice.backend, choice.batch, choice.threads), (Backend::Tract, best.batch, best.threads));
    let loaded = open_bundle(&cfg.model).unwrap();
    assert_eq!(loaded.engine.batch, best.batch);

    // A site file copied from another board: refused at start, with the command to re-tune.
    let elsewhere = TunedChoice { cpu: "aarch64 0x41/0xd08 []".into(), ..tuned.clone() };
    assert_ne!(elsewhere.cpu, cpu_fingerprint());
    update_tuned(&site, &elsewhere).unwrap();
    let cfg = EdgeConfig::load(Some(&site)).unwrap();
    let err = open_bundle(&cfg.model).unwrap_err();
    assert!(matches!(err, SetupError::TunedElsewhere { .. }), "{err}");
    assert!(err.to_string().contains("melanoscope-edge tune --config"), "{err}");

    // Untuned `auto`: tract at batch 1, whatever model.batch says.
    let plain = EdgeConfig::from_texts(Some(("site.toml", "[model]\nbatch = 4\n"))).unwrap();
    let choice = plain.model.run_choice().unwrap();
    assert_eq!((choice.backend, choice.batch), (Backend::Tract, 1));
}

/// A combination whose self-test fails is in the table with the reason and never chosen.
#[test]
fn a_broken_tolerance_fails_every_row_and_nothing_is_chosen() {
    let dir = ScratchDir::new("e2e-tune-broken");
    let bundle = write_bundle(&dir);
    let mut file = LoadedBundle::read_checked(&bundle, &[], false).unwrap().file;
    file.references.iter_mut().for_each(|r| r.tolerance = -1.0);
    let report = tune(&file, &plan(vec![Ok(Backend::Tract)]), |_| {});
    assert_eq!(report.rows.len(), 4);
    for row in &report.rows {
        assert_eq!(row.status, RowStatus::Failed, "{row:?}");
        assert!(row.reason.as_deref().is_some_and(|r| r.contains("self-test failed")), "{row:?}");
        assert_eq!(row.ms_per_field, None);
    }
    assert_eq!(report.chosen, None);
}

#[test]
fn a_read_only_site_file_is_named_and_left_as_it_was() {
    use std::os::unix::fs::PermissionsExt;
    let dir = ScratchDir::new("e2e-tune-readonly");
    let site = write_site(&dir, &dir.join("model.mscm"));
    let before = std::fs::read(&site).unwrap();
    std::fs::set_permissions(&site, std::fs::Permissions::from_mode(0o444)).unwrap();
    let tuned = TunedChoice {
        backend: BackendKind::Tract,
        onnxruntime_library: String::new(),
        batch: 1,
        threads: 2,
        form: Form::F32,
        ms_per_field: 10.0,
        cpu: cpu_fingerprint(),
        onnx_sha256: "00".into(),
        report: String::new(),
    };
    let err = melanoscope_shared::errors::error_chain(&update_tuned(&site, &tuned).unwrap_err());
    assert!(err.contains("site.toml") && err.contains("read-only"), "{err}");
    assert_eq!(std::fs::read(&site).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().filter(|e| e.path() != site).collect();
    assert!(leftovers.is_empty(), "nothing half-written beside it: {leftovers:?}");
}

#[test]
fn every_form_is_timed_or_skipped_and_auto_screens_with_the_form_chosen() {
    let dir = ScratchDir::new("e2e-tune-forms");
    let (file, bundle) = three_forms(&dir);
    let report = tune(&file, &plan(vec![Ok(Backend::Tract)]), |_| {});
    assert_eq!(report.forms, [Form::F32, Form::Int8, Form::F16]);
    let of = |form: Form| report.rows.iter().filter(|r| r.form == form).collect::<Vec<_>>();
    assert_eq!(of(Form::F32).len(), 4);
    assert_eq!(of(Form::Int8).len(), 4);
    assert!(of(Form::F32).iter().chain(&of(Form::Int8)).all(|r| r.status == RowStatus::Passed), "{:#?}", report.rows);
    if std::env::consts::ARCH == "x86_64" {
        // x86 has no half-precision arithmetic: f16 is skipped with the reason, not timed.
        let f16 = of(Form::F16);
        assert_eq!(f16.len(), 1, "{f16:#?}");
        assert_eq!(f16[0].status, RowStatus::Skipped);
        assert!(f16[0].reason.as_deref().is_some_and(|r| r.contains("half-precision")), "{f16:?}");
    }
    let best = report.choice().expect("a choice").clone();
    let chosen = file.form(Some(best.form)).unwrap();
    assert_eq!(report.onnx_sha256, melanoscope_shared::formats::hex(&chosen.meta.onnx_sha256));

    // `auto` opens the form tune chose, and self-tests it against that form's outputs.
    let site = write_site(&dir, &bundle);
    update_tuned(&site, &tuned_from(&report, &dir)).unwrap();
    let cfg = EdgeConfig::load(Some(&site)).unwrap();
    assert_eq!(cfg.model.run_choice().unwrap().form, Some(best.form));
    let loaded = open_bundle(&cfg.model).unwrap();
    assert_eq!(loaded.file.meta.quantization.form(), best.form);
    assert_eq!(loaded.file.onnx, chosen.onnx);
    assert_eq!(loaded.forms, [Form::F32, Form::Int8, Form::F16]);

    // A named backend runs model.form; a form the bundle lacks is refused naming those it has.
    let named = |form: &str| {
        let text =
            format!("[model]\nbundle = {:?}\nbackend = \"tract\"\nform = \"{form}\"\n", bundle.display().to_string());
        EdgeConfig::from_texts(Some(("site.toml", &text))).unwrap().model
    };
    assert_eq!(open_bundle(&named("int8")).unwrap().file.meta.quantization.form(), Form::Int8);
    assert_eq!(open_bundle(&named("")).unwrap().file.meta.quantization.form(), Form::F32);
    let mut one = file.clone();
    one.forms.truncate(1);
    let path = dir.join("two.mscm");
    std::fs::write(&path, one.encode().unwrap()).unwrap();
    let mut model = named("f16");
    model.bundle = path;
    let err = open_bundle(&model).unwrap_err().to_string();
    assert!(err.contains("no form \"f16\"") && err.contains("f32, int8"), "{err}");
    let bad = EdgeConfig::from_texts(Some(("site.toml", "[model]\nform = \"int4\"\n"))).unwrap_err().to_string();
    assert!(bad.contains("model.form") && bad.contains("int4"), "{bad}");
}

/// One form failing its self-test leaves it out of the choice; the others are still timed.
#[test]
fn a_form_failing_its_self_test_is_never_chosen() {
    let dir = ScratchDir::new("e2e-tune-forms-broken");
    let (mut file, _) = three_forms(&dir);
    file.forms[0].references.iter_mut().for_each(|r| r.logits.iter_mut().for_each(|l| *l += 5.0));
    let report = tune(&file, &plan(vec![Ok(Backend::Tract)]), |_| {});
    let int8: Vec<_> = report.rows.iter().filter(|r| r.form == Form::Int8).collect();
    assert!(
        int8.iter()
            .all(|r| r.status == RowStatus::Failed && r.reason.as_deref().is_some_and(|w| w.contains("self-test")))
    );
    assert_eq!(report.choice().map(|r| r.form), Some(Form::F32));
}
