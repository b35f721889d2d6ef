//! An ONNX (opset 13) writer for the trainer's networks, built with the protobuf types that
//! `tract-onnx` exposes (no Python). BatchNorm is folded into the convolution before it (eval
//! mode: running statistics); dropout is dropped. Two named outputs: `logits` and `features`
//! (the last convolutional feature map, after its ReLU), which CAM and Grad-CAM on the edge read.
//! The input is `input`, N×3×S×S with a symbolic batch and the side fixed at export (VGG19's
//! adaptive 7×7 pooling becomes a plain AveragePool, which needs the side known).
//!
//! One graph walk writes every numeric [`GraphForm`]: f32; f16 (weights and arithmetic in half
//! precision, f32 at the edges); a calibration probe (f32 with every tensor the INT8 form
//! quantises also an output); and INT8 in QOperator form (`QLinearConv` with int8 weights and
//! u8 activations; ReLU fused by quantising from zero).
//! Tensor names are logical (`conv_7`, `relu_8`) and the same in every form, so the probe's
//! ranges apply to the INT8 graph by name.

use crate::model::Arch;
use melanoscope_engine::names;
use melanoscope_engine::onnx_proto::{attr_int, attr_ints, value_info};
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

fn attr_type(name: &str, to: pb::tensor_proto::DataType) -> pb::AttributeProto {
    attr_int(name, to as i64)
}

/// How a graph is written: a model [`melanoscope_shared::formats::Form`] with what writing
/// it needs (the INT8 ranges), or the f32 calibration probe.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphForm {
    F32,
    /// Weights and arithmetic in half precision (ARM cores with FP16 arithmetic); the input and
    /// both outputs stay f32.
    F16,
    /// F32 with every tensor the INT8 form quantises also a graph output, for calibration.
    Probe,
    /// QOperator INT8 with the calibrated ranges.
    Int8(Int8Plan),
}

/// What the INT8 form needs: the calibrated (low, high) of every probed tensor, and whether
/// weights get one scale per output channel or one per tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Plan {
    pub ranges: HashMap<String, (f32, f32)>,
    pub per_channel: bool,
}

/// u8 scale and zero point covering `[lo, hi]` (widened to include 0, so zero is exact: the
/// padding of convolutions and ReLU's floor). Activations are u8 and weights i8, the form
/// onnxruntime's x86 kernels are fastest with (ResNet18: 24 ms a field against 158 ms with i8
/// activations, measured, 2 threads); tract 0.23 took 2.5 s a field with either.
pub fn u8_params(lo: f32, hi: f32) -> (f32, u8) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = ((hi - lo) / 255.0).max(1e-8);
    (scale, (-lo / scale).round().clamp(0.0, 255.0) as u8)
}

/// A tensor in the graph: its name and, when it is u8, its scale and zero point.
#[derive(Debug, Clone)]
struct Act {
    name: String,
    q: Option<(f32, u8)>,
}

impl Act {
    fn float(name: impl Into<String>) -> Self {
        Act { name: name.into(), q: None }
    }
}

fn value_info_typed(name: &str, elem: pb::tensor_proto::DataType, dims: Option<&[Option<i64>]>) -> pb::ValueInfoProto {
    let mut v = value_info(name, dims.unwrap_or(&[]));
    if let Some(pb::type_proto::Value::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        t.elem_type = elem as i32;
        if dims.is_none() {
            t.shape = None;
        }
    }
    v
}

/// The graph under construction and the trained tensors by name.
struct Builder {
    vars: HashMap<String, Tensor>,
    arch: Arch,
    form: GraphForm,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    /// Logical tensors made so far (names are `op_k`, the same in every form).
    made: usize,
    /// Probe form: the tensors to add as outputs.
    probes: Vec<String>,
}

impl Builder {
    fn new(vs: &VarStore, arch: Arch, form: GraphForm) -> Self {
        Builder {
            vars: vs.variables(),
            arch,
            form,
            nodes: Vec::new(),
            initializers: Vec::new(),
            made: 0,
            probes: Vec::new(),
        }
    }

    fn tensor(&self, name: &str) -> Result<&Tensor, ExportError> {
        self.vars.get(name).ok_or_else(|| ExportError::Missing(name.into(), self.arch.name().into()))
    }

    fn var(&self, name: &str) -> Result<Vec<f32>, ExportError> {
        Ok(Vec::<f32>::try_from(self.tensor(name)?.f_to_kind(Kind::Float)?.f_contiguous()?.f_flatten(0, -1)?)?)
    }

    fn shape(&self, name: &str) -> Result<Vec<i64>, ExportError> {
        Ok(self.tensor(name)?.size())
    }

    fn fresh(&mut self, op: &str) -> String {
        self.made += 1;
        format!("{op}_{}", self.made)
    }

    fn raw(&mut self, name: &str, dims: &[i64], kind: pb::tensor_proto::DataType, raw_data: Vec<u8>) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: kind as i32,
            raw_data,
            ..Default::default()
        });
        name.into()
    }

    /// A float constant, in half precision in the f16 form.
    fn constant(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        use pb::tensor_proto::DataType;
        if self.form == GraphForm::F16 {
            let raw = data.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
            self.raw(name, dims, DataType::Float16, raw)
        } else {
            self.raw(name, dims, DataType::Float, data.iter().flat_map(|v| v.to_le_bytes()).collect())
        }
    }

    /// Quantisation parameters as scalar initializers `<name>.scale` and `<name>.zero_point`
    /// (made once per name).
    fn qparams(&mut self, name: &str, scale: f32, zp: u8) -> (String, String) {
        use pb::tensor_proto::DataType;
        let (s, z) = (format!("{name}.scale"), format!("{name}.zero_point"));
        if !self.initializers.iter().any(|t| t.name == s) {
            self.raw(&s, &[], DataType::Float, scale.to_le_bytes().to_vec());
            self.raw(&z, &[], DataType::Uint8, vec![zp]);
        }
        (s, z)
    }

    fn has_node_output(&self, name: &str) -> bool {
        self.nodes.iter().any(|n| n.output.iter().any(|o| o == name))
    }

    fn node(&mut self, op: &str, inputs: &[&str], output: &str, attribute: Vec<pb::AttributeProto>) -> String {
        self.nodes.push(pb::NodeProto {
            name: format!("n{}_{op}", self.nodes.len()),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            attribute,
            ..Default::default()
        });
        output.into()
    }

    /// The name a graph output gets while it is computed: in the f16 form the f16 value, cast
    /// to f32 under the real name at the end.
    fn output_name(&self, name: &str) -> String {
        if self.form == GraphForm::F16 { format!("{name}_h") } else { name.into() }
    }

    /// Graph outputs are read anyway; everything else probed becomes an extra output.
    fn probe(&mut self, name: &str) {
        if self.form == GraphForm::Probe
            && name != names::FEATURES
            && name != names::LOGITS
            && !self.probes.iter().any(|p| p == name)
        {
            self.probes.push(name.into());
        }
    }

    /// `x` as f32 (dequantised when it is u8).
    fn float(&mut self, x: &Act) -> String {
        match x.q {
            None => x.name.clone(),
            Some((scale, zp)) => {
                let out = format!("{}_dq", x.name);
                if !self.has_node_output(&out) {
                    let (s, z) = self.qparams(&x.name, scale, zp);
                    self.node("DequantizeLinear", &[&x.name, &s, &z], &out, vec![]);
                }
                out
            }
        }
    }

    /// `x` as u8: its name, the names of its scale and zero point, and the scale (quantised
    /// once with its calibrated range when it is f32).
    fn quantized(&mut self, x: &Act) -> Result<(String, String, String, f32), ExportError> {
        if let Some((scale, zp)) = x.q {
            let (s, z) = self.qparams(&x.name, scale, zp);
            return Ok((x.name.clone(), s, z, scale));
        }
        let (lo, hi) = self.range(&x.name)?;
        let (scale, zp) = u8_params(lo, hi);
        let q = format!("{}_q", x.name);
        let (s, z) = self.qparams(&q, scale, zp);
        if !self.has_node_output(&q) {
            self.node("QuantizeLinear", &[&x.name, &s, &z], &q, vec![]);
        }
        Ok((q, s, z, scale))
    }

    fn range(&self, name: &str) -> Result<(f32, f32), ExportError> {
        match &self.form {
            GraphForm::Int8(plan) => plan
                .ranges
                .get(name)
                .copied()
                .ok_or_else(|| ExportError::Unsupported(format!("no calibrated range for tensor {name:?}"))),
            _ => Err(ExportError::Unsupported("ranges exist only in the INT8 form".into())),
        }
    }

    /// Convolution `conv` with BatchNorm `bn` folded in (or its own bias), then ReLU when
    /// `relu`; `out` names the result (a graph output).
    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        x: &Act,
        conv: &str,
        bn: Option<&str>,
        stride: i64,
        pad: i64,
        relu: bool,
        out: Option<&str>,
    ) -> Result<Act, ExportError> {
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
        let attrs = vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[stride, stride]),
            attr_ints("pads", &[pad; 4]),
        ];
        // The same logical names in every form.
        let conv_out = self.fresh("conv");
        let result = match (relu, out) {
            (true, Some(o)) => o.to_string(),
            (true, None) => self.fresh("relu"),
            (false, Some(o)) => o.to_string(),
            (false, None) => conv_out.clone(),
        };
        if let GraphForm::Int8(plan) = &self.form {
            let per_channel = plan.per_channel;
            let (xq, x_scale, x_zp, xs) = self.quantized(x)?;
            let (w_q, w_scale) = quantize_weights(&w, c_out, per_channel);
            let bias_q: Vec<i32> = bias
                .iter()
                .enumerate()
                .map(|(c, b)| {
                    (f64::from(*b) / (f64::from(xs) * f64::from(w_scale[c.min(w_scale.len() - 1)]))).round() as i32
                })
                .collect();
            use pb::tensor_proto::DataType;
            let wq =
                self.raw(&format!("{conv}.weight_q"), &dims, DataType::Int8, w_q.iter().map(|v| *v as u8).collect());
            let scale_dims: &[i64] = if per_channel { &[c_out as i64] } else { &[] };
            let ws = self.raw(
                &format!("{conv}.weight_scale"),
                scale_dims,
                DataType::Float,
                w_scale.iter().flat_map(|v| v.to_le_bytes()).collect(),
            );
            let wz = self.raw(&format!("{conv}.weight_zero_point"), scale_dims, DataType::Int8, vec![0; w_scale.len()]);
            let bq = self.raw(
                &format!("{conv}.bias_q"),
                &[c_out as i64],
                DataType::Int32,
                bias_q.iter().flat_map(|v| v.to_le_bytes()).collect(),
            );
            let (lo, hi) = self.range(&result)?;
            let (ys, yz) = u8_params(if relu { 0.0 } else { lo }, hi);
            let graph_output = out.is_some();
            let qname = if graph_output { format!("{result}_q") } else { result.clone() };
            let (s, z) = self.qparams(&qname, ys, yz);
            self.node("QLinearConv", &[&xq, &x_scale, &x_zp, &wq, &ws, &wz, &s, &z, &bq], &qname, attrs);
            let act = Act { name: qname, q: Some((ys, yz)) };
            if graph_output {
                // Outputs are f32 in every form.
                let (s, z) = self.qparams(&format!("{result}_out"), ys, yz);
                self.node("DequantizeLinear", &[&act.name, &s, &z], &result, vec![]);
                return Ok(Act::float(result));
            }
            return Ok(act);
        }
        let xf = self.float(x);
        self.probe(&xf);
        let wn = self.constant(&format!("{conv}.weight"), &dims, &w);
        let bname = self.constant(&format!("{conv}.bias"), &[c_out as i64], &bias);
        let conv_name = if relu || out.is_none() { conv_out } else { self.output_name(&result) };
        self.node("Conv", &[&xf, &wn, &bname], &conv_name, attrs);
        let y = if relu {
            let name = if out.is_some() { self.output_name(&result) } else { result.clone() };
            self.node("Relu", &[&conv_name], &name, vec![]);
            result
        } else {
            result
        };
        self.probe(&y);
        Ok(Act::float(y))
    }

    /// `Gemm` with a torch Linear layer (weight out×in, so transB), in f32 (f16 in that form).
    fn linear(&mut self, x: &Act, name: &str, output: Option<&str>) -> Result<Act, ExportError> {
        let xf = self.float(x);
        let (w, b) = (self.var(&format!("{name}.weight"))?, self.var(&format!("{name}.bias"))?);
        let dims = self.shape(&format!("{name}.weight"))?;
        let bn = self.constant(&format!("{name}.bias"), &[dims[0]], &b);
        let logical = match output {
            Some(o) => o.to_string(),
            None => self.fresh("gemm"),
        };
        let node_out = if output.is_some() { self.output_name(&logical) } else { logical.clone() };
        if self.form == GraphForm::F16 {
            // tract 0.23 types an f16 Gemm's output as f32 and refuses the graph: MatMul with
            // the weight stored transposed, then Add, says the same.
            let (o, i) = (dims[0] as usize, dims[1] as usize);
            let wt: Vec<f32> = (0..i * o).map(|k| w[(k % o) * i + k / o]).collect();
            let wn = self.constant(&format!("{name}.weight_t"), &[dims[1], dims[0]], &wt);
            let mm = format!("{logical}_mm");
            self.node("MatMul", &[&xf, &wn], &mm, vec![]);
            self.node("Add", &[&mm, &bn], &node_out, vec![]);
        } else {
            let wn = self.constant(&format!("{name}.weight"), &dims, &w);
            self.node("Gemm", &[&xf, &wn, &bn], &node_out, vec![attr_int("transB", 1)]);
        }
        Ok(Act::float(logical))
    }

    /// ReLU in float (after a residual sum; convolutions fuse their own).
    fn relu(&mut self, x: &Act, output: Option<&str>) -> Act {
        let xf = self.float(x);
        let logical = match output {
            Some(o) => o.to_string(),
            None => self.fresh("relu"),
        };
        let node_out = if output.is_some() { self.output_name(&logical) } else { logical.clone() };
        self.node("Relu", &[&xf], &node_out, vec![]);
        Act::float(logical)
    }

    /// An op on float values (dequantising u8 inputs).
    fn float_op(&mut self, op: &str, inputs: &[&Act], attrs: Vec<pb::AttributeProto>) -> Act {
        let names: Vec<String> = inputs.iter().map(|x| self.float(x)).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = self.fresh(&op.to_ascii_lowercase());
        self.node(op, &refs, &out, attrs);
        Act::float(out)
    }

    /// Max pooling keeps u8 values u8 (order is preserved by quantisation).
    fn max_pool(&mut self, x: &Act, attrs: Vec<pb::AttributeProto>) -> Act {
        let out = self.fresh("maxpool");
        self.node("MaxPool", &[&x.name], &out, attrs);
        Act { name: out, q: x.q }
    }
}

/// Symmetric int8 weights (zero point 0, ±127) and their scales: one per output channel, or
/// one for the whole tensor.
fn quantize_weights(w: &[f32], c_out: usize, per_channel: bool) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / c_out.max(1);
    let absmax = |v: &[f32]| v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let scales: Vec<f32> = if per_channel {
        (0..c_out).map(|c| (absmax(&w[c * per..(c + 1) * per]) / 127.0).max(1e-12)).collect()
    } else {
        vec![(absmax(w) / 127.0).max(1e-12)]
    };
    let q = w
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let s = scales[if per_channel { i / per.max(1) } else { 0 }];
            (v / s).round().clamp(-127.0, 127.0) as i8
        })
        .collect();
    (q, scales)
}

fn resnet(b: &mut Builder, input: Act, blocks: [usize; 4], bottleneck: bool) -> Result<(), ExportError> {
    let mut y = b.conv(&input, "conv1", Some("bn1"), 2, 3, true, None)?;
    y = b.max_pool(
        &y,
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
                z = b.conv(&z, &format!("{p}.conv{ci}"), Some(&format!("{p}.bn{ci}")), s, pad, ci < convs, None)?;
            }
            let shortcut = if b.vars.contains_key(&format!("{p}.downsample.0.weight")) {
                b.conv(&y, &format!("{p}.downsample.0"), Some(&format!("{p}.downsample.1")), stride, 0, false, None)?
            } else {
                y.clone()
            };
            let sum = b.float_op("Add", &[&z, &shortcut], vec![]);
            let is_last = li == last_layer && bi + 1 == n;
            y = b.relu(&sum, is_last.then_some(names::FEATURES));
        }
    }
    let features = Act::float(b.output_name(names::FEATURES));
    let pooled = b.float_op("GlobalAveragePool", &[&features], vec![]);
    let flat = b.float_op("Flatten", &[&pooled], vec![attr_int("axis", 1)]);
    b.linear(&flat, names::HEAD, Some(names::LOGITS))?;
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

fn vgg19(b: &mut Builder, input: Act, side: i64) -> Result<(), ExportError> {
    // torchvision's features.N indices of the convolutions, and which of them a 2×2 max-pool follows.
    let convs = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34];
    let pooled_after = [2, 7, 16, 25, 34];
    let h = side / 32;
    let (k, s) = uniform_pool(h, 7).ok_or_else(|| {
        ExportError::Unsupported(format!(
            "VGG19 at {side} px: the last pooled map is {h}×{h}, whose adaptive 7×7 pooling has unequal windows; \
             export at 224 or 256 px (or another side whose map divides into 7 equal windows)"
        ))
    })?;
    let mut y = input;
    for (i, idx) in convs.iter().enumerate() {
        let last = i + 1 == convs.len();
        y = b.conv(&y, &format!("features.{idx}"), None, 1, 1, true, last.then_some(names::FEATURES))?;
        if last {
            y = Act::float(b.output_name(names::FEATURES));
        }
        if pooled_after.contains(idx) {
            y = b.max_pool(&y, vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])]);
        }
    }
    y = b.float_op("AveragePool", &[&y], vec![attr_ints("kernel_shape", &[k, k]), attr_ints("strides", &[s, s])]);
    y = b.float_op("Flatten", &[&y], vec![attr_int("axis", 1)]);
    let a0 = b.linear(&y, "classifier.0", None)?;
    y = b.relu(&a0, None);
    let a3 = b.linear(&y, "classifier.3", None)?;
    y = b.relu(&a3, None);
    b.linear(&y, "classifier.6", Some(names::LOGITS))?;
    grad_cam_weights(b, &a0.name, &a3.name, side / 16)
}

/// Grad-CAM without autodiff for VGG19's head: the output `grad_cam_weights` (N × classes ×
/// 512) holds, for each class, the spatial mean of the class score's gradient with respect to
/// `features`, which is all Grad-CAM uses. Through the linear layers and ReLUs the gradient is
/// a product of masked weight matrices, W6 · diag(relu'(a3)) · W3 · diag(relu'(a0)) · W0; the
/// average and max pooling between `features` and the head only move each gradient value
/// within its window (average pooling spreads it over k² cells at 1/k² each, max pooling routes
/// it to the window's maximum), so the spatial sum per channel is the sum over the 7×7 pooled
/// cells, and the 512×h×w routing never needs building.
fn grad_cam_weights(b: &mut Builder, a0: &str, a3: &str, fside: i64) -> Result<(), ExportError> {
    use pb::tensor_proto::DataType;
    let f16 = b.form == GraphForm::F16;
    let float = if f16 { DataType::Float16 } else { DataType::Float };
    let zero = b.constant("grad.zero", &[], &[0.0]);
    let axis1 = b.raw("grad.axis1", &[1], DataType::Int64, 1i64.to_le_bytes().to_vec());
    let axis3 = b.raw("grad.axis3", &[1], DataType::Int64, 3i64.to_le_bytes().to_vec());
    // A torch Linear's weight as out×in (the f16 form stores it transposed).
    let weight = |b: &mut Builder, layer: &str| {
        if f16 {
            let t = format!("{layer}.weight_oi");
            b.node("Transpose", &[&format!("{layer}.weight_t")], &t, vec![attr_ints("perm", &[1, 0])])
        } else {
            format!("{layer}.weight")
        }
    };
    let mask = |b: &mut Builder, a: &str| {
        let gt = b.node("Greater", &[a, &zero], &format!("{a}_pos"), vec![]);
        let m = b.node("Cast", &[&gt], &format!("{a}_mask"), vec![attr_type("to", float)]);
        b.node("Unsqueeze", &[&m, &axis1], &format!("{a}_mask_u"), vec![])
    };
    let (m0, m3) = (mask(b, a0), mask(b, a3));
    let (w0, w3, w6) = (weight(b, "classifier.0"), weight(b, "classifier.3"), weight(b, "classifier.6"));
    let g3 = b.node("Mul", &[&m3, &w6], "grad.g3", vec![]);
    let g0 = b.node("MatMul", &[&g3, &w3], "grad.g0_pre", vec![]);
    let g0 = b.node("Mul", &[&g0, &m0], "grad.g0", vec![]);
    let flat = b.node("MatMul", &[&g0, &w0], "grad.pooled", vec![]);
    let classes = b.shape("classifier.6.weight")?[0];
    let shape = b.raw(
        "grad.shape",
        &[4],
        DataType::Int64,
        [0i64, classes, 512, -1].iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let cells = b.node("Reshape", &[&flat, &shape], "grad.cells", vec![]);
    let sum = b.node("ReduceSum", &[&cells, &axis3], "grad.sum", vec![attr_int("keepdims", 0)]);
    let inv = b.constant("grad.inv_cells", &[], &[1.0 / (fside * fside) as f32]);
    let out = b.output_name(names::GRAD_CAM_WEIGHTS);
    b.node("Mul", &[&sum, &inv], &out, vec![]);
    if f16 {
        b.node("Cast", &[&out], names::GRAD_CAM_WEIGHTS, vec![attr_type("to", DataType::Float)]);
    }
    Ok(())
}

/// The ONNX bytes of `arch` with the weights of `vs`, for `side`-pixel square inputs, in f32.
pub fn export_onnx(vs: &VarStore, arch: Arch, side: u32) -> Result<Vec<u8>, ExportError> {
    Ok(export_form(vs, arch, side, &GraphForm::F32)?.0)
}

/// The ONNX bytes in `form`, and (probe form) the names of the probed tensors, which follow
/// `logits` and `features` among the outputs.
pub fn export_form(
    vs: &VarStore,
    arch: Arch,
    side: u32,
    form: &GraphForm,
) -> Result<(Vec<u8>, Vec<String>), ExportError> {
    use pb::tensor_proto::DataType;
    let mut b = Builder::new(vs, arch, form.clone());
    let side = i64::from(side);
    let input = if *form == GraphForm::F16 {
        b.node("Cast", &[names::INPUT], "input_h", vec![attr_type("to", DataType::Float16)]);
        Act::float("input_h")
    } else {
        Act::float(names::INPUT)
    };
    match arch {
        Arch::ResNet18 => resnet(&mut b, input, [2, 2, 2, 2], false)?,
        Arch::ResNet50 => resnet(&mut b, input, [3, 4, 6, 3], true)?,
        Arch::Vgg19 => vgg19(&mut b, input, side)?,
    }
    if *form == GraphForm::F16 {
        for name in [names::LOGITS, names::FEATURES] {
            b.node("Cast", &[&format!("{name}_h")], name, vec![attr_type("to", DataType::Float)]);
        }
    }
    let classes = b.shape(&format!("{}weight", arch.head_prefix()))?[0];
    let (channels, fside) = match arch {
        Arch::ResNet18 => (512, (side + 31) / 32),
        Arch::ResNet50 => (2048, (side + 31) / 32),
        Arch::Vgg19 => (512, side / 16),
    };
    let mut output = vec![
        value_info(names::LOGITS, &[None, Some(classes)]),
        value_info(names::FEATURES, &[None, Some(channels), Some(fside), Some(fside)]),
    ];
    if arch == Arch::Vgg19 {
        output.push(value_info(names::GRAD_CAM_WEIGHTS, &[None, Some(classes), Some(channels)]));
    }
    output.extend(b.probes.iter().map(|p| value_info_typed(p, DataType::Float, None)));
    let graph = pb::GraphProto {
        name: format!("melanoscope-{}", arch.name()),
        node: b.nodes,
        initializer: b.initializers,
        input: vec![value_info(names::INPUT, &[None, Some(3), Some(side), Some(side)])],
        output,
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
    Ok((model.encode_to_vec(), b.probes))
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
    x.write_npy(path(names::INPUT))?;
    out.logits.f_to_device(tch::Device::Cpu)?.write_npy(path(names::LOGITS))?;
    out.features.f_to_device(tch::Device::Cpu)?.f_contiguous()?.write_npy(path(names::FEATURES))?;
    Ok(())
}
