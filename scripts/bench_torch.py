#!/usr/bin/env python3
"""PyTorch eager baseline for `melanoscope-train bench`: the same networks (torchvision's
ResNet50 and VGG19 with a 2-class head), the same optimiser (SGD, Nesterov momentum 0.9, weight
decay 1e-4), the same speed settings and batch, timed the same way (warm-up steps, then steps
between CUDA synchronisations) on one random batch kept on the device. Prints JSON rows in the
Rust bench's schema."""

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F
import torchvision


def build(arch: str) -> torch.nn.Module:
    return {"resnet18": torchvision.models.resnet18, "resnet50": torchvision.models.resnet50,
            "vgg19": torchvision.models.vgg19}[arch](num_classes=2)


def timed(step, warmup: int, steps: int, batch: int, device: torch.device):
    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return seconds, steps * batch / seconds


def measure(arch: str, speed: str, args, device: torch.device):
    fp16 = speed.startswith("fp16")
    channels_last = speed.endswith("-cl")
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    torch.manual_seed(1)
    model = build(arch).to(device).to(memory_format=fmt)
    x = torch.randn(args.batch_size, 3, args.size, args.size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 2, (args.batch_size,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=fp16)

    def train_step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
            loss = F.cross_entropy(model(x).float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    model.train()
    train = timed(train_step, args.warmup, args.steps, args.batch_size, device)

    def infer_step():
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=fp16):
            model(x).float().softmax(-1)

    model.eval()
    infer = timed(infer_step, args.warmup, args.steps, args.batch_size, device)
    rows = []
    for phase, (seconds, rate) in (("train", train), ("infer", infer)):
        rows.append({"arch": arch, "speed": speed, "phase": phase, "data": "random",
                     "batch_size": args.batch_size, "steps": args.steps, "seconds": seconds,
                     "patches_per_s": rate})
    del model, opt, x, y
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--archs", default="resnet50,vgg19")
    p.add_argument("--speeds", default="fp32,fp32-cl,fp16-cl")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cpu", action="store_true")
    args = p.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    torch.backends.cudnn.benchmark = True
    rows = []
    for arch in filter(None, args.archs.split(",")):
        for speed in filter(None, args.speeds.split(",")):
            for r in measure(arch.strip(), speed.strip(), args, device):
                print(json.dumps(r), file=sys.stderr, flush=True)
                rows.append(r)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(json.dumps({"torch": torch.__version__, "device": name, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
