//! An ONNX (opset 13) writer for the trainer's networks, built with the protobuf types that
//! `tract-onnx` exposes (no Python). BatchNorm is folded into the convolution before it (eval
//! mode: running statistics); dropout is dropped. Two named outputs: `logits` and `features`
//! (the last convolutional feature map, after its ReLU), which CAM and Grad-CAM on the edge read.
//! The input is `input`, N×3×S×S with a symbolic batch and the side fixed at export (VGG19's
//! adaptive 7×7 pooling becomes a plain AveragePool, which needs the side known).

use crate::model::Arch;
use prost::Message;
use std::collections::HashMap;
use tch::{Kind, Tensor, nn::VarStore};
use thiserror::Error;
use tract_onnx::pb;

/// torchvision's BatchNorm epsilon (tch's default too).
const BN_EPS: f64 = 1e-5;
pub const OPSET: i64 = 13;

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("the model has no tensor {0:?} (is it a {1} checkpoint?)")]
    Missing(String, String),
    #[error("{0}")]
    Unsupported(String),
    #[error(transparent)]
    Torch(#[from] tch::TchError),
}

fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<i64>]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => Value::DimValue(*v),
                None => Value::DimParam("batch".into()),
            }),
            ..Default::default()
        })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The graph under construction and the trained tensors by name.
struct Builder {
    vars: HashMap<String, Tensor>,
    arch: Arch,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl Builder {
    fn tensor(&self, name: &str) -> Result<&Tensor, ExportError> {
        self.vars.get(name).ok_or_else(|| ExportError::Missing(name.into(), self.arch.name().into()))
    }

    fn var(&self, name: &str) -> Result<Vec<f32>, ExportError> {
        Ok(Vec::<f32>::try_from(self.tensor(name)?.f_to_kind(Kind::Float)?.f_contiguous()?.f_flatten(0, -1)?)?)
    }

    fn shape(&self, name: &str) -> Result<Vec<i64>, ExportError> {
        Ok(self.tensor(name)?.size())
    }

    fn constant(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    /// Adds a node; its output is `output`, or a generated name.
    fn node(&mut self, op: &str, inputs: &[&str], output: Option<&str>, attribute: Vec<pb::AttributeProto>) -> String {
        let out = output.map_or_else(|| format!("{}_{}", op.to_ascii_lowercase(), self.nodes.len()), str::to_string);
        self.nodes.push(pb::NodeProto {
            name: format!("n{}_{op}", self.nodes.len()),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            attribute,
            ..Default::default()
        });
        out
    }

    /// Convolution `conv` (a `…weight` prefix) with BatchNorm `bn` folded in, or its own bias.
    fn conv(&mut self, x: &str, conv: &str, bn: Option<&str>, stride: i64, pad: i64) -> Result<String, ExportError> {
        let wname = format!("{conv}.weight");
        let dims = self.shape(&wname)?;
        let (c_out, k) = (dims[0] as usize, dims[2]);
        let mut w = self.var(&wname)?;
        let per = w.len() / c_out.max(1);
        let bias = match bn {
            Some(bn) => {
                let (gamma, beta) = (self.var(&format!("{bn}.weight"))?, self.var(&format!("{bn}.bias"))?);
                let (mean, var) = (self.var(&format!("{bn}.running_mean"))?, self.var(&format!("{bn}.running_var"))?);
                let mut b = vec![0f32; c_out];
                for c in 0..c_out {
                    // In f64: the folded weights are what the edge computes with.
                    let scale = f64::from(gamma[c]) / (f64::from(var[c]) + BN_EPS).sqrt();
                    w[c * per..(c + 1) * per].iter_mut().for_each(|v| *v = (f64::from(*v) * scale) as f32);
                    b[c] = (f64::from(beta[c]) - f64::from(mean[c]) * scale) as f32;
                }
                b
            }
            None => self.var(&format!("{conv}.bias"))?,
        };
        let wn = self.constant(&format!("{conv}.weight"), &dims, &w);
        let bname = self.constant(&format!("{conv}.bias"), &[c_out as i64], &bias);
        let attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[stride, stride]),
            attr_ints("pads", &[pad; 4]),
        ];
        Ok(self.node("Conv", &[x, &wn, &bname], None, attrs))
    }

    /// `Gemm` with a torch Linear layer (weight out×in, so transB).
    fn linear(&mut self, x: &str, name: &str, output: Option<&str>) -> Result<String, ExportError> {
        let (w, b) = (self.var(&format!("{name}.weight"))?, self.var(&format!("{name}.bias"))?);
        let dims = self.shape(&format!("{name}.weight"))?;
        let wn = self.constant(&format!("{name}.weight"), &dims, &w);
        let bn = self.constant(&format!("{name}.bias"), &[dims[0]], &b);
        Ok(self.node("Gemm", &[x, &wn, &bn], output, vec![attr_int("transB", 1)]))
    }

    fn relu(&mut self, x: &str, output: Option<&str>) -> String {
        self.node("Relu", &[x], output, vec![])
    }
}

fn resnet(b: &mut Builder, blocks: [usize; 4], bottleneck: bool) -> Result<(), ExportError> {
    let mut y = b.conv("input", "conv1", Some("bn1"), 2, 3)?;
    y = b.relu(&y, None);
    y = b.node(
        "MaxPool",
        &[&y],
        None,
        vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2]), attr_ints("pads", &[1; 4])],
    );
    let last_layer = blocks.len() - 1;
    for (li, &n) in blocks.iter().enumerate() {
        for bi in 0..n {
            let p = format!("layer{}.{bi}", li + 1);
            let stride = if bi == 0 && li > 0 { 2 } else { 1 };
            let convs = if bottleneck { 3 } else { 2 };
            let mut z = y.clone();
            for ci in 1..=convs {
                // torchvision v1.5: the stride sits on the 3×3 convolution.
                let (s, pad) = match (bottleneck, ci) {
                    (true, 1) | (true, 3) => (1, 0),
                    (true, _) => (stride, 1),
                    (false, 1) => (stride, 1),
                    (false, _) => (1, 1),
                };
                z = b.conv(&z, &format!("{p}.conv{ci}"), Some(&format!("{p}.bn{ci}")), s, pad)?;
                if ci < convs {
                    z = b.relu(&z, None);
                }
            }
            let shortcut = if b.vars.contains_key(&format!("{p}.downsample.0.weight")) {
                b.conv(&y, &format!("{p}.downsample.0"), Some(&format!("{p}.downsample.1")), stride, 0)?
            } else {
                y.clone()
            };
            let sum = b.node("Add", &[&z, &shortcut], None, vec![]);
            let is_last = li == last_layer && bi + 1 == n;
            y = b.relu(&sum, is_last.then_some("features"));
        }
    }
    let pooled = b.node("GlobalAveragePool", &["features"], None, vec![]);
    let flat = b.node("Flatten", &[&pooled], None, vec![attr_int("axis", 1)]);
    b.linear(&flat, "fc", Some("logits"))?;
    Ok(())
}

/// Windows of adaptive average pooling from `input` to `output` cells, as (kernel, stride)
/// when they are all alike (what AveragePool can express).
fn uniform_pool(input: i64, output: i64) -> Option<(i64, i64)> {
    let start = |i: i64| (i * input) / output;
    let end = |i: i64| ((i + 1) * input + output - 1) / output;
    let k = end(0) - start(0);
    let s = if output > 1 { start(1) - start(0) } else { 1 };
    (k >= 1 && (0..output).all(|i| end(i) - start(i) == k && start(i) == i * s)).then_some((k, s.max(1)))
}

fn vgg19(b: &mut Builder, side: i64) -> Result<(), ExportError> {
    // torchvision's features.N indices of the convolutions, and which of them a 2×2 max-pool follows.
    let convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];
    let pooled_after = [2, 7, 16, 25, 34];
    let mut y = "input".to_string();
    for (i, idx) in convs.iter().enumerate() {
        y = b.conv(&y, &format!("features.{idx}"), None, 1, 1)?;
        y = b.relu(&y, (i + 1 == convs.len()).then_some("features"));
        if pooled_after.contains(idx) {
            y = b.node("MaxPool", &[&y], None, vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])]);
        }
    }
    let h = side / 32;
    let (k, s) = uniform_pool(h, 7).ok_or_else(|| {
        ExportError::Unsupported(format!(
            "VGG19 at {side} px: the last pooled map is {h}×{h}, whose adaptive 7×7 pooling has unequal windows; \
             export at 224 or 256 px (or another side whose map divides into 7 equal windows)"
        ))
    })?;
    y = b.node("AveragePool", &[&y], None, vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s])]);
    y = b.node("Flatten", &[&y], None, vec![attr_int("axis", 1)]);
    y = b.linear(&y, "classifier.0", None)?;
    y = b.relu(&y, None);
    y = b.linear(&y, "classifier.3", None)?;
    y = b.relu(&y, None);
    b.linear(&y, "classifier.6", Some("logits"))?;
    Ok(())
}

/// The ONNX bytes of `arch` with the weights of `vs`, for `side`-pixel square inputs.
pub fn export_onnx(vs: &VarStore, arch: Arch, side: u32) -> Result<Vec<u8>, ExportError> {
    let mut b = Builder { vars: vs.variables(), arch, nodes: Vec::new(), initializers: Vec::new() };
    let side = i64::from(side);
    match arch {
        Arch::ResNet18 => resnet(&mut b, [2, 2, 2, 2], false)?,
        Arch::ResNet50 => resnet(&mut b, [3, 4, 6, 3], true)?,
        Arch::Vgg19 => vgg19(&mut b, side)?,
    }
    let classes = b.shape(&format!("{}weight", arch.head_prefix()))?[0];
    let (channels, fside) = match arch {
        Arch::ResNet18 => (512, (side + 31) / 32),
        Arch::ResNet50 => (2048, (side + 31) / 32),
        Arch::Vgg19 => (512, side / 16),
    };
    let graph = pb::GraphProto {
        name: format!("melanoscope-{}", arch.name()),
        node: b.nodes,
        initializer: b.initializers,
        input: vec![value_info("input", &[None, Some(3), Some(side), Some(side)])],
        output: vec![
            value_info("logits", &[None, Some(classes)]),
            value_info("features", &[None, Some(channels), Some(fside), Some(fside)]),
        ],
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: 7,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "melanoscope-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

/// Writes a reference batch for checking an export in another runtime: `<stem>.input.npy`
/// (`batch` seeded random images), and `<stem>.logits.npy` and `<stem>.features.npy` as the tch
/// network computes them in eval mode.
pub fn write_reference(
    net: &crate::model::Network,
    side: u32,
    batch: i64,
    stem: &std::path::Path,
) -> Result<(), ExportError> {
    let x = {
        let _rng = crate::model::seed_torch(20_261_126);
        Tensor::f_randn([batch, 3, i64::from(side), i64::from(side)], (Kind::Float, tch::Device::Cpu))?
    };
    let out = tch::no_grad(|| net.forward_t(&x, false));
    let path = |what: &str| std::path::PathBuf::from(format!("{}.{what}.npy", stem.display()));
    x.write_npy(path("input"))?;
    out.logits.f_to_device(tch::Device::Cpu)?.write_npy(path("logits"))?;
    out.features.f_to_device(tch::Device::Cpu)?.f_contiguous()?.write_npy(path("features"))?;
    Ok(())
}
