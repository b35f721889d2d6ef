//! A tiny, hand-built screening model for the end-to-end tests (no libtorch on the boards or
//! under qemu): a 1x1 convolution measures how much darker than light stroma each pixel is
//! (nuclear haematoxylin), average pooling makes the 8x8 `features` map, and a linear head
//! `fc` scores melanoma by nuclear density. It is "trained" on rendered frames of each class
//! (seeds the tests do not screen): the threshold sits halfway between the classes' mean
//! density. It exercises exactly the path a real bundle takes: ONNX in tract, the bundle's
//! self-test, CAM from `fc.weight`.

use melanoscope_engine::onnx_proto::{attr_int, attr_ints, value_info};
use melanoscope_engine::{Engine, names, pooled};
use melanoscope_shared::formats::{
    Architecture, DecisionThresholds, ModelBundleMeta, ModelFile, ModelForm, NamedMetric, Quantization, ReferenceField,
    sha256,
};
use melanoscope_shared::image::{
    FieldRect, GridAlign, Normalization, PixelSpacing, RgbImage, TensorLayout, field_to_tensor,
};
use melanoscope_shared::metrics::ThresholdRule;
use melanoscope_shared::pipeline::{ExtractConfig, FieldExtractor};
use prost::Message;
use tract_onnx::pb;

pub const SIDE: usize = 256;
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
    let w: Vec<f32> = (0..3).map(|c| -norm.std[c] / 3.0 * scale).chain((0..3).map(|c| norm.std[c] / 3.0)).collect();
    let mean_v = norm.mean.iter().sum::<f32>() / 3.0;
    let b = [scale * (1.0 - mean_v - DARK_FROM), mean_v];
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
            init("conv.weight", &[2, 3, 1, 1], &w),
            init("conv.bias", &[2], &b),
            init(names::HEAD_WEIGHT, &[2, 2], &[0.0, 0.0, gain, 0.0]),
            init("fc.bias", &[2], &[0.0, -gain * threshold]),
        ],
        input: vec![value_info(names::INPUT, &[None, Some(3), Some(SIDE as i64), Some(SIDE as i64)])],
        output: vec![
            value_info(names::LOGITS, &[None, Some(2)]),
            value_info(names::FEATURES, &[None, Some(2), Some(8), Some(8)]),
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

/// Mean nuclear density of the tissue fields of `frames` (at `frame_um` µm/px) for the model.
fn mean_density(frames: &[RgbImage], frame_um: f64, model_um: f64, norm: &Normalization) -> f32 {
    let engine = Engine::from_onnx(&tiny_onnx(norm, 0.0, 0.0), 1, SIDE).expect("tiny model loads");
    let mut cfg = ExtractConfig::study(model_um);
    cfg.align = GridAlign::Centered;
    cfg.normalization = *norm;
    let mut ex = FieldExtractor::new(cfg).expect("extractor");
    let (mut sum, mut n) = (0.0, 0);
    for f in frames {
        let out = ex.process(f, PixelSpacing::isotropic(frame_um).expect("spacing")).expect("fields");
        for t in out.tensors.chunks_exact(3 * SIDE * SIDE) {
            let o = engine.run(t).expect("runs");
            sum += pooled(&o.features, 2)[0];
            n += 1;
        }
    }
    sum / n.max(1) as f32
}

/// A bundle of the tiny model fitted on `melanoma` and `nevus` frames.
pub fn fit_bundle(melanoma: &[RgbImage], nevus: &[RgbImage], frame_um: f64, model_um: f64) -> Vec<u8> {
    let norm = Normalization::IMAGENET;
    let (mm, nv) = (mean_density(melanoma, frame_um, model_um, &norm), mean_density(nevus, frame_um, model_um, &norm));
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
                feature_means: pooled(&o.features, 2),
                tolerance: 1e-3,
            }
        })
        .collect()
}

/// Another form of `file`'s model, labelled `quantization`, whose graph is `onnx` (the tests
/// stand a slightly different tiny model in for an INT8 export), with its own reference outputs
/// on the bundle's reference fields.
pub fn other_form(file: &ModelFile, quantization: Quantization, onnx: Vec<u8>) -> ModelForm {
    let fields: Vec<Vec<u8>> = file.references.iter().map(|r| r.rgb.clone()).collect();
    let norm = Normalization { mean: file.meta.mean, std: file.meta.std };
    let references = references_of(&onnx, &fields, &norm);
    ModelForm {
        quantization,
        onnx,
        references,
        validation: vec![NamedMetric { name: "agreement_with_f32".into(), value: 1.0 }],
    }
}
