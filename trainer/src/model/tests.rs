use super::*;
use tch::{Device, Kind, nn::VarStore};

fn build(arch: Arch, classes: i64) -> (VarStore, Network) {
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), arch, classes);
    (vs, net)
}

fn param_count(vs: &VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

#[test]
fn architectures_match_torchvision_parameter_counts_and_names() {
    // torchvision's published parameter counts with the 1000-class ImageNet head, and its
    // state-dict sizes less the `num_batches_tracked` entries (20, 53 and 0).
    for (arch, params, entries) in
        [(Arch::ResNet18, 11_689_512, 122 - 20), (Arch::ResNet50, 25_557_032, 320 - 53), (Arch::Vgg19, 143_667_240, 38)]
    {
        let (vs, _) = build(arch, 1000);
        assert_eq!(param_count(&vs), params, "{arch}");
        assert_eq!(vs.variables().len(), entries, "{arch}");
    }
    let (vs, _) = build(Arch::ResNet50, 1000);
    let v = vs.variables();
    assert_eq!(v["layer4.2.conv3.weight"].size(), [2048, 512, 1, 1]);
    assert_eq!(v["layer2.0.downsample.0.weight"].size(), [512, 256, 1, 1]);
    assert_eq!(v["layer2.0.conv2.weight"].size(), [128, 128, 3, 3], "stride sits on the 3x3 (v1.5)");
    assert_eq!(v["bn1.running_var"].size(), [64]);
    let (vs, _) = build(Arch::Vgg19, 2);
    let v = vs.variables();
    assert_eq!(v["features.34.weight"].size(), [512, 512, 3, 3]);
    assert_eq!(v["classifier.0.weight"].size(), [4096, 25088]);
    assert_eq!(v["classifier.6.weight"].size(), [2, 4096]);
}

#[test]
fn forward_returns_feature_maps_and_logits_at_any_input_size() {
    let _rng = seed_torch(1);
    let x = Tensor::randn([2, 3, 256, 256], (Kind::Float, Device::Cpu));
    let (_, r18) = build(Arch::ResNet18, 3);
    let out = r18.forward_t(&x, false);
    assert_eq!((out.features.size(), out.logits.size()), (vec![2, 512, 8, 8], vec![2, 3]));
    assert_eq!(r18.feature_channels(), 512);
    // ResNet's logits are the linear head on the average-pooled features (what CAM relies on).
    if let Network::ResNet(r) = &r18 {
        let pooled = out.features.mean_dim([2i64, 3].as_slice(), false, Kind::Float);
        let again = pooled.apply(&r.fc);
        assert!(again.allclose(&out.logits, 1e-5, 1e-5, false));
    }
    let (_, r50) = build(Arch::ResNet50, 2);
    let out = r50.forward_t(&x.narrow(0, 0, 1), false);
    assert_eq!((out.features.size(), out.logits.size()), (vec![1, 2048, 8, 8], vec![1, 2]));
    let (_, vgg) = build(Arch::Vgg19, 2);
    for side in [224, 256] {
        let out = vgg.forward_t(&x.narrow(0, 0, 1).narrow(2, 0, side).narrow(3, 0, side), false);
        assert_eq!(out.features.size(), vec![1, 512, side / 16, side / 16]);
        assert_eq!(out.logits.size(), vec![1, 2]);
        assert!(out.features.min().double_value(&[]) >= 0.0, "features come after the ReLU");
    }
}

#[test]
fn weights_load_by_name_replace_the_head_and_name_every_mismatch() {
    let _rng = seed_torch(2);
    let dir = melanoscope_shared::scratch::ScratchDir::new("weights");
    let temp = |name: &str| dir.join(name);
    let (src_vs, src) = build(Arch::ResNet18, 1000);
    let file = temp("r18.safetensors");
    src_vs.save(&file).unwrap();
    let x = Tensor::randn([1, 3, 64, 64], (Kind::Float, Device::Cpu));

    // Same architecture and head: identical outputs after loading.
    tch::manual_seed(3); // the test holds the generator (seed_torch above)
    let (mut vs, net) = build(Arch::ResNet18, 1000);
    assert!(!net.forward_t(&x, false).logits.allclose(&src.forward_t(&x, false).logits, 1e-6, 1e-6, false));
    let report = load_weights(&mut vs, &file, &[]).unwrap();
    assert_eq!(report.loaded, 102);
    assert!(net.forward_t(&x, false).logits.allclose(&src.forward_t(&x, false).logits, 1e-6, 1e-6, false));

    // A new 2-class head: the backbone loads, the head keeps its initialisation.
    let (mut vs, net) = build(Arch::ResNet18, 2);
    let report = load_weights(&mut vs, &file, &[Arch::ResNet18.head_prefix()]).unwrap();
    assert_eq!((report.loaded, report.skipped_head.len(), report.ignored.len()), (100, 2, 2));
    assert!(net.forward_t(&x, false).features.allclose(&src.forward_t(&x, false).features, 1e-6, 1e-6, false));
    // ... but without saying the head is replaced, the 1000-class head does not fit.
    let err = load_weights(&mut vs, &file, &[]).unwrap_err().to_string();
    assert!(
        err.contains("2 of another shape") && err.contains("fc.weight (model [2, 512], file [1000, 512])"),
        "{err}"
    );

    // A file missing a tensor and carrying a stray one; a pickle; no file at all.
    let mut entries: Vec<(String, Tensor)> =
        src_vs.variables().into_iter().filter(|(n, _)| n != "layer3.1.bn2.weight").collect();
    entries.push(("layer5.0.conv1.weight".into(), Tensor::zeros([1], (Kind::Float, Device::Cpu))));
    entries.push(("bn1.num_batches_tracked".into(), Tensor::zeros([], (Kind::Int64, Device::Cpu))));
    let broken = temp("broken.safetensors");
    Tensor::write_safetensors(&entries, &broken).unwrap();
    let (mut vs, _) = build(Arch::ResNet18, 1000);
    let err = load_weights(&mut vs, &broken, &[]).unwrap_err().to_string();
    assert!(err.contains("broken.safetensors"), "{err}");
    assert!(err.contains("1 missing from the file: layer3.1.bn2.weight"), "{err}");
    assert!(err.contains("1 in the file but not in the model: layer5.0.conv1.weight"), "{err}");
    assert!(!err.contains("num_batches_tracked"), "{err}");
    std::fs::write(temp("r.pth"), b"not really").unwrap();
    let err = load_weights(&mut vs, &temp("r.pth"), &[]).unwrap_err().to_string();
    assert!(err.contains("pth_to_safetensors.py"), "{err}");
    let err = load_weights(&mut vs, &temp("absent.safetensors"), &[]).unwrap_err().to_string();
    assert!(err.contains("does not exist") && err.contains("--weights none"), "{err}");
}

#[test]
fn torchvision_style_pth_state_dicts_convert_and_load() {
    // A state dict saved by PyTorch itself (pickle, with num_batches_tracked entries), with the
    // names and shapes of this ResNet18, converted by the project's script and loaded here.
    let (vs, _) = build(Arch::ResNet18, 10);
    let shapes: serde_json::Map<String, serde_json::Value> =
        vs.variables().iter().map(|(n, t)| (n.clone(), serde_json::json!(t.size()))).collect();
    let dir = melanoscope_shared::scratch::ScratchDir::new("weights-pth");
    let (pth, out) = (dir.join("state.pth"), dir.join("state.safetensors"));
    let python = std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or("python3".into());
    let make = format!(
        "import torch, json, collections\n\
         shapes = json.loads('{}')\n\
         sd = collections.OrderedDict()\n\
         for i, (n, s) in enumerate(sorted(shapes.items())):\n    sd[n] = torch.full(s, float(i) / 100)\n\
         sd['bn1.num_batches_tracked'] = torch.tensor(7)\n\
         torch.save(sd, '{}')\n",
        serde_json::Value::Object(shapes.clone()),
        pth.display()
    );
    let run = |args: &[&str]| {
        let o = std::process::Command::new(&python).args(args).output().expect("python runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run(&["-c", &make]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pth_to_safetensors.py");
    run(&[script, pth.to_str().unwrap(), out.to_str().unwrap()]);
    let (mut vs, _) = build(Arch::ResNet18, 10);
    let report = load_weights(&mut vs, &out, &[]).unwrap();
    assert_eq!((report.loaded, report.ignored), (102, vec!["bn1.num_batches_tracked".to_string()]));
    let mut names: Vec<&String> = shapes.keys().collect();
    names.sort();
    let k = names.iter().position(|n| *n == "layer2.0.conv1.weight").unwrap();
    let v = vs.variables()["layer2.0.conv1.weight"].double_value(&[0, 0, 0, 0]);
    assert!((v - k as f64 / 100.0).abs() < 1e-6, "{v} vs {}", k as f64 / 100.0);
}
