"""Speed of `fine_tune(..., cache_features=True)`: a cached frozen-phase epoch against a full-model epoch.

With `cache_features=True` (which needs `train_bn=False`, an `nn.Sequential(body, head)` model and
deterministic data) `fine_tune` runs the frozen body once over the training and validation sets,
then trains the head for `freeze_epochs` epochs on those stored features. This script runs
`learn.fine_tune(1, freeze_epochs=N, cache_features=True)` with a timing callback and reports:

- `caching pass`: the one-time pass of the body over the data (from the call to the first `before_fit`);
- `cached frozen epoch`: the frozen phase's `fit` time divided by N (caching excluded);
- `full-model epoch`: the unfrozen phase's single epoch (the whole resnet trains);
- `uncached frozen epoch`: for reference, the same frozen phase without the cache (`train_bn=False`).

Cached `fine_tune` runs and uncached frozen phases alternate (`--repeats` of each); medians are shown.

Each epoch includes its validation pass. Goal: cached frozen epoch / full-model epoch <= 0.05.

It also checks that caching does not change what the head learns: the validation accuracy after the
frozen phase, cached and uncached, from the same initial weights and seed (they should agree within
floating-point noise).

Model and data as in `frozen.py`: torchvision's resnet18 (random init) adapted to 32 px images,
`nn.Sequential(body, head)`, two parameter groups; the digits source task (digits 0-4, about 720
training and 180 validation images), batch 64, as plain `TensorDataset` loaders.

Run from the repository root: `python benchmarks/cache.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import argparse, os, copy, platform, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from finetune_nb.learner import Callback, DataLoaders, Learner, accuracy, set_seed
from finetune_nb.params import params
from finetune_nb.data import digits_source_dls
import finetune_nb.fine_tune  # noqa: F401  (adds freeze/unfreeze/fit_one_cycle/fine_tune to Learner)

GOAL = 0.05


def resnet18_32px(n_out: int, seed: int = 0) -> nn.Sequential:
    "torchvision's resnet18 (random weights) for 32 px images, as `nn.Sequential(body, head)`."
    torch.manual_seed(seed)
    m = torchvision.models.resnet18(weights=None)
    m.conv1, m.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    body = nn.Sequential(*list(m.children())[:-2])            # everything before avgpool and fc
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_out))
    return nn.Sequential(body, head)

def splitter(m): return [params(m[0]), params(m[1])]


def digits_dls(bs: int, n_train: int | None = None) -> DataLoaders:
    "The digits source task (optionally its first `n_train` training images) as plain `TensorDataset` loaders."
    # `digits_source_dls` wraps its tensors in a `TensorImageDataset`, which `cache_features` does not accept
    # as deterministic; the same tensors in a `TensorDataset` are.
    src = digits_source_dls(bs=bs)
    tr, va = src.train.dataset, src.valid.dataset
    x, y = (tr.x, tr.y) if n_train is None else (tr.x[:n_train], tr.y[:n_train])
    return DataLoaders(DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True, drop_last=len(x) > bs),
                       DataLoader(TensorDataset(va.x, va.y), batch_size=bs * 2), vocab=src.vocab, info=src.info)


class FitTimer(Callback):
    "Timestamps of every fit's start and end, and the seconds of every epoch."
    order = -10
    def __init__(self): self.fits, self.epochs = [], []
    def before_fit(self): self.fits.append([time.perf_counter(), None]); self.epochs.append([])
    def after_fit(self): self.fits[-1][1] = time.perf_counter()
    def before_epoch(self): self._e = time.perf_counter()
    def after_epoch(self): self.epochs[-1].append(time.perf_counter() - self._e)


def make_learner(dls, model0):
    return Learner(dls, copy.deepcopy(model0), splitter=splitter, metrics=accuracy, train_bn=False, device='cpu')


def run_cached(dls, model0, freeze_epochs: int, seed: int) -> dict:
    "Times and frozen-phase accuracy of `fine_tune(1, freeze_epochs, cache_features=True)`."
    learn, timer = make_learner(dls, model0), FitTimer()
    set_seed(seed)
    with learn.no_bar():
        t0 = time.perf_counter()
        learn.fine_tune(1, freeze_epochs=freeze_epochs, cache_features=True, cbs=timer)
    (f0, f1), (u0, u1) = timer.fits
    return {'caching': f0 - t0, 'cached epoch': (f1 - f0) / freeze_epochs, 'full epoch': u1 - u0,
            'accuracy': learn.recorder.values[freeze_epochs - 1][-1]}


def run_uncached(dls, model0, freeze_epochs: int, seed: int) -> dict:
    "Time per epoch and accuracy of the same frozen phase without the cache (what `fine_tune` does first)."
    learn, timer = make_learner(dls, model0), FitTimer()
    set_seed(seed)
    with learn.no_bar():
        learn.freeze()
        learn.fit_one_cycle(freeze_epochs, slice(2e-3), pct_start=0.99, cbs=timer)
    (f0, f1), = timer.fits
    return {'uncached epoch': (f1 - f0) / freeze_epochs, 'accuracy': learn.recorder.values[-1][-1]}


def warm_up(dls, model0):
    "One forward and backward batch so that one-time kernel setup is not timed."
    m = copy.deepcopy(model0)
    xb, yb = next(iter(dls.train))
    nn.functional.cross_entropy(m(xb), yb).backward()
    with torch.no_grad(): m.eval()(xb)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): cpu = line.split(':', 1)[1].strip(); break
    except OSError: pass
    load = f", load average {os.getloadavg()[0]:.2f} at start" if hasattr(os, 'getloadavg') else ''
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads{load}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--quick', action='store_true', help='smoke run: 128 training images, 1 repeat, 2 frozen epochs')
    p.add_argument('--repeats', type=int, default=3, help='cached fine_tune runs and uncached frozen phases, alternating (medians reported)')
    p.add_argument('--freeze-epochs', type=int, default=5)
    p.add_argument('--n-train', type=int, default=None, help='use only this many training images (default: all ~720)')
    p.add_argument('--bs', type=int, default=64)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=None,
                   help="torch.set_num_threads for every variant (default: PyTorch's own). On a busy machine, 1 thread "
                        "keeps the timings stable: 2 threads sharing a core with another process wait at every op")
    a = p.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    if a.quick: a.repeats, a.freeze_epochs, a.n_train = 1, 2, 128

    dls = digits_dls(a.bs, a.n_train)
    model0 = resnet18_32px(dls.c, a.seed)
    print(f"cache: {machine()}")
    print(f"resnet18 (32 px stem), train_bn=False, digits {len(dls.train.dataset)} train / {len(dls.valid.dataset)} valid, "
          f"bs {a.bs}; fine_tune(1, freeze_epochs={a.freeze_epochs}, cache_features=True) x {a.repeats}")
    warm_up(dls, model0)
    runs, uncs = [], []
    for r in range(a.repeats):                              # alternate, so that background load hits both alike
        if r % 2: uncs.append(run_uncached(dls, model0, a.freeze_epochs, a.seed))
        runs.append(run_cached(dls, model0, a.freeze_epochs, a.seed))
        if not r % 2: uncs.append(run_uncached(dls, model0, a.freeze_epochs, a.seed))
    unc = {'uncached epoch': statistics.median(u['uncached epoch'] for u in uncs), 'accuracy': uncs[0]['accuracy']}

    med = {k: statistics.median(r[k] for r in runs) for k in ('caching', 'cached epoch', 'full epoch')}
    full = med['full epoch']
    rows = [('cached frozen epoch', med['cached epoch']), ('caching pass (once)', med['caching']),
            ('uncached frozen epoch', unc['uncached epoch']), ('full-model epoch', full)]
    print(f"\n{'':<24}{'seconds':>10}{'vs full-model epoch':>22}")
    for name, t in rows: print(f"{name:<24}{t:>10.3f}{t / full:>21.4f}x")
    ratio = med['cached epoch'] / full
    print(f"\nratio cached frozen epoch / full-model epoch: {ratio:.4f}x; goal <= {GOAL}x: {'met' if ratio <= GOAL else 'MISSED'}")
    print(f"ratio cached / uncached frozen epoch: {med['cached epoch'] / unc['uncached epoch']:.4f}x")
    accs, uaccs = [r['accuracy'] for r in runs], [u['accuracy'] for u in uncs]
    def same(xs): return 'identical' if len(set(xs)) == 1 else 'vary: ' + ', '.join(f'{x:.4f}' for x in xs)
    print(f"\nhead accuracy after the frozen phase ({a.freeze_epochs} epochs, same seed): "
          f"cached {accs[0]:.4f}, uncached {uaccs[0]:.4f} (difference {accs[0] - uaccs[0]:+.4f}; "
          f"cached runs {same(accs)}, uncached runs {same(uaccs)})")


if __name__ == '__main__':
    main()
