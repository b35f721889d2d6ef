use super::onnx::export_onnx;
use crate::model::{Arch, Network, seed_torch};
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
    assert_eq!(shapes, vec!["1,2".to_string(), "1,512,16,16".to_string()]);
}

#[test]
fn a_checkpoint_of_another_architecture_is_refused_by_name() {
    let (vs, _) = network(Arch::ResNet18, 2);
    let err = export_onnx(&vs, Arch::ResNet50, 64).unwrap_err().to_string();
    assert!(err.contains("resnet50") && err.contains("conv"), "{err}");
}
