"""Mixed-precision training throughput of the Learner against a plain AMP loop (CUDA).

Both sides train torchvision's resnet50 (random init, a new 10-class head, as
`nn.Sequential(body, head)`) on the whole model (the unfrozen phase, which dominates a
`fine_tune`), at 224 px, batch 64, with `channels_last` memory format, AdamW with the library's
defaults (betas (0.9, 0.99), eps 1e-5, weight decay 0.01, none for norm and bias parameters) at a
constant lr, and `zero_grad(set_to_none=True)`:

- `learner`: `Learner(..., mixed_precision=<bf16|fp16>, channels_last=True).fit(1)`, default callbacks,
  progress silenced by `no_bar()`, no validation set;
- `plain`: `torch.autocast('cuda', dtype)` around forward and loss, a `torch.amp.GradScaler` for fp16,
  model and batches converted to `channels_last`.

The batches are random tensors already on the GPU (a handful of distinct ones, cycled), so the data
pipeline is not what is measured. `cudnn.benchmark` is on for both. Timing synchronizes the device
before and after each run. Runs alternate (a warm-up round first, then `--rounds` rounds); the table
shows the median images/s of each side and the ratio learner / plain. Goal: >= 0.95.

Without CUDA it prints "CUDA not available: skipped" and exits 0. `--cpu` instead runs a tiny CPU
variant (resnet18 at 32 px, bf16 autocast; add `--precision bf16 fp16` for
the GradScaler path too, slowly: CPU fp16 convolutions are slow) that only exercises the code path: its numbers
say nothing about GPU throughput.

Run from the repository root: `python benchmarks/amp.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import copy, statistics, time

from common import Batches, alternate, arg_parser, machine, met, parse_args, plain_adamw, resnet_body_head, splitter  # first: it puts the repo on sys.path

import torch
from torch import nn

from finetune_nb.learner import DataLoaders, Learner

GOAL = 0.95
DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def learner_runner(model0, batches, precision, device):
    "A function timing one `fit(1)` of a Learner (the same Learner each call), returning images/s."
    learn = Learner(DataLoaders(batches), copy.deepcopy(model0), splitter=splitter, device=device,
                    mixed_precision=precision, channels_last=True)
    n_img = sum(len(y) for _, y in batches)
    def run():
        with learn.no_bar():
            sync(device); t0 = time.perf_counter()
            learn.fit(1)
            sync(device); t = time.perf_counter() - t0
        return n_img / t
    return run


def plain_runner(model0, batches, precision, device):
    "A function timing one epoch of a hand-written AMP loop (same model, optimizer, batches), returning images/s."
    model = copy.deepcopy(model0).to(device).to(memory_format=torch.channels_last)
    opt = plain_adamw(model)
    scaler = torch.amp.GradScaler(device.type) if precision == 'fp16' else None
    loss_func, dtype = nn.CrossEntropyLoss(), DTYPES[precision]
    n_img = sum(len(y) for _, y in batches)
    def run():
        model.train()
        sync(device); t0 = time.perf_counter()
        tot = 0.
        for xb, yb in batches:
            xb = xb.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            yb = yb.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype):
                loss = loss_func(model(xb), yb)
            if scaler is None:
                loss.backward(); opt.step()
            else:
                scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
            opt.zero_grad(set_to_none=True)
            tot = tot + loss.detach() * len(yb)
        _ = float(tot)                                    # the epoch's loss, as the Learner reports it
        sync(device); t = time.perf_counter() - t0
        return n_img / t
    return run


def main():
    p = arg_parser(__doc__, 'fewer steps and rounds', rounds=5, rounds_help='timed runs of each side (after one warm-up round)',
                   threads=False)
    p.add_argument('--cpu', action='store_true', help='without CUDA: run a tiny CPU variant to exercise the code path')
    p.add_argument('--arch', default='resnet50')
    p.add_argument('--precision', nargs='+', default=None, choices=list(DTYPES),
                   help='default: bf16 and fp16 on CUDA, bf16 only with --cpu (CPU fp16 convolutions are very slow)')
    p.add_argument('--steps', type=int, default=50, help='training steps per run')
    p.add_argument('--size', type=int, default=224)
    a = parse_args(p)

    if torch.cuda.is_available():
        device, small = torch.device('cuda'), False
        a.precision = a.precision or ['bf16', 'fp16']
        torch.backends.cudnn.benchmark = True
        if a.quick: a.rounds, a.steps = 2, 10
    elif a.cpu:
        device, small = torch.device('cpu'), True
        a.arch, a.size, a.bs, a.steps, a.rounds = 'resnet18', 32, 16, 3, 2
        a.precision = a.precision or ['bf16']
        if a.quick: a.steps, a.rounds = 2, 1
    else:
        print("CUDA not available: skipped (use --cpu for a tiny CPU run that only exercises the code path)")
        return

    model0 = resnet_body_head(10, a.arch, seed=a.seed, small_input=small)
    batches = Batches(a.steps, a.bs, a.size, device)
    note = ' (CPU code-path check only)' if device.type == 'cpu' else ''
    print(f"amp: {machine(device)}{note}")
    print(f"{a.arch}, whole model training, {a.size} px, bs {a.bs}, channels_last, {a.steps} steps per run, "
          f"{a.rounds} rounds (+1 warm-up)")
    print(f"\n{'precision':<11}{'learner img/s':>15}{'plain img/s':>13}{'learner / plain':>17}   goal >= {GOAL}x")
    for prec in a.precision:
        res = alternate({'learner': learner_runner(model0, batches, prec, device),
                         'plain': plain_runner(model0, batches, prec, device)}, a.rounds)
        lib, plain = statistics.median(res['learner']), statistics.median(res['plain'])
        print(f"{prec:<11}{lib:>15.1f}{plain:>13.1f}{lib / plain:>16.3f}x   {'' if device.type == 'cpu' else met(lib / plain, GOAL, at_most=False)}")
        if device.type == 'cuda': torch.cuda.empty_cache()
    if device.type == 'cpu': print("\n(CPU run: checks that both code paths work; the ratio is not the GPU goal)")


if __name__ == '__main__':
    main()
