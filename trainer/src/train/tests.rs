use super::mixed::SpeedConfig;
use super::optim::{Optimizer, OptimizerKind, ParamGroup};
use super::step::{StepSettings, balanced_class_weights, predict, train_step};
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

    let dir = melanoscope_shared::scratch::ScratchDir::new("optim");
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

/// Unfreezing mid-run rebuilds the flat layout: the parameter that trained keeps its momentum
/// (the loss is separable, so `b` must follow the never-frozen run exactly) and the newly
/// trainable one starts from fresh state.
#[test]
fn unfreezing_mid_run_keeps_the_state_of_what_trained() {
    let sgd = OptimizerKind::Sgd { momentum: 0.9, nesterov: false };
    let frozen_a = vec![ParamGroup { prefix: "a.".into(), lr_scale: 1.0, trainable: false }];
    let staged = toy(START);
    let mut opt = Optimizer::new(sgd, 0.0, frozen_a);
    run(&staged, &mut opt, 2, 0.05);
    opt.groups.clear();
    run(&staged, &mut opt, 2, 0.05);

    let straight = toy(START);
    run(&straight, &mut Optimizer::new(sgd, 0.0, vec![]), 4, 0.05);
    assert_eq!(values(&staged, "b.w"), values(&straight, "b.w"), "b kept its momentum");
    // Both now live in one buffer, each at a 512-byte boundary from its start (cuDNN faults on
    // weights at odd addresses).
    let v = staged.variables();
    let gap = v["b.w"].data_ptr() as usize - v["a.w"].data_ptr() as usize;
    assert_eq!(gap, 512, "a.w (3 floats) padded to 128 elements");
    let two = toy(START);
    run(&two, &mut Optimizer::new(sgd, 0.0, vec![]), 2, 0.05);
    assert_eq!(values(&staged, "a.w"), values(&two, "a.w"), "a trained two steps from fresh state");
}

/// Channels-last weights stay channels-last as views of the flat buffer, train like the plain
/// layout, and their saved optimiser state has the parameters' logical shapes.
#[test]
fn channels_last_weights_train_in_the_flat_layout_like_plain_ones() {
    let _rng = crate::model::seed_torch(11);
    let init = VarStore::new(Device::Cpu);
    let _ = Network::new(&init.root(), Arch::ResNet18, 2);
    let x = Tensor::randn([8, 3, 64, 64], (Kind::Float, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 1, 0, 1, 0, 0, 1]);
    let dir = melanoscope_shared::scratch::ScratchDir::new("flat");
    let run = |speed: SpeedConfig, state: &std::path::Path| {
        let mut vs = VarStore::new(Device::Cpu);
        let net = Network::new(&vs.root(), Arch::ResNet18, 2);
        vs.copy(&init).unwrap();
        speed.prepare(&vs).unwrap();
        // SGD: an update linear in the gradient (Adam's first steps are near sign(g), which
        // turns rounding-level differences between the two layouts into different updates).
        let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: false }, 1e-4, vec![]);
        let settings = StepSettings { class_weights: None, lr: 0.005, train_mode: true, speed };
        let xs = speed.layout(x.shallow_clone()).unwrap();
        let losses: Vec<f64> = (0..3)
            .map(|_| train_step(&net, &vs, &mut opt, &xs, &y, settings, None).unwrap().double_value(&[]))
            .collect();
        opt.save(state).unwrap();
        (vs, losses)
    };
    let (plain, plain_losses) = run(SpeedConfig::FP32, &dir.join("plain.safetensors"));
    let (cl, cl_losses) = run(SpeedConfig { channels_last: true, ..SpeedConfig::FP32 }, &dir.join("cl.safetensors"));
    for (a, b) in plain_losses.iter().zip(&cl_losses) {
        assert!((a - b).abs() < 1e-4 * a.abs().max(1.0), "{plain_losses:?} vs {cl_losses:?}");
    }
    let w = &cl.variables()["conv1.weight"];
    assert_eq!(w.stride(), vec![w.size()[1] * 49, 1, 7 * w.size()[1], w.size()[1]], "still channels-last");
    let diff = (w - &plain.variables()["conv1.weight"]).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "weights differ by {diff}");
    let a = Tensor::read_safetensors(dir.join("plain.safetensors")).unwrap();
    let b = Tensor::read_safetensors(dir.join("cl.safetensors")).unwrap();
    let find = |v: &[(String, Tensor)], n: &str| v.iter().find(|(k, _)| k == n).unwrap().1.shallow_clone();
    let (sa, sb) = (find(&a, "first.conv1.weight"), find(&b, "first.conv1.weight"));
    assert_eq!(sa.size(), w.size());
    let (gap, size) = ((&sa - &sb).abs().max().double_value(&[]), sa.abs().max().double_value(&[]));
    // Convolution gradients differ at the rounding level between layouts; reading the state
    // in memory order instead of logical order would differ at the level of the values.
    let misread = sb.permute([0, 2, 3, 1]).contiguous().view(sa.size().as_slice());
    let wrong = (&sa - &misread).abs().max().double_value(&[]);
    assert!(
        gap < 1e-2 * size && gap * 10.0 < wrong,
        "state in logical order: differs by {gap} (largest {size}, misread {wrong})"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resnet_learns_a_separable_task_with_weighted_loss() {
    let _rng = crate::model::seed_torch(5);
    let vs = VarStore::new(Device::Cpu);
    let net = Network::new(&vs.root(), Arch::ResNet18, 2);
    let mut opt = Optimizer::new(OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 1e-4, vec![]);
    // Class 1 has a bright square in the middle; three times as many class-0 images.
    let make = |n: i64, seed: i64| {
        tch::manual_seed(seed); // the test holds the generator (seed_torch above)
        let x = Tensor::randn([n, 3, 32, 32], (Kind::Float, Device::Cpu)) * 0.3;
        let y = Tensor::from_slice(&(0..n).map(|i| i64::from(i % 4 == 0)).collect::<Vec<_>>());
        let bump = y.to_kind(Kind::Float).view([n, 1, 1, 1]) * 2.0;
        let _ = x.narrow(2, 8, 16).narrow(3, 8, 16).f_add_(&bump).unwrap();
        (x, y)
    };
    let (x, y) = make(16, 1);
    let weights = Tensor::from_slice(&balanced_class_weights(&[12, 4])).to_kind(Kind::Float);
    let settings = StepSettings { class_weights: Some(&weights), lr: 1e-3, train_mode: true, speed: SpeedConfig::FP32 };
    let step = |opt: &mut Optimizer| train_step(&net, &vs, opt, &x, &y, settings, None).unwrap().double_value(&[]);
    let first = step(&mut opt);
    let mut last = first;
    for _ in 0..25 {
        last = step(&mut opt);
    }
    assert!(last < 0.5 * first, "loss {first} -> {last}");
    let (xt, yt) = make(16, 2);
    let p = predict(&net, &xt, SpeedConfig::FP32).unwrap();
    assert_eq!(p.size(), vec![16, 2]);
    let correct = p.argmax(-1, false).eq_tensor(&yt).sum(Kind::Int64).int64_value(&[]);
    assert!(correct >= 14, "{correct}/16 held-out images right");
}

mod fitting {
    use crate::data::augment::AugmentConfig;
    use crate::data::loader::{LoaderConfig, Sample};
    use crate::model::Arch;
    use crate::train::fit::{FitConfig, Strategy, fit};
    use crate::train::optim::OptimizerKind;
    use melanoscope_shared::image::{Normalization, RgbImage, save_rgb};
    use melanoscope_shared::rng::SplitMix64;
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use tch::{Device, nn::VarStore};

    /// Pink stroma-like noise; class 1 also carries dark purple nuclei.
    fn files(dir: &Path, n: usize, seed: u64) -> Vec<Sample> {
        std::fs::create_dir_all(dir).unwrap();
        let mut rng = SplitMix64::new(seed);
        (0..n)
            .map(|i| {
                let class = i % 2;
                let mut img = RgbImage::filled(64, 64, [0; 3]).unwrap();
                for y in 0..64 {
                    for x in 0..64 {
                        let j = (rng.below(30)) as u8;
                        img.put(x, y, [200 + j / 2, 120 + j, 170 + j / 2]);
                    }
                }
                if class == 1 {
                    for _ in 0..6 {
                        let (cx, cy) = (rng.below(56) as u32 + 4, rng.below(56) as u32 + 4);
                        for y in cy - 3..cy + 3 {
                            for x in cx - 3..cx + 3 {
                                img.put(x, y, [80, 40, 130]);
                            }
                        }
                    }
                }
                let path = dir.join(format!("{seed}-{i}.png"));
                save_rgb(&path, &img).unwrap();
                Sample { slide: path, x0: 0, y0: 0, um_per_px: 0.25, patch_size: 64, class }
            })
            .collect()
    }

    fn config(out: PathBuf, strategy: Strategy) -> FitConfig {
        FitConfig {
            arch: Arch::ResNet18,
            classes: 2,
            epochs: 4,
            loader: LoaderConfig {
                batch_size: 8,
                workers: 2,
                prefetch: 2,
                seed: 3,
                shuffle: true,
                augment: AugmentConfig { dihedral: true, ..AugmentConfig::none() },
                normalization: Normalization::IMAGENET,
                size: 64,
                slide_cache: 4,
            },
            optimizer: OptimizerKind::AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
            lr: 1e-3,
            weight_decay: 1e-4,
            warmup_epochs: 1,
            strategy,
            balance_classes: true,
            patience: 10,
            weights: None,
            out_dir: out,
            device: Device::Cpu,
            speed: crate::train::mixed::SpeedConfig::FP32,
            init_seed: 11,
            stop_after: None,
            progress: crate::train::fit::Progress::Quiet,
        }
    }

    /// The line `train` prints after each epoch (it printed nothing for minutes on a CPU).
    #[test]
    fn each_epoch_is_one_line_with_loss_auc_and_time() {
        use crate::train::fit::{EpochLog, FitState, epoch_line};
        let h = EpochLog {
            epoch: 2,
            train_loss: 0.41234,
            val_auc: 0.93125,
            lr_end: 2.1e-4,
            seconds: 54.2,
            skipped_samples: 0,
        };
        let state = FitState { best_epoch: Some(2), ..FitState::default() };
        let line = epoch_line(&h, 10, &state, 3);
        assert_eq!(
            line,
            "epoch 3/10: train loss 0.4123, validation AUC 0.9313 (best so far, saved), learning rate 2.10e-4, 54 s"
        );
        let stopped = FitState { best_epoch: Some(0), stopped_early: true, ..FitState::default() };
        assert!(epoch_line(&h, 10, &stopped, 3).ends_with("; stopping: 3 epochs without a better validation AUC"));
    }

    #[test]
    fn training_learns_checkpoints_and_resumes_bit_for_bit() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("fit");
        let train = Arc::new(files(&dir.join("train"), 24, 1));
        let val = Arc::new(files(&dir.join("val"), 12, 2));

        let straight =
            fit(&config(dir.join("straight"), Strategy::FineTune), train.clone(), val.clone(), false).unwrap();
        assert_eq!(straight.epochs_done, 4);
        assert!(straight.best_val_auc.unwrap() >= 0.9, "{:?}", straight.history);
        assert!(dir.join("straight/best.safetensors").exists() && dir.join("straight/last-3.safetensors").exists());
        assert!(!dir.join("straight/last-2.safetensors").exists(), "older checkpoints are removed");

        // Interrupted after two epochs, then resumed: the same weights and history as straight.
        let cut = config(dir.join("resumed"), Strategy::FineTune);
        let half = fit(&FitConfig { stop_after: Some(2), ..cut.clone() }, train.clone(), val.clone(), false).unwrap();
        assert_eq!(half.epochs_done, 2);
        let resumed = fit(&cut, train.clone(), val.clone(), true).unwrap();
        assert_eq!(resumed.epochs_done, 4);
        for (a, b) in resumed.history.iter().zip(&straight.history) {
            assert_eq!((a.train_loss, a.val_auc, a.lr_end), (b.train_loss, b.val_auc, b.lr_end), "epoch {}", a.epoch);
        }
        let load = |p: PathBuf| {
            let mut vs = VarStore::new(Device::Cpu);
            let _ = crate::model::Network::new(&vs.root(), Arch::ResNet18, 2);
            vs.load(p).unwrap();
            vs.variables()
        };
        let (a, b) = (load(dir.join("straight/last-3.safetensors")), load(dir.join("resumed/last-3.safetensors")));
        for (name, t) in &a {
            assert!(t.equal(&b[name]), "{name} differs after resuming");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_diverging_run_stops_at_the_bad_step_and_keeps_the_last_good_checkpoint() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("nan");
        let train = Arc::new(files(&dir.join("train"), 16, 7));
        let val = Arc::new(files(&dir.join("val"), 8, 8));
        let good = FitConfig { epochs: 3, stop_after: Some(1), ..config(dir.join("run"), Strategy::FineTune) };
        fit(&good, train.clone(), val.clone(), false).unwrap();
        let state = std::fs::read_to_string(dir.join("run/state.json")).unwrap();
        // Then a learning rate that blows the weights up.
        let wild = FitConfig { lr: 1e12, warmup_epochs: 0, stop_after: None, ..good };
        let err = fit(&wild, train, val, true).unwrap_err().to_string();
        assert!(
            err.contains("optimiser step") && err.contains("epoch 1") && err.contains("last-0.safetensors"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(dir.join("run/state.json")).unwrap(), state, "nothing written");
        assert!(dir.join("run/last-0.safetensors").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_linear_probe_moves_only_the_head() {
        let dir = melanoscope_shared::scratch::ScratchDir::new("probe");
        let train = Arc::new(files(&dir.join("train"), 16, 5));
        let val = Arc::new(files(&dir.join("val"), 8, 6));
        let cfg = FitConfig { epochs: 2, ..config(dir.join("run"), Strategy::LinearProbe) };
        fit(&cfg, train, val, false).unwrap();
        // The same initialisation, untrained, against the trained checkpoint.
        let _rng = crate::model::seed_torch(cfg.init_seed);
        let fresh = VarStore::new(Device::Cpu);
        let _ = crate::model::Network::new(&fresh.root(), Arch::ResNet18, 2);
        let mut trained = VarStore::new(Device::Cpu);
        let _ = crate::model::Network::new(&trained.root(), Arch::ResNet18, 2);
        trained.load(dir.join("run/last-1.safetensors")).unwrap();
        let (f, t) = (fresh.variables(), trained.variables());
        for (name, v) in &f {
            let same = v.equal(&t[name]);
            assert_eq!(same, !name.starts_with("fc."), "{name}: changed = {}", !same);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

mod speed {
    use crate::model::{Arch, Network};
    use crate::train::mixed::{Arithmetic, LossScaler, SpeedConfig, channels_last};
    use crate::train::optim::{Optimizer, OptimizerKind};
    use crate::train::step::{StepSettings, train_step};
    use tch::{Device, Kind, Tensor, nn::VarStore};

    #[test]
    fn speed_modes_parse_and_name_round_trip() {
        for name in ["fp32", "fp32-cl", "fp16", "fp16-cl"] {
            assert_eq!(SpeedConfig::parse(name).unwrap().name(), name);
        }
        assert_eq!(
            SpeedConfig::parse("FP16-CL").unwrap(),
            SpeedConfig { precision: Arithmetic::Fp16, channels_last: true }
        );
        assert!(SpeedConfig::parse("bf8").unwrap_err().to_string().contains("expected fp32"));
        assert_eq!(SpeedConfig::fastest_for(Device::Cpu), SpeedConfig::FP32);
    }

    #[test]
    fn channels_last_keeps_values_and_reorders_memory() {
        let x = Tensor::arange(2 * 3 * 4 * 5, (Kind::Float, Device::Cpu)).view([2, 3, 4, 5]);
        let cl = channels_last(&x).unwrap();
        assert_eq!(cl.size(), x.size());
        assert!(cl.equal(&x), "same values");
        assert_eq!(cl.stride(), vec![60, 1, 15, 3], "NHWC strides");
    }

    #[test]
    fn the_loss_scaler_skips_overflowing_steps_and_grows_after_clean_ones() {
        let mut s = LossScaler { growth_interval: 3, ..LossScaler::new() };
        let mut grads = Tensor::from_slice(&[65_536.0f32, -131_072.0, 32_768.0]);
        assert!(s.unscale(&mut grads).unwrap());
        assert_eq!(Vec::<f32>::try_from(&grads).unwrap(), vec![1.0, -2.0, 0.5]);
        let mut bad = Tensor::from_slice(&[1.0f32, f32::INFINITY]);
        assert!(!s.unscale(&mut bad).unwrap());
        s.update(false);
        assert_eq!((s.scale, s.skipped_steps), (32_768.0, 1));
        for _ in 0..3 {
            s.update(true);
        }
        assert_eq!(s.scale, 65_536.0, "doubled after growth_interval clean steps");
    }

    /// Scaling by a power of two and dividing back is exact in binary floating point, so on the
    /// CPU (where autocast does nothing) the fp16 path must train bit for bit like fp32.
    #[test]
    fn loss_scaling_is_exact_so_fp16_mode_matches_fp32_on_the_cpu() {
        let _rng = crate::model::seed_torch(9);
        // One initial network and batch, copied into both runs (the global seed is shared
        // with tests running beside this one).
        let init = VarStore::new(Device::Cpu);
        let _ = Network::new(&init.root(), Arch::ResNet18, 2);
        let x = Tensor::randn([4, 3, 32, 32], (Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 0, 1]);
        let run = |speed: SpeedConfig| {
            let mut vs = VarStore::new(Device::Cpu);
            let net = Network::new(&vs.root(), Arch::ResNet18, 2);
            vs.copy(&init).unwrap();
            speed.prepare(&vs).unwrap();
            let mut opt = Optimizer::new(OptimizerKind::Sgd { momentum: 0.9, nesterov: true }, 1e-4, vec![]);
            let mut scaler = (speed.precision == Arithmetic::Fp16).then(LossScaler::new);
            (0..3)
                .map(|_| {
                    let settings = StepSettings { class_weights: None, lr: 0.05, train_mode: true, speed };
                    let x = speed.layout(x.shallow_clone()).unwrap();
                    train_step(&net, &vs, &mut opt, &x, &y, settings, scaler.as_mut()).unwrap().double_value(&[])
                })
                .collect::<Vec<f64>>()
        };
        let fp32 = run(SpeedConfig::FP32);
        let fp16 = run(SpeedConfig { precision: Arithmetic::Fp16, channels_last: false });
        assert_eq!(fp32, fp16);
        assert!(fp32[2] != fp32[0], "the steps changed the network");
    }
}
