use super::optim::{Optimizer, OptimizerKind, ParamGroup};
use super::step::{balanced_class_weights, predict, train_step};
use crate::model::{Arch, Network};
use tch::{Device, Kind, Tensor, nn, nn::VarStore};

/// Two parameters, `a.w` and `b.w`, and the loss Σ c·w² + Σ w (non-trivial, parameter-dependent gradients).
fn toy(values: [[f64; 3]; 2]) -> VarStore {
    let vs = VarStore::new(Device::Cpu);
    for (name, v) in ["a", "b"].iter().zip(values) {
        let t = (vs.root() / *name).var("w", &[3], nn::Init::Const(0.0));
        tch::no_grad(|| t.shallow_clone().copy_(&Tensor::from_slice(&v).to_kind(Kind::Float)));
    }
    vs
}

fn run(vs: &VarStore, opt: &mut Optimizer, steps: usize, lr: f64) {
    let c = Tensor::from_slice(&[0.5f32, 1.5, 3.0]);
    for _ in 0..steps {
        opt.zero_grad(vs);
        let v = vs.variables();
        let loss = (&v["a.w"] * &v["a.w"] * &c).sum(Kind::Float)
            + (&v["b.w"] * &v["b.w"] * &c).sum(Kind::Float)
            + v["a.w"].sum(Kind::Float);
        loss.backward();
        opt.apply(vs, lr).unwrap();
    }
}

fn values(vs: &VarStore, name: &str) -> Vec<f64> {
    let t = &vs.variables()[name];
    (0..3).map(|i| t.double_value(&[i])).collect()
}

const START: [[f64; 3]; 2] = [[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]];

#[test]
fn sgd_and_adamw_match_torch_optim_step_for_step() {
    let sgd = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
    let nesterov = OptimizerKind::Sgd { momentum: 0.9, nesterov: true };
    let adamw = OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let mut ours = Vec::new();
    for kind in [sgd, nesterov, adamw] {
        let vs = toy(START);
        let mut opt = Optimizer::new(kind, 0.01, vec![]);
        run(&vs, &mut opt, 5, 0.05);
        ours.push([values(&vs, "a.w"), values(&vs, "b.w")].concat());
    }
    // The same five steps with torch.optim, in the project's PyTorch.
    let script = "import torch, json\n\
        def run(make):\n    a = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)\n    b = torch.tensor([0.5, 0.25, -1.0], requires_grad=True)\n    c = torch.tensor([0.5, 1.5, 3.0])\n    opt = make([a, b])\n    for _ in range(5):\n        opt.zero_grad()\n        loss = (a * a * c).sum() + (b * b * c).sum() + a.sum()\n        loss.backward()\n        opt.step()\n    return a.tolist() + b.tolist()\n\
        print(json.dumps([\n    run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01)),\n    run(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),\n    run(lambda p: torch.optim.AdamW(p, lr=0.05, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01))]))\n";
    let python = std::env::var("VIRTUAL_ENV").map(|v| format!("{v}/bin/python")).unwrap_or("python3".into());
    let out = std::process::Command::new(python).args(["-c", script]).output().expect("python runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference: Vec<Vec<f64>> = serde_json::from_slice(&out.stdout).unwrap();
    for (k, (mine, theirs)) in ours.iter().zip(&reference).enumerate() {
        for (a, b) in mine.iter().zip(theirs) {
            assert!((a - b).abs() < 1e-5, "optimiser {k}: {mine:?} vs torch {theirs:?}");
        }
    }
}

#[test]
fn a_run_resumed_from_saved_state_is_exactly_the_uninterrupted_run() {
    let adamw = OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    let straight = toy(START);
    let mut opt = Optimizer::new(adamw, 0.01, vec![]);
    run(&straight, &mut opt, 6, 0.05);

    let dir = std::env::temp_dir().join(format!("msc-optim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let first = toy(START);
    let mut opt = Optimizer::new(adamw, 0.01, vec![]);
    run(&first, &mut opt, 3, 0.05);
    first.save(dir.join("weights.safetensors")).unwrap();
    opt.save(&dir.join("optim.safetensors")).unwrap();
    drop((first, opt));
    // A fresh process would start here.
    let mut resumed = toy([[0.0; 3]; 2]);
    resumed.load(dir.join("weights.safetensors")).unwrap();
    let mut opt = Optimizer::new(adamw, 0.01, vec![]);
    opt.load(&dir.join("optim.safetensors")).unwrap();
    assert_eq!(opt.step, 3);
    run(&resumed, &mut opt, 3, 0.05);
    for n in ["a.w", "b.w"] {
        assert_eq!(values(&resumed, n), values(&straight, n), "{n}");
    }
    std::fs::write(dir.join("bad.safetensors"), b"nope").unwrap();
    let err = opt.load(&dir.join("bad.safetensors")).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn groups_freeze_and_scale_the_rate() {
    let sgd = OptimizerKind::Sgd { momentum: 0.0, nesterov: false };
    let vs = toy(START);
    let groups = vec![
        ParamGroup { prefix: "a.".into(), lr_scale: 1.0, trainable: false },
        ParamGroup { prefix: "b.".into(), lr_scale: 0.1, trainable: true },
    ];
    let mut opt = Optimizer::new(sgd, 0.0, groups);
    assert_eq!(opt.frozen(&vs), vec!["a.w".to_string()]);
    run(&vs, &mut opt, 1, 1.0);
    assert_eq!(values(&vs, "a.w"), START[0].to_vec(), "frozen");
    // b moves by lr·scale·grad = 1.0·0.1·2c·b.
    let expect: Vec<f64> = START[1].iter().zip([0.5, 1.5, 3.0]).map(|(b, c)| b - 0.1 * 2.0 * c * b).collect();
    for (a, e) in values(&vs, "b.w").iter().zip(&expect) {
        assert!((a - e).abs() < 1e-6, "{a} vs {e}");
    }
    let w = balanced_class_weights(&[30, 10, 0]);
    assert!((w[0] - 40.0 / 60.0).abs() < 1e-12 && (w[1] - 2.0).abs() < 1e-12 && w[2] == 0.0, "{w:?}");
}

#[test]
fn a_resnet_learns_a_separable_task_with_weighted_loss() {
    tch::manual_seed(5);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), Arch::ResNet18, 2);
    let mut opt = Optimizer::new(OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 1e-4, vec![]);
    // Class 1 has a bright square in the middle; three times as many class-0 images.
    let make = |n: i64, seed: i64| {
        tch::manual_seed(seed);
        let x = Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu)) * 0.3;
        let y = Tensor::from_slice(&(0..n).map(|i| i64::from(i % 4 == 0)).collect::<Vec<_>>());
        let bump = y.to_kind(Kind::Float).view([n, 1, 1, 1]) * 2.0;
        let _ = x.narrow(2, 8, 16).narrow(3, 8, 16).f_add_(&bump).unwrap();
        (x, y)
    };
    let (x, y) = make(16, 1);
    let weights = Tensor::from_slice(&balanced_class_weights(&[12, 4])).to_kind(Kind::Float);
    let first = train_step(&net, &vs, &mut opt, &x, &y, Some(&weights), 1e-3).unwrap();
    let mut last = first;
    for _ in 0..25 {
        last = train_step(&net, &vs, &mut opt, &x, &y, Some(&weights), 1e-3).unwrap();
    }
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let (xt, yt) = make(16, 2);
    let p = predict(&net, &xt).unwrap();
    assert_eq!(p.size(), vec![16, 2]);
    let correct = p.argmax(-1, false).eq_tensor(&yt).sum(Kind::Int64).int64_value(&[]);
    assert!(correct >= 14, "{correct}/16 held-out images right");
}
