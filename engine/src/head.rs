//! The class-activation weights of a pooled linear head, read from the ONNX file itself: the
//! exporter writes ResNet heads as `Gemm(features pooled, fc.weight, transB=1)` (or, in f16
//! exports, `MatMul` by `fc.weight_t`), so the edge needs no second copy of the head to draw
//! CAMs. VGG19 heads are not linear in the pooled features; their bundles carry the
//! `grad_cam_weights` output instead.

use crate::names;
use prost::Message;
use tract_onnx::pb::{ModelProto, TensorProto, tensor_proto::DataType};

fn half_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1F);
    let frac = f32::from(h & 0x3FF);
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 => {
            if frac == 0.0 {
                sign * f32::INFINITY
            } else {
                f32::NAN
            }
        }
        _ => sign * (1.0 + frac / 1024.0) * 2f32.powi(exp - 15),
    }
}

fn values(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type == DataType::Float as i32 {
        if !t.float_data.is_empty() {
            return Some(t.float_data.clone());
        }
        return Some(t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
    }
    if t.data_type == DataType::Float16 as i32 {
        return Some(t.raw_data.chunks_exact(2).map(|b| half_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect());
    }
    None
}

/// The head's weights as classes x channels (row-major), if the model has a linear head.
pub fn linear_head_weights(onnx: &[u8]) -> Option<Vec<f32>> {
    let model = ModelProto::decode(onnx).ok()?;
    let graph = model.graph?;
    let find = |name: &str| graph.initializer.iter().find(|t| t.name == name);
    if let Some(w) = find(names::HEAD_WEIGHT) {
        let v = values(w)?;
        return (w.dims.len() == 2 && v.len() as i64 == w.dims[0] * w.dims[1]).then_some(v);
    }
    let w = find(names::HEAD_WEIGHT_T)?;
    let v = values(w)?;
    let [channels, classes] = [usize::try_from(*w.dims.first()?).ok()?, usize::try_from(*w.dims.get(1)?).ok()?];
    if v.len() != channels * classes {
        return None;
    }
    Some((0..classes * channels).map(|k| v[(k % channels) * classes + k / channels]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(init: TensorProto) -> Vec<u8> {
        let graph = tract_onnx::pb::GraphProto { initializer: vec![init], ..Default::default() };
        ModelProto { graph: Some(graph), ..Default::default() }.encode_to_vec()
    }

    #[test]
    fn reads_f32_and_transposed_f16_heads() {
        let w = [1.0f32, 2.0, 3.0, -4.0, 0.5, 6.0];
        let raw: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = TensorProto {
            name: "fc.weight".into(),
            dims: vec![2, 3],
            data_type: DataType::Float as i32,
            raw_data: raw,
            ..Default::default()
        };
        assert_eq!(linear_head_weights(&model(t)).unwrap(), w.to_vec());
        // The same head stored transposed (channels x classes) in half precision.
        let halves: [u16; 6] = [0x3C00, 0xC400, 0x4000, 0x3800, 0x4200, 0x4600]; // 1,-4,2,0.5,3,6
        let raw: Vec<u8> = halves.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = TensorProto {
            name: "fc.weight_t".into(),
            dims: vec![3, 2],
            data_type: DataType::Float16 as i32,
            raw_data: raw,
            ..Default::default()
        };
        assert_eq!(linear_head_weights(&model(t)).unwrap(), w.to_vec());
        assert!(linear_head_weights(b"not onnx").is_none());
        let t = TensorProto { name: "other".into(), ..Default::default() };
        assert!(linear_head_weights(&model(t)).is_none());
    }
}
