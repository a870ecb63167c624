"""Overhead of `Learner.fit` against a plain PyTorch training loop.

Both sides train the same small CNN (3 conv + BatchNorm layers on 32x32x3 inputs, batch 64) on the
same `DataLoader`s, with the same optimizer: `torch.optim.AdamW(betas=(0.9, 0.99), eps=1e-5)`,
weight decay 0.01 except for normalization and bias parameters (the library's default param groups,
rebuilt by hand for the baseline), a constant lr of 1e-3 and `zero_grad(set_to_none=True)`.
Each epoch ends with a validation pass computing the loss and the accuracy, on both sides, and
both sides keep the epoch's mean training loss.

Three variants are timed, in alternating order (a warm-up round first, then `--rounds` rounds,
each round running every variant once, the starting variant rotating from round to round):

- `learner (no_bar)`: `Learner.fit` with the default callbacks (Recorder) and progress silenced
  by `learn.no_bar()`;
- `learner (progress, no tty)`: `Learner.fit` with the default `ProgressCallback` active while
  stdout/stderr are not a terminal (the default in scripts and CI: no bars, one table row per epoch);
- `plain loop`: the hand-written loop.

Every run builds a fresh model from the same seed and reshuffles from the same seed. The table shows
the median seconds per epoch of each variant; the ratios are median(learner) / median(plain), and
the median of the per-round ratios (paired, less sensitive to drifting background load) and the
ratio of the fastest runs (background load only ever adds time).
Goal: learner / plain <= 1.05.

A second table repeats the comparison on a near-free model (mean-pool, BatchNorm1d, linear), where
the time difference is the per-batch cost of the Learner's machinery itself (callback dispatch,
Recorder, progress), shown in microseconds and as a share of a small-CNN batch: a number much less
sensitive to background load than the ratio. It runs on one thread (the ops are too small to
parallelize, and one thread is not stalled by other processes the way two threads on two cores are).

Run from the repository root: `python benchmarks/overhead.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import contextlib, io, statistics, time

from common import alternate, arg_parser, machine, parse_args, plain_adamw, plain_validate, verdict  # first: it puts the repo on sys.path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from finetune_nb.learner import DataLoaders, Learner
from finetune_nb.callbacks import accuracy

GOAL = 1.05


def small_cnn(seed: int) -> nn.Module:
    "A small CNN for 32x32x3 images, 10 classes, initialized from `seed`."
    torch.manual_seed(seed)
    def block(ni, nf, stride): return [nn.Conv2d(ni, nf, 3, stride, 1, bias=False), nn.BatchNorm2d(nf), nn.ReLU()]
    return nn.Sequential(*block(3, 16, 1), *block(16, 32, 2), *block(32, 64, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

def tiny_model(seed: int) -> nn.Module:
    "A model that costs next to nothing (mean-pool the image, then linear), to expose the per-batch cost of the loop itself."
    torch.manual_seed(seed)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(3), nn.Linear(3, 10))


def make_dls(n_train: int, n_valid: int, bs: int) -> DataLoaders:
    "Random 32x32x3 images with random labels (the content does not matter for timing)."
    g = torch.Generator().manual_seed(0)
    def ds(n): return TensorDataset(torch.randn(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g))
    return DataLoaders(DataLoader(ds(n_train), batch_size=bs, shuffle=True, drop_last=True),
                       DataLoader(ds(n_valid), batch_size=bs * 2))


def run_learner(make_model, dls, n_epoch: int, seed: int, progress: bool) -> float:
    "Seconds per epoch of `Learner.fit` (progress silenced by `no_bar`, or active with no terminal)."
    learn = Learner(dls, make_model(seed), metrics=accuracy, device='cpu')
    torch.manual_seed(seed)
    if progress:
        sink = io.StringIO()               # StringIO.isatty() is False: what a script writing to a log sees
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            t0 = time.perf_counter(); learn.fit(n_epoch); t = time.perf_counter() - t0
    else:
        with learn.no_bar():
            t0 = time.perf_counter(); learn.fit(n_epoch); t = time.perf_counter() - t0
    return t / n_epoch


def run_plain(make_model, dls, n_epoch: int, seed: int) -> float:
    "Seconds per epoch of a hand-written loop doing the same work as `Learner.fit`."
    model = make_model(seed)
    loss_func = nn.CrossEntropyLoss()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    opt = plain_adamw(model)
    history = []
    for epoch in range(n_epoch):
        model.train()
        tot, n = 0., 0
        for xb, yb in dls.train:
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            tot, n = tot + loss.detach() * len(yb), n + len(yb)
        history.append([float(tot / n), *plain_validate(model, dls.valid, loss_func)])
    return (time.perf_counter() - t0) / n_epoch


def measure(make_model, dls, n_epoch, seed, rounds) -> dict:
    "Seconds per epoch of each variant over `rounds` alternating rounds, after one warm-up round."
    return alternate({'learner (no_bar)': lambda: run_learner(make_model, dls, n_epoch, seed, progress=False),
                      'learner (progress, no tty)': lambda: run_learner(make_model, dls, n_epoch, seed, progress=True),
                      'plain loop': lambda: run_plain(make_model, dls, n_epoch, seed)}, rounds)


def main():
    p = arg_parser(__doc__, 'little data, 2 rounds', rounds=15)
    p.add_argument('--epochs', type=int, default=1, help='epochs per run')
    p.add_argument('--n-train', type=int, default=3072)
    p.add_argument('--n-valid', type=int, default=768)
    a = parse_args(p, quick=dict(rounds=2, epochs=1, n_train=512, n_valid=128))

    dls = make_dls(a.n_train, a.n_valid, a.bs)
    print(f"overhead: {machine()}")
    print(f"{a.n_train} train / {a.n_valid} valid random images 32x32x3, bs {a.bs}, {a.epochs} epoch(s) per run, "
          f"{a.rounds} rounds (+1 warm-up)")

    print(f"\n1. small CNN (3 conv + BN layers)")
    times = measure(small_cnn, dls, a.epochs, a.seed, a.rounds)
    names, plain = list(times), statistics.median(times['plain loop'])
    print(f"{'variant':<28}{'median s/epoch':>16}{'min':>9}{'max':>9}{'vs plain':>10}")
    for name in names:
        ts = times[name]
        print(f"{name:<28}{statistics.median(ts):>16.4f}{min(ts):>9.4f}{max(ts):>9.4f}{statistics.median(ts) / plain:>9.3f}x")
    print()
    for name in names[:2]:
        ratio = statistics.median(times[name]) / plain
        paired = statistics.median(l / q for l, q in zip(times[name], times['plain loop']))
        best = min(times[name]) / min(times['plain loop'])
        print(f"ratio {name} / plain: {ratio:.3f}x (median of per-round ratios {paired:.3f}x, "
              f"ratio of minimums {best:.3f}x); {verdict(ratio, GOAL)}")

    # the same comparison on a model that costs almost nothing: the difference is the loop's own cost per batch
    # (one thread: these ops are too small to run in parallel anyway, and a single thread is not stalled by background load)
    n_batches, threads = len(dls.train) + len(dls.valid), torch.get_num_threads()
    torch.set_num_threads(1)
    try: tiny = measure(tiny_model, dls, a.epochs, a.seed, a.rounds * 3)
    finally: torch.set_num_threads(threads)
    tplain = statistics.median(tiny['plain loop'])
    print(f"\n2. machinery cost per batch: the same on a near-free model (pool + BN + linear), 1 thread, {a.rounds * 3} rounds")
    print(f"{'variant':<28}{'median ms/batch':>16}{'extra us/batch vs plain':>26}{'share of a CNN batch':>22}")
    cnn_batch = plain / n_batches
    for name in names:
        t = statistics.median(tiny[name])
        extra = (t - tplain) / n_batches
        print(f"{name:<28}{1e3 * t / n_batches:>16.3f}{1e6 * extra:>26.1f}{extra / cnn_batch:>21.2%}")
    print(f"(a plain-loop batch of the small CNN takes {1e3 * cnn_batch:.2f} ms, training and validation batches averaged)")


if __name__ == '__main__':
    main()
