use super::onnx::export_onnx;
use crate::model::{Arch, Network, seed_torch};
use melanoscope_engine::names;
use tch::{Device, Kind, Tensor, nn::VarStore};
use tract_onnx::prelude::*;

/// A network with non-trivial BatchNorm statistics (a fresh one has mean 0, variance 1, which
/// would hide a wrong fold).
fn network(arch: Arch, classes: i64) -> (VarStore, Network) {
    let _rng = seed_torch(21);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), arch, classes);
    tch::no_grad(|| {
        for (name, mut t) in vs.variables() {
            let size = t.size();
            if name.ends_with("running_var") {
                t.copy_(&(Tensor::rand(size.as_slice(), (Kind::Float, Device::Cpu)) + 0.5));
            } else if name.ends_with("running_mean") || (name.contains("bn") && name.ends_with("bias")) {
                t.copy_(&(Tensor::randn(size.as_slice(), (Kind::Float, Device::Cpu)) * 0.1));
            } else if name.contains("bn") && name.ends_with("weight") {
                // Below 1, so fifty layers of them do not blow the activations up.
                t.copy_(&(Tensor::rand(size.as_slice(), (Kind::Float, Device::Cpu)) * 0.5 + 0.3));
            }
        }
    });
    (vs, net)
}

fn run_tract(bytes: &[u8], x: &Tensor) -> (Vec<f32>, Vec<f32>) {
    let shape: Vec<usize> = x.size().iter().map(|d| *d as usize).collect();
    let data = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
    let model = onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact(shape.clone()).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::ArrayD::from_shape_vec(shape, data).unwrap().into_tensor();
    let out = model.run(tvec!(input.into())).unwrap();
    let v = |i: usize| out[i].to_plain_array_view::<f32>().unwrap().iter().copied().collect::<Vec<f32>>();
    (v(0), v(1))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn resnet_exports_with_batchnorm_folded_and_matches_tch_in_tract() {
    for arch in [Arch::ResNet18, Arch::ResNet50] {
        let (vs, net) = network(arch, 2);
        let x = {
            let _rng = seed_torch(22);
            Tensor::randn([2, 3, 64, 64], (Kind::Float, Device::Cpu))
        };
        let out = tch::no_grad(|| net.forward_t(&x, false));
        let bytes = export_onnx(&vs, arch, 64).unwrap();
        let (logits, features) = run_tract(&bytes, &x);
        let want_l = Vec::<f32>::try_from(out.logits.flatten(0, -1)).unwrap();
        let want_f = Vec::<f32>::try_from(out.features.contiguous().flatten(0, -1)).unwrap();
        let (dl, df) = (max_diff(&logits, &want_l), max_diff(&features, &want_f));
        // Relative to the outputs' size: random BatchNorm statistics make ResNet50's
        // activations large, and f32 sums in another order differ in their last bits.
        let max = |v: &[f32]| v.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        let (sl, sf) = (max(&want_l), max(&want_f));
        assert!(
            dl <= 1e-4 * sl.max(10.0) && df <= 1e-4 * sf.max(10.0),
            "{arch}: logits differ by {dl} (max {sl}), features by {df} (max {sf})"
        );
        // Folding removed every BatchNorm.
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("BatchNormalization") && text.contains("GlobalAveragePool"));
    }
}

#[test]
fn vgg19_exports_only_where_its_pooling_is_expressible() {
    let (vs, _) = network(Arch::Vgg19, 2);
    let err = export_onnx(&vs, Arch::Vgg19, 64).unwrap_err().to_string();
    assert!(err.contains("64 px") && err.contains("224 or 256"), "{err}");
    let bytes = export_onnx(&vs, Arch::Vgg19, 256).unwrap();
    // tract reads it and infers the declared output shapes.
    let model = onnx()
        .model_for_read(&mut &bytes[..])
        .unwrap()
        .with_input_fact(0, f32::fact([1usize, 3, 256, 256]).into())
        .unwrap()
        .into_typed()
        .unwrap();
    let shapes: Vec<String> =
        model.output_outlets().unwrap().iter().map(|o| format!("{:?}", model.outlet_fact(*o).unwrap().shape)).collect();
    assert_eq!(shapes, vec!["1,2".to_string(), "1,512,16,16".to_string(), "1,2,512".to_string()]);
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused_by_name() {
    let (vs, _) = network(Arch::ResNet18, 2);
    let err = export_onnx(&vs, Arch::ResNet50, 64).unwrap_err().to_string();
    assert!(err.contains("resnet50") && err.contains("conv"), "{err}");
}

mod forms {
    use super::network;
    use crate::export::fields::FieldSet;
    use crate::export::onnx::{GraphForm, export_form};
    use crate::export::quant::{agreement, calibrate, pearson as corr};
    use crate::model::{Arch, seed_torch};
    use melanoscope_engine::{Engine, names};
    use tch::{Device, Kind, Tensor};

    /// Smooth random fields (a normalised image is spatially correlated; white noise is not
    /// what a network, or its calibration, sees).
    fn fields(n: usize, side: usize) -> FieldSet {
        let _rng = seed_torch(31);
        let x = Tensor::randn([n as i64, 3, (side / 8) as i64, (side / 8) as i64], (Kind::Float, Device::Cpu));
        let x = x.upsample_bilinear2d([side as i64, side as i64], false, None, None);
        FieldSet {
            side,
            rgb: Vec::new(),
            tensor: Vec::<f32>::try_from(x.flatten(0, -1)).unwrap(),
            classes: (0..n).map(|i| i % 2).collect(),
        }
    }

    #[test]
    fn int8_qoperator_export_runs_in_tract_and_follows_f32() {
        let (vs, _) = network(Arch::ResNet18, 2);
        let calib = fields(8, 64);
        let test = fields(6, 64);
        for per_channel in [false, true] {
            let c = calibrate(&vs, Arch::ResNet18, &calib, 99.99, per_channel).unwrap();
            assert!(c.plan.ranges.contains_key(names::INPUT) && c.plan.ranges.contains_key(names::FEATURES));
            let (int8, _) = export_form(&vs, Arch::ResNet18, 64, &GraphForm::Int8(c.plan)).unwrap();
            let text = String::from_utf8_lossy(&int8);
            assert!(text.contains("QLinearConv") && !text.contains("\"Conv\""));
            let f32_bytes = export_form(&vs, Arch::ResNet18, 64, &GraphForm::F32).unwrap().0;
            // INT8 weights are a quarter of the f32 ones (the file holds little else).
            assert!(int8.len() * 3 < f32_bytes.len(), "{} vs {}", int8.len(), f32_bytes.len());
            let (a, b) = (Engine::from_onnx(&f32_bytes, 6, 64).unwrap(), Engine::from_onnx(&int8, 6, 64).unwrap());
            let (ra, rb) = (a.run(&test.tensor).unwrap(), b.run(&test.tensor).unwrap());
            let (cl, cf) = (corr(&ra.logits, &rb.logits), corr(&ra.features, &rb.features));
            assert!(cl > 0.9 && cf > 0.9, "per_channel {per_channel}: logits r={cl}, features r={cf}");
            let single = (Engine::from_onnx(&f32_bytes, 1, 64).unwrap(), Engine::from_onnx(&int8, 1, 64).unwrap());
            let fc = Vec::<f32>::try_from(vs.variables()[names::HEAD_WEIGHT].flatten(0, -1)).unwrap();
            let agree = agreement(&single.0, &single.1, &test, 2, 1, 0.5, Some(&fc)).unwrap();
            assert!(agree.cam_correlation_mean > 0.8, "{agree:?}");
        }
    }

    #[test]
    fn f16_export_matches_f32_to_half_precision() {
        let (vs, _) = network(Arch::ResNet18, 2);
        let test = fields(2, 64);
        let (f16, _) = export_form(&vs, Arch::ResNet18, 64, &GraphForm::F16).unwrap();
        let f32_bytes = export_form(&vs, Arch::ResNet18, 64, &GraphForm::F32).unwrap().0;
        assert!(f16.len() * 10 < f32_bytes.len() * 6, "half the weight bytes");
        let (a, b) = (Engine::from_onnx(&f32_bytes, 2, 64).unwrap(), Engine::from_onnx(&f16, 2, 64).unwrap());
        let (ra, rb) = (a.run(&test.tensor).unwrap(), b.run(&test.tensor).unwrap());
        let scale = ra.features.iter().fold(1f32, |m, v| m.max(v.abs()));
        let diff = melanoscope_engine::max_abs_diff(&ra.features, &rb.features);
        assert!(diff < 2e-2 * scale, "features differ by {diff} (max {scale})");
        assert!(corr(&ra.logits, &rb.logits) > 0.999);
    }
}

#[test]
fn vgg19_grad_cam_weights_match_autograd() {
    let (vs, net) = network(Arch::Vgg19, 2);
    let x = {
        let _rng = seed_torch(23);
        Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu))
    };
    let out = net.forward_t(&x, false);
    let bytes = export_onnx(&vs, Arch::Vgg19, 224).unwrap();
    let engine = melanoscope_engine::Engine::from_onnx(&bytes, 1, 224).unwrap();
    let got = engine.run(&Vec::<f32>::try_from(x.flatten(0, -1)).unwrap()).unwrap();
    let (name, alphas) = &got.extra[0];
    assert_eq!(name, names::GRAD_CAM_WEIGHTS);
    assert_eq!(alphas.len(), 2 * 512);
    for class in 0..2i64 {
        let score = out.logits.select(1, class).sum(Kind::Float);
        let g = Tensor::run_backward(&[score], &[&out.features], true, false).pop().unwrap();
        let want = Vec::<f32>::try_from(g.mean_dim([2i64, 3].as_slice(), false, Kind::Float).flatten(0, -1)).unwrap();
        let mine = &alphas[class as usize * 512..(class as usize + 1) * 512];
        let scale = want.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        let diff = max_diff(mine, &want);
        assert!(diff < 1e-3 * scale, "class {class}: differs by {diff} (largest {scale})");
    }
    // The agreement report reads those weights for VGG's CAM: a model agrees with itself.
    let fields = crate::export::fields::FieldSet {
        side: 224,
        rgb: vec![],
        tensor: Vec::<f32>::try_from(x.flatten(0, -1)).unwrap(),
        classes: vec![1],
    };
    let same = crate::export::quant::agreement(&engine, &engine, &fields, 2, 1, 0.5, None).unwrap();
    assert_eq!((same.verdict_agreement, same.cam_correlation_mean), (1.0, 1.0), "{same:?}");
}

/// How the tests open a bundle: `backend` at `batch` fields, one thread, the form `form`.
fn run_on(
    backend: melanoscope_engine::Backend,
    batch: usize,
    form: Option<melanoscope_shared::formats::Form>,
) -> melanoscope_engine::RunChoice {
    melanoscope_engine::RunChoice { backend, batch, threads: 1, form }
}

/// A two-class ResNet18 bundle description at 64 px and two flat reference fields.
fn small_bundle_spec() -> (crate::export::bundle::BundleSpec, [melanoscope_shared::image::RgbImage; 2]) {
    use crate::export::bundle::{BundleSpec, default_decision};
    use melanoscope_shared::formats::Quantization;
    use melanoscope_shared::image::{Normalization, RgbImage};
    let spec = BundleSpec {
        arch: Arch::ResNet18,
        task: "mm-vs-nevi".into(),
        classes: vec!["nevus".into(), "MM".into()],
        side: 64,
        um_per_px: 0.25,
        normalization: Normalization::IMAGENET,
        decision: default_decision(1, 0.1),
        frame_choice: None,
        familiarity: None,
        validation: vec![],
        quantization: Quantization::F32,
    };
    let refs = [RgbImage::filled(64, 64, [200, 120, 170]).unwrap(), RgbImage::filled(64, 64, [90, 40, 120]).unwrap()];
    (spec, refs)
}

/// The edge opens what the trainer bundles: self-test passes; a changed reference output is
/// refused by the self-test; a required signature is enforced.
#[test]
fn bundles_open_on_the_edge_with_self_test_and_signatures() {
    use crate::export::bundle::make_bundle;
    use melanoscope_engine::{Backend, EngineError, LoadedBundle};
    use melanoscope_shared::formats::{ModelFile, SignatureStatus};
    let (vs, _) = network(Arch::ResNet18, 2);
    let onnx = export_onnx(&vs, Arch::ResNet18, 64).unwrap();
    let (spec, refs) = small_bundle_spec();
    let mut file = make_bundle(onnx, &spec, &refs, 1e-3, &[]).unwrap();
    let dir = melanoscope_shared::scratch::ScratchDir::new("bundle");
    let path = dir.join("m.mscm");
    std::fs::write(&path, file.encode().unwrap()).unwrap();
    let loaded = LoadedBundle::open(&path, &[], false, &run_on(Backend::Tract, 2, None)).unwrap();
    assert_eq!(loaded.signature, SignatureStatus::Unsigned);
    // The reference fields reproduce on onnxruntime too.
    let on_ort = LoadedBundle::open(&path, &[], false, &run_on(onnxruntime_backend::backend(), 2, None)).unwrap();
    assert_eq!(on_ort.engine.backend_name(), "onnxruntime");
    let err = LoadedBundle::open(&path, &[], true, &run_on(Backend::Tract, 2, None)).unwrap_err().to_string();
    assert!(err.contains("unsigned") && err.contains("m.mscm"), "{err}");

    let secret = [5u8; 32];
    file.sign(&secret).unwrap();
    std::fs::write(&path, file.encode().unwrap()).unwrap();
    let public = ModelFile::public_key_of(&secret);
    assert_eq!(
        LoadedBundle::open(&path, &[public], true, &run_on(Backend::Tract, 1, None)).unwrap().signature,
        SignatureStatus::Trusted(0)
    );

    // Expected outputs that this model does not produce: the self-test refuses to screen.
    let mut wrong = file.clone();
    wrong.signature = None;
    wrong.references[1].logits[0] += 0.5;
    std::fs::write(&path, wrong.encode().unwrap()).unwrap();
    match LoadedBundle::open(&path, &[], false, &run_on(Backend::Tract, 2, None)) {
        Err(EngineError::SelfTest { field: 1, output: names::LOGITS, .. }) => {}
        other => panic!("expected a self-test failure on field 1, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The edge's onnxruntime backend (the wheel's library, loaded at run time) runs the same
/// exports as tract and agrees with it: f32 to rounding, INT8 to the same verdicts; a bundle
/// passes its self-test on it; a missing library is refused by name.
mod onnxruntime_backend {
    use super::network;
    use crate::export::onnx::{GraphForm, export_form};
    use crate::export::quant::{calibrate, pearson};
    use crate::model::Arch;
    use melanoscope_engine::{Backend, Engine, max_abs_diff, onnxruntime_wheel_library};

    pub(super) fn backend() -> Backend {
        let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv");
        let library = onnxruntime_wheel_library(&venv)
            .unwrap_or_else(|| panic!("no onnxruntime wheel in {}: run scripts/setup.sh", venv.display()));
        Backend::OnnxRuntime { library }
    }

    fn smooth_fields(n: usize, side: usize) -> Vec<f32> {
        let mut rng = melanoscope_shared::rng::SplitMix64::new(3);
        let coarse: Vec<f32> = (0..n * 3 * 64).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect();
        // 8×8 blocks upsampled by nearest neighbour: spatially correlated like a real field.
        (0..n * 3 * side * side)
            .map(|i| {
                let (plane, pos) = (i / (side * side), i % (side * side));
                let (y, x) = (pos / side * 8 / side, pos % side * 8 / side);
                coarse[plane * 64 + y * 8 + x]
            })
            .collect()
    }

    #[test]
    fn f32_and_int8_exports_agree_between_tract_and_onnxruntime() {
        let (vs, _) = network(Arch::ResNet18, 2);
        let x = smooth_fields(4, 64);
        let f32_bytes = export_form(&vs, Arch::ResNet18, 64, &GraphForm::F32).unwrap().0;
        let ort = backend();
        let tract = Engine::open(&f32_bytes, 4, 64, &Backend::Tract, 1).unwrap().run(&x).unwrap();
        let onnxrt = Engine::open(&f32_bytes, 4, 64, &ort, 1).unwrap();
        assert_eq!(onnxrt.backend_name(), "onnxruntime");
        let onnxrt = onnxrt.run(&x).unwrap();
        assert_eq!((onnxrt.logits.len(), onnxrt.feature_shape), (tract.logits.len(), tract.feature_shape));
        let scale = tract.features.iter().fold(1f32, |m, v| m.max(v.abs()));
        assert!(max_abs_diff(&tract.features, &onnxrt.features) < 1e-4 * scale);
        assert!(max_abs_diff(&tract.logits, &onnxrt.logits) < 1e-3);

        let fields = crate::export::fields::FieldSet { side: 64, rgb: vec![], tensor: x.clone(), classes: vec![0; 4] };
        let plan = calibrate(&vs, Arch::ResNet18, &fields, 99.99, false).unwrap().plan;
        let int8 = export_form(&vs, Arch::ResNet18, 64, &GraphForm::Int8(plan)).unwrap().0;
        let (a, b) = (
            Engine::open(&int8, 4, 64, &Backend::Tract, 1).unwrap().run(&x).unwrap(),
            Engine::open(&int8, 4, 64, &ort, 1).unwrap().run(&x).unwrap(),
        );
        // Both run the same integer graph; requantisation rounding may differ by a step.
        assert!(pearson(&a.features, &b.features) > 0.99);
        // The 8 logits of a random network can be nearly equal, which makes their correlation
        // meaningless (it failed once when another test reseeded torch in parallel): compare
        // them against their own size instead.
        let size = a.logits.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(&a.logits, &b.logits);
        // Requantisation rounding moves them by a few percent (0.031 at 0.47 when measured); a
        // wrong graph moves them by their whole size.
        assert!(diff <= 0.15 * size + 1e-3, "logits differ by {diff} at size {size}");
    }

    /// An INT8 bundle made with onnxruntime in view passes its self-test on both backends.
    #[test]
    fn int8_bundles_pass_their_self_test_on_both_backends() {
        use crate::export::bundle::make_bundle;
        use melanoscope_engine::LoadedBundle;
        let (vs, _) = network(Arch::ResNet18, 2);
        let x = smooth_fields(4, 64);
        let fields = crate::export::fields::FieldSet { side: 64, rgb: vec![], tensor: x, classes: vec![0; 4] };
        let plan = calibrate(&vs, Arch::ResNet18, &fields, 99.99, false).unwrap().plan;
        let int8 = export_form(&vs, Arch::ResNet18, 64, &GraphForm::Int8(plan)).unwrap().0;
        let (spec, refs) = super::small_bundle_spec();
        let ort = backend();
        let file = make_bundle(int8, &spec, &refs, 2e-2, std::slice::from_ref(&ort)).unwrap();
        let dir = melanoscope_shared::scratch::ScratchDir::new("int8-bundle");
        let path = dir.join("int8.mscm");
        std::fs::write(&path, file.encode().unwrap()).unwrap();
        for b in [Backend::Tract, ort] {
            LoadedBundle::open(&path, &[], false, &super::run_on(b.clone(), 2, None))
                .unwrap_or_else(|e| panic!("{}: {e}", b.name()));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// An f32 bundle carrying an INT8 form, signed over both: each form opens on both backends
    /// and self-tests against its own outputs, and brings its own figures.
    #[test]
    fn an_int8_form_beside_f32_opens_on_both_backends() {
        use crate::export::bundle::{add_form, make_bundle};
        use melanoscope_engine::LoadedBundle;
        use melanoscope_shared::formats::{ModelFile, NamedMetric, Quantization};
        let (vs, _) = network(Arch::ResNet18, 2);
        let fields = crate::export::fields::FieldSet {
            side: 64,
            rgb: vec![],
            tensor: smooth_fields(4, 64),
            classes: vec![0; 4],
        };
        let plan = calibrate(&vs, Arch::ResNet18, &fields, 99.99, false).unwrap().plan;
        let f32_bytes = export_form(&vs, Arch::ResNet18, 64, &GraphForm::F32).unwrap().0;
        let int8 = export_form(&vs, Arch::ResNet18, 64, &GraphForm::Int8(plan)).unwrap().0;
        let (spec, refs) = super::small_bundle_spec();
        let ort = backend();
        let mut file = make_bundle(f32_bytes.clone(), &spec, &refs, 1e-3, std::slice::from_ref(&ort)).unwrap();
        let quantization = Quantization::Int8 { calibration: "test".into(), samples: 4 };
        let figure = NamedMetric { name: "agreement_with_f32".into(), value: 0.875 };
        add_form(&mut file, int8.clone(), quantization, vec![figure.clone()], 2e-2, std::slice::from_ref(&ort))
            .unwrap();
        assert_ne!(file.forms[0].references[0].logits, file.references[0].logits, "INT8 has its own outputs");
        let secret = [9u8; 32];
        file.sign(&secret).unwrap();
        let public = ModelFile::public_key_of(&secret);
        let dir = melanoscope_shared::scratch::ScratchDir::new("forms-bundle");
        let path = dir.join("forms.mscm");
        std::fs::write(&path, file.encode().unwrap()).unwrap();
        use melanoscope_shared::formats::Form;
        for b in [Backend::Tract, ort] {
            for (form, bytes) in [(None, &f32_bytes), (Some(Form::Int8), &int8), (Some(Form::F32), &f32_bytes)] {
                let loaded = LoadedBundle::open(&path, &[public], true, &super::run_on(b.clone(), 2, form))
                    .unwrap_or_else(|e| panic!("{} {form:?}: {e}", b.name()));
                assert_eq!(loaded.forms, [Form::F32, Form::Int8]);
                assert_eq!(loaded.file.meta.quantization.form(), form.unwrap_or(Form::F32));
                assert_eq!(&loaded.file.onnx, bytes);
                assert_eq!(loaded.file.meta.validation.contains(&figure), form == Some(Form::Int8));
            }
        }
        let err = LoadedBundle::open(&path, &[public], true, &super::run_on(Backend::Tract, 1, Some(Form::F16)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no form \"f16\"") && err.contains("f32, int8") && err.contains("forms.mscm"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_library_is_refused_by_name() {
        let missing = Backend::OnnxRuntime { library: "/nonexistent/libonnxruntime.so.1".into() };
        let onnx = export_form(&network(Arch::ResNet18, 2).0, Arch::ResNet18, 32, &GraphForm::F32).unwrap().0;
        let err = Engine::open(&onnx, 1, 32, &missing, 1).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/libonnxruntime.so.1"), "{err}");
    }
}

/// Other forms go beside an f32 first form, into a bundle, each once; refused before anything
/// is read or written.
#[test]
fn other_forms_need_f32_first_a_bundle_and_no_repeats() {
    use crate::export::run::{BundlePlan, ExportPlan, ExportRunError, Int8Weights, form_path, run};
    use melanoscope_shared::formats::Form;
    let dir = melanoscope_shared::scratch::ScratchDir::new("also-forms");
    let plan = ExportPlan {
        checkpoint: dir.join("missing.safetensors"),
        arch: Arch::ResNet18,
        task: crate::train::task::Task::MmVsNevi,
        size: 64,
        magnification: "40X".parse().unwrap(),
        precision: Form::F32,
        also_forms: vec![Form::Int8],
        int8_weights: Int8Weights::PerTensor,
        percentile: 99.99,
        data: None,
        report: None,
        level: crate::train::evaluate::Level::Patch,
        uncertain_band: 0.1,
        reference: 0,
        out: dir.join("m.onnx"),
        bundle: Some(BundlePlan { path: dir.join("m.mscm"), also_on: vec![], sign_key: None }),
        frames: None,
        familiarity: None,
        stain: None,
    };
    let refused = |plan: &ExportPlan| match run(plan) {
        Err(ExportRunError::Forms(why)) => why,
        other => panic!("expected --also-form refused, got {other:?}"),
    };
    assert!(refused(&ExportPlan { bundle: None, ..plan.clone() }).contains("--bundle"));
    assert!(
        refused(&ExportPlan { precision: Form::Int8, also_forms: vec![Form::F32], ..plan.clone() })
            .contains("first form must be f32")
    );
    assert!(
        refused(&ExportPlan { also_forms: vec![Form::F16, Form::F16], ..plan.clone() }).contains("f16 given twice")
    );
    assert!(refused(&ExportPlan { also_forms: vec![Form::F32], ..plan.clone() }).contains("f32 given twice"));
    // A valid plan gets past the forms to the checkpoint, which is missing here.
    assert!(matches!(run(&plan), Err(ExportRunError::Checkpoint { .. })));
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing written");
    assert_eq!(
        form_path(std::path::Path::new("out/resnet18.onnx"), Form::Int8),
        std::path::Path::new("out/resnet18.int8.onnx")
    );
}
