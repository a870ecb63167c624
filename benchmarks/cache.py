"""Speed of `fine_tune(..., cache_features=True)`: a cached frozen-phase epoch against a full-model epoch.

With `cache_features=True` (which needs `train_bn=False`, an `nn.Sequential(body, head)` model and
deterministic data) `fine_tune` runs the frozen body once over the training and validation sets,
then trains the head for `freeze_epochs` epochs on those stored features. This script runs
`learn.fine_tune(1, freeze_epochs=N, cache_features=True)` with a timing callback and reports:

- `caching pass`: the one-time pass of the body over the data (from the call to the first `before_fit`);
- `cached frozen epoch`: the frozen phase's `fit` time divided by N (caching excluded);
- `full-model epoch`: the unfrozen phase's single epoch (the whole resnet trains);
- `uncached frozen epoch`: for reference, the same frozen phase without the cache (`train_bn=False`).

Cached `fine_tune` runs and uncached frozen phases alternate (`--rounds` of each); medians are shown.

Each epoch includes its validation pass. Goal: cached frozen epoch / full-model epoch <= 0.05.

It also checks that caching does not change what the head learns: the validation accuracy after the
frozen phase, cached and uncached, from the same initial weights and seed (they should agree within
floating-point noise).

Model and data as in `frozen.py`: torchvision's resnet18 (random init) adapted to 32 px images,
`nn.Sequential(body, head)`, two parameter groups; the library's digits source task loaders
(`digits_source_dls`: digits 0-4, about 720 training and 180 validation images, batch 64), used as
they are: without random shifts (`max_shift=0`, the default) their dataset declares itself
deterministic, which `cache_features` requires.

Run from the repository root: `python benchmarks/cache.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import copy, statistics, time

from common import FitTimer, alternate, arg_parser, digits_dls, machine, parse_args, resnet_body_head, splitter, verdict  # first: it puts the repo on sys.path

import torch
from torch import nn

from finetune_nb.learner import Learner, set_seed
from finetune_nb.callbacks import accuracy
import finetune_nb.fine_tune  # noqa: F401  (adds fit_one_cycle and fine_tune to Learner)

GOAL = 0.05


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


def main():
    p = arg_parser(__doc__, '128 training images, 1 round, 2 frozen epochs', rounds=3,
                   rounds_help='cached fine_tune runs and uncached frozen phases, alternating (medians reported)')
    p.add_argument('--freeze-epochs', type=int, default=5)
    p.add_argument('--n-train', type=int, default=None, help='use only this many training images (default: all ~720)')
    a = parse_args(p, quick=dict(rounds=1, freeze_epochs=2, n_train=128))

    dls = digits_dls(a.bs, a.n_train)
    model0 = resnet_body_head(dls.c, seed=a.seed)
    print(f"cache: {machine()}")
    print(f"resnet18 (32 px stem), train_bn=False, digits {len(dls.train.dataset)} train / {len(dls.valid.dataset)} valid, "
          f"bs {a.bs}; fine_tune(1, freeze_epochs={a.freeze_epochs}, cache_features=True) x {a.rounds}")
    warm_up(dls, model0)
    res = alternate({'cached': lambda: run_cached(dls, model0, a.freeze_epochs, a.seed),
                     'uncached': lambda: run_uncached(dls, model0, a.freeze_epochs, a.seed)}, a.rounds, warm_up=False)
    runs, uncs = res['cached'], res['uncached']
    unc = {'uncached epoch': statistics.median(u['uncached epoch'] for u in uncs), 'accuracy': uncs[0]['accuracy']}

    med = {k: statistics.median(r[k] for r in runs) for k in ('caching', 'cached epoch', 'full epoch')}
    full = med['full epoch']
    rows = [('cached frozen epoch', med['cached epoch']), ('caching pass (once)', med['caching']),
            ('uncached frozen epoch', unc['uncached epoch']), ('full-model epoch', full)]
    print(f"\n{'':<24}{'seconds':>10}{'vs full-model epoch':>22}")
    for name, t in rows: print(f"{name:<24}{t:>10.3f}{t / full:>21.4f}x")
    ratio = med['cached epoch'] / full
    print(f"\nratio cached frozen epoch / full-model epoch: {ratio:.4f}x; {verdict(ratio, GOAL)}")
    print(f"ratio cached / uncached frozen epoch: {med['cached epoch'] / unc['uncached epoch']:.4f}x")
    accs, uaccs = [r['accuracy'] for r in runs], [u['accuracy'] for u in uncs]
    def same(xs): return 'identical' if len(set(xs)) == 1 else 'vary: ' + ', '.join(f'{x:.4f}' for x in xs)
    print(f"\nhead accuracy after the frozen phase ({a.freeze_epochs} epochs, same seed): "
          f"cached {accs[0]:.4f}, uncached {uaccs[0]:.4f} (difference {accs[0] - uaccs[0]:+.4f}; "
          f"cached runs {same(accs)}, uncached runs {same(uaccs)})")


if __name__ == '__main__':
    main()
