//! A tiny, hand-built screening model for the end-to-end tests (no libtorch on the boards or
//! under qemu): a 1x1 convolution measures how much darker than light stroma each pixel is
//! (nuclear haematoxylin), two more measure brightness and hue (blue over red), average
//! pooling makes the 3x8x8 `features` map, and a linear head `fc` scores melanoma by nuclear
//! density. Its familiarity statistics come from the same frames' fields. It is "trained" on rendered frames of each class
//! (seeds the tests do not screen): the threshold sits halfway between the classes' mean
//! density. It exercises exactly the path a real bundle takes: ONNX in tract, the bundle's
//! self-test, CAM from `fc.weight`.

use melanoscope_engine::onnx_proto::{attr_int, attr_ints, value_info};
use melanoscope_engine::{Engine, names, pooled};
use melanoscope_shared::formats::{
    Architecture, BundleForm, DecisionThresholds, Familiarity, FamiliarityScorer, ModelBundleMeta, ModelFile,
    NamedMetric, Quantization, ReferenceField, sha256,
};
use melanoscope_shared::image::{
    FieldRect, GridAlign, Normalization, PixelSpacing, RgbImage, TensorLayout, field_to_tensor,
};
use melanoscope_shared::metrics::ThresholdRule;
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};
use melanoscope_shared::stain::{StainMethod, StainTarget, fit_target};
use prost::Message;
use tract_onnx::pb;

pub const SIDE: usize = 256;
/// Feature channels: nuclear darkness, brightness, hue.
pub const CHANNELS: usize = 3;
/// Darkness (1 - mean RGB on 0..1) above which a pixel counts as nuclear.
const DARK_FROM: f32 = 0.45;

fn init(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        attribute,
        ..Default::default()
    }
}

/// The ONNX model: logit(MM) - logit(nevus) = gain * (density - threshold).
pub fn tiny_onnx(norm: &Normalization, gain: f32, threshold: f32) -> Vec<u8> {
    // Pixel value v_c = x_c * std_c + mean_c, so darkness = 1 - mean_c(v_c) is linear in x.
    let scale = 4.0;
    // Channels: darkness past DARK_FROM (scaled), brightness, and blue minus red plus 0.5.
    let w: Vec<f32> = (0..3)
        .map(|c| -norm.std[c] / 3.0 * scale)
        .chain((0..3).map(|c| norm.std[c] / 3.0))
        .chain([-norm.std[0], 0.0, norm.std[2]])
        .collect();
    let mean_v = norm.mean.iter().sum::<f32>() / 3.0;
    let b = [scale * (1.0 - mean_v - DARK_FROM), mean_v, norm.mean[2] - norm.mean[0] + 0.5];
    let nodes = vec![
        node("Conv", &[names::INPUT, "conv.weight", "conv.bias"], "conv", vec![attr_ints("kernel_shape", &[1, 1])]),
        node("Relu", &["conv"], "relu", vec![]),
        node(
            "AveragePool",
            &["relu"],
            names::FEATURES,
            vec![attr_ints("kernel_shape", &[32, 32]), attr_ints("strides", &[32, 32])],
        ),
        node("GlobalAveragePool", &[names::FEATURES], "gap", vec![]),
        node("Flatten", &["gap"], "flat", vec![attr_int("axis", 1)]),
        node("Gemm", &["flat", names::HEAD_WEIGHT, "fc.bias"], names::LOGITS, vec![attr_int("transB", 1)]),
    ];
    let graph = pb::GraphProto {
        name: "tiny-density".into(),
        node: nodes,
        initializer: vec![
            init("conv.weight", &[CHANNELS as i64, 3, 1, 1], &w),
            init("conv.bias", &[CHANNELS as i64], &b),
            init(names::HEAD_WEIGHT, &[2, CHANNELS as i64], &[0.0, 0.0, 0.0, gain, 0.0, 0.0]),
            init("fc.bias", &[2], &[0.0, -gain * threshold]),
        ],
        input: vec![value_info(names::INPUT, &[None, Some(3), Some(SIDE as i64), Some(SIDE as i64)])],
        output: vec![
            value_info(names::LOGITS, &[None, Some(2)]),
            value_info(names::FEATURES, &[None, Some(CHANNELS as i64), Some(8), Some(8)]),
        ],
        ..Default::default()
    };
    pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: 13 }],
        producer_name: "melanoscope-tests".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The pooled features of every tissue field of `frames` (at `frame_um` µm/px).
fn field_features(frames: &[RgbImage], frame_um: f64, model_um: f64, norm: &Normalization) -> Vec<Vec<f32>> {
    let engine = Engine::from_onnx(&tiny_onnx(norm, 0.0, 0.0), 1, SIDE).expect("tiny model loads");
    let mut cfg = ExtractConfig::study(model_um);
    cfg.align = GridAlign::Centered;
    cfg.normalization = *norm;
    let mut ex = FieldExtractor::new(cfg).expect("extractor");
    let mut all = Vec::new();
    for f in frames {
        let out = ex.process(f, PixelSpacing::isotropic(frame_um).expect("spacing")).expect("fields");
        for t in out.tensors.chunks_exact(3 * SIDE * SIDE) {
            let o = engine.run(t).expect("runs");
            all.push(pooled(&o.features, CHANNELS));
        }
    }
    all
}

/// The Macenko stain of the tissue fields of `frames` at the model's µm/px (as `export` fits
/// it on training fields, and as the edge fits a frame's).
pub fn stain_target(frames: &[RgbImage], frame_um: f64, model_um: f64) -> StainTarget {
    let mut cfg = ExtractConfig::study(model_um);
    cfg.align = GridAlign::Centered;
    let mut ex = FieldExtractor::new(cfg).expect("extractor");
    let mut fields = Vec::new();
    for f in frames {
        let out = ex.process(f, PixelSpacing::isotropic(frame_um).expect("spacing")).expect("fields");
        for field in out.kept() {
            let r = field.rect;
            fields.push(out.resampled.crop(r.x, r.y, r.size, r.size).expect("field inside"));
        }
    }
    fit_target(&fields, StainMethod::Macenko).expect("the frames' stain fits")
}

fn mean_density(features: &[Vec<f32>]) -> f32 {
    features.iter().map(|f| f[0]).sum::<f32>() / features.len().max(1) as f32
}

/// Eigenvalues and unit eigenvectors (rows) of a symmetric 3x3 matrix, largest first (cyclic
/// Jacobi rotations).
fn eigen3(mut a: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..50 {
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if a[p][q].abs() < 1e-15 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
            for row in &mut a {
                let (akp, akq) = (row[p], row[q]);
                row[p] = c * akp - s * akq;
                row[q] = s * akp + c * akq;
            }
            let (ap, aq) = (a[p], a[q]);
            for k in 0..3 {
                a[p][k] = c * ap[k] - s * aq[k];
                a[q][k] = s * ap[k] + c * aq[k];
            }
            for row in &mut v {
                let (vp, vq) = (row[p], row[q]);
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0, 1, 2];
    order.sort_by(|x, y| a[*y][*y].total_cmp(&a[*x][*x]));
    (order.map(|i| a[i][i]), order.map(|i| [v[0][i], v[1][i], v[2][i]]))
}

/// Familiarity statistics of the tiny model from `features` (class `classes[i]`): class
/// means, the within-class covariance shrunk 10% toward its mean variance, all three
/// directions kept; the threshold twice the highest training score (a handful of fields
/// cannot place a 95th percentile).
pub fn tiny_familiarity(features: &[Vec<f32>], classes: &[usize]) -> Familiarity {
    let mut means = [[0f64; 3]; 2];
    let mut counts = [0usize; 2];
    for (f, k) in features.iter().zip(classes) {
        counts[*k] += 1;
        for c in 0..3 {
            means[*k][c] += f64::from(f[c]);
        }
    }
    for k in 0..2 {
        means[k].iter_mut().for_each(|m| *m /= counts[k].max(1) as f64);
    }
    let mut cov = [[0f64; 3]; 3];
    for (f, k) in features.iter().zip(classes) {
        let d: [f64; 3] = core::array::from_fn(|c| f64::from(f[c]) - means[*k][c]);
        for i in 0..3 {
            for j in 0..3 {
                cov[i][j] += d[i] * d[j] / (features.len() - 2).max(1) as f64;
            }
        }
    }
    let m = (cov[0][0] + cov[1][1] + cov[2][2]) / 3.0;
    let (values, vectors) = eigen3(cov);
    let mut stats = Familiarity {
        channels: CHANNELS as u32,
        class_means: means.iter().flatten().map(|v| *v as f32).collect(),
        basis: vectors.iter().flatten().map(|v| *v as f32).collect(),
        variances: values.iter().map(|l| (0.9 * l.max(0.0) + 0.1 * m).max(1e-12) as f32).collect(),
        residual_variance: (0.1 * m).max(1e-12) as f32,
        threshold: 1.0,
        pass_share: 0.95,
        training_fields: features.len() as u32,
        validation_fields: features.len() as u32,
    };
    let mut scorer = FamiliarityScorer::new(stats.clone(), 2).expect("statistics valid");
    let highest = features.iter().filter_map(|f| scorer.score(f)).fold(0.0f32, f32::max);
    stats.threshold = 2.0 * highest.max(1e-3);
    stats
}

/// A bundle of the tiny model fitted on `melanoma` and `nevus` frames.
pub fn fit_bundle(melanoma: &[RgbImage], nevus: &[RgbImage], frame_um: f64, model_um: f64) -> Vec<u8> {
    let norm = Normalization::IMAGENET;
    let (mm_features, nv_features) =
        (field_features(melanoma, frame_um, model_um, &norm), field_features(nevus, frame_um, model_um, &norm));
    let (mm, nv) = (mean_density(&mm_features), mean_density(&nv_features));
    let classes: Vec<usize> = nv_features.iter().map(|_| 0).chain(mm_features.iter().map(|_| 1)).collect();
    let familiarity = tiny_familiarity(&[nv_features, mm_features].concat(), &classes);
    assert!(mm > nv, "melanoma frames must be denser in nuclei than nevus frames ({mm} vs {nv})");
    let threshold = (mm + nv) / 2.0;
    // p(MM) = 0.95 at the melanoma mean.
    let gain = 3.0 / (mm - threshold);
    let onnx = tiny_onnx(&norm, gain, threshold);
    // Reference fields: a melanoma field and a nevus field, with what tract answers.
    let fields: Vec<Vec<u8>> = [&melanoma[0], &nevus[0]]
        .iter()
        .map(|img| {
            let (x, y) = ((img.width() - SIDE as u32) / 2, (img.height() - SIDE as u32) / 2);
            img.crop(x, y, SIDE as u32, SIDE as u32).expect("crop").into_raw()
        })
        .collect();
    let references = references_of(&onnx, &fields, &norm);
    let meta = ModelBundleMeta {
        architecture: Architecture::ResNet18,
        task: "mm-vs-nevi".into(),
        classes: vec!["nevus".into(), "MM".into()],
        input_size: SIDE as u32,
        um_per_px: model_um,
        mean: norm.mean,
        std: norm.std,
        decision: DecisionThresholds {
            positive_class: 1,
            threshold: 0.5,
            uncertain_band: 0.1,
            rule: ThresholdRule::Youden,
        },
        quantization: Quantization::F32,
        validation: vec![],
        onnx_sha256: sha256(&onnx),
        created_unix_s: 1_795_651_200,
        trainer_version: "tiny-test-model".into(),
        frame_choice: None,
        familiarity: Some(familiarity),
        form_familiarity: Vec::new(),
        stain: Some(stain_target(&[melanoma, nevus].concat(), frame_um, model_um)),
    };
    ModelFile { meta, onnx, references, forms: Vec::new(), signature: None }.encode().expect("bundle encodes")
}

/// What tract answers on each of `fields` (RGB, SIDE square) with the graph `onnx`.
fn references_of(onnx: &[u8], fields: &[Vec<u8>], norm: &Normalization) -> Vec<ReferenceField> {
    let engine = Engine::from_onnx(onnx, 1, SIDE).expect("model loads");
    fields
        .iter()
        .map(|rgb| {
            let field = RgbImage::from_raw(SIDE as u32, SIDE as u32, rgb.clone()).expect("field");
            let mut input = vec![0.0; 3 * SIDE * SIDE];
            field_to_tensor(&field, FieldRect::square(0, 0, SIDE as u32), norm, TensorLayout::Nchw, &mut input)
                .expect("tensor");
            let o = engine.run(&input).expect("runs");
            ReferenceField {
                rgb: rgb.clone(),
                logits: o.logits.clone(),
                feature_means: pooled(&o.features, CHANNELS),
                tolerance: 1e-3,
            }
        })
        .collect()
}

/// Another form of `file`'s model, labelled `quantization`, whose graph is `onnx` (the tests
/// stand a slightly different tiny model in for an INT8 export), with its own reference outputs
/// on the bundle's reference fields.
pub fn other_form(file: &ModelFile, quantization: Quantization, onnx: Vec<u8>) -> BundleForm {
    let fields: Vec<Vec<u8>> = file.references.iter().map(|r| r.rgb.clone()).collect();
    let norm = Normalization { mean: file.meta.mean, std: file.meta.std };
    let references = references_of(&onnx, &fields, &norm);
    BundleForm {
        quantization,
        onnx,
        references,
        validation: vec![NamedMetric { name: "agreement_with_f32".into(), value: 1.0 }],
    }
}
