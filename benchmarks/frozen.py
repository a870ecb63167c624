"""Speed of a frozen-phase epoch: `train_bn=False` (the fast path) against `train_bn=True`.

After `learn.freeze()` only the head trains. With `train_bn=True` (the default, as in fastai) the
body's BatchNorm layers keep training, so every step runs the body in training mode and
back-propagates through all of it to reach their weights. With `train_bn=False` the whole body is
frozen and in eval mode: autograd records nothing inside it, so a step is the body's forward pass,
plus the head's forward and backward.

Model: torchvision's resnet18 (random init) adapted to 32 px images (3x3 stride-1 `conv1`, no max
pool), as `nn.Sequential(body, head)` with body = the resnet up to (not including) its average
pool and head = `AdaptiveAvgPool2d(1) -> Flatten -> Linear(512, n_classes)`, two parameter groups.
Data: the library's offline digits source task (`digits_source_dls`: digits 0-4 at 32 px, about
720 training and 180 validation images), batch 64.

Timed, alternating (warm-up round first, then `--rounds` rounds, starting variant rotating):

- `learner train_bn=True`:  `learn.freeze(); learn.fit(1)`;
- `learner train_bn=False`: the same with `Learner(..., train_bn=False)`;
- `plain reference`: a hand-written loop, the body in eval mode under `torch.no_grad()` and the
  head trained with the same AdamW settings (the best a frozen body can do without caching).

Every variant starts from the same initial weights and shuffles from the same seed. Times are
per epoch, training + validation ("epoch") and the training part alone ("train"), measured by a
callback on the Learner. Goal: median epoch(train_bn=False) / median epoch(train_bn=True) <= 0.6.

`--accuracy` also reports the digits transfer demo: pretrain the whole model on the source digits
(3 epochs of `fit_one_cycle` at 1e-2, batches of 32, random shifts of up to 2 px: the recipe of the
library's digits demo), then `fine_tune(5, base_lr=5e-3)` on the few-shot target digits
(`digits_target_dls(k=10, bs=10)`) with `train_bn=True` and with `train_bn=False`, and print the
final validation accuracies (`--rounds 0 --accuracy` runs only this part).

Run from the repository root: `python benchmarks/frozen.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import copy, statistics, time

from common import (FitTimer, alternate, arg_parser, digits_dls, machine, parse_args, plain_adamw,  # first: it puts the repo on sys.path
                    plain_validate, pool_linear, resnet_body_head, splitter, verdict)

import torch
from torch import nn

from finetune_nb.learner import Learner, set_seed
from finetune_nb.callbacks import accuracy
from finetune_nb.data import digits_source_dls, digits_target_dls
import finetune_nb.fine_tune  # noqa: F401  (adds fit_one_cycle and fine_tune to Learner)

GOAL = 0.6


def run_learner(dls, model0, train_bn: bool, seed: int) -> tuple[float, float]:
    "(epoch, train) seconds of one frozen epoch of a Learner."
    learn = Learner(dls, copy.deepcopy(model0), splitter=splitter, metrics=accuracy, train_bn=train_bn, device='cpu')
    learn.freeze()
    timer = FitTimer()
    torch.manual_seed(seed)
    with learn.no_bar(): learn.fit(1, cbs=timer)
    return timer.epochs[0], timer.trains[0]


def run_plain(dls, model0, seed: int) -> tuple[float, float]:
    "(epoch, train) seconds of one epoch of the plain reference: body in eval mode under no_grad, head training."
    model = copy.deepcopy(model0)
    body, head = model[0], model[1]
    for p in body.parameters(): p.requires_grad_(False)
    opt = plain_adamw(head)
    loss_func = nn.CrossEntropyLoss()
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    body.eval(); head.train()
    tot, n = 0., 0
    for xb, yb in dls.train:
        with torch.no_grad(): feats = body(xb)
        loss = loss_func(head(feats), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        tot, n = tot + loss.detach() * len(yb), n + len(yb)
    t_train = time.perf_counter() - t0
    _ = [float(tot / n), *plain_validate(model, dls.valid, loss_func)]
    return time.perf_counter() - t0, t_train


def demo_accuracy(pretrain_epochs: int, ft_epochs: int, base_lr: float, seed: int) -> dict:
    "Final target accuracy of `fine_tune` with train_bn True/False, from a body pretrained on the source digits."
    # pretraining as the library's digits demo recipe: batches of 32, random shifts of up to 2 px, 1cycle at 1e-2
    set_seed(seed)
    src = digits_source_dls(bs=32, max_shift=2)
    pre = Learner(src, resnet_body_head(src.c, seed=seed), splitter=splitter, metrics=accuracy, device='cpu')
    t0 = time.perf_counter()
    with pre.no_bar(): pre.fit_one_cycle(pretrain_epochs, 1e-2)
    res = {'source accuracy after pretraining': pre.recorder.values[-1][-1], 'pretraining time (s)': time.perf_counter() - t0}
    for train_bn in (True, False):
        set_seed(seed)
        tgt = digits_target_dls(k=10, bs=10, seed=seed, val_bs=128)
        model = nn.Sequential(copy.deepcopy(pre.model[0]), pool_linear(512, tgt.c))
        learn = Learner(tgt, model, splitter=splitter, metrics=accuracy, train_bn=train_bn, device='cpu')
        t0 = time.perf_counter()
        with learn.no_bar(): learn.fine_tune(ft_epochs, base_lr=base_lr)
        res[f'target accuracy, train_bn={train_bn}'] = learn.recorder.values[-1][-1]
        res[f'fine_tune time, train_bn={train_bn} (s)'] = time.perf_counter() - t0
    return res


def timing(a):
    "The speed comparison: alternating rounds, medians, ratios."
    dls = digits_dls(a.bs, a.n_train, a.n_valid)
    model0 = resnet_body_head(dls.c, seed=a.seed)
    print(f"frozen: {machine()}")
    print(f"resnet18 (32 px stem), frozen body, digits {len(dls.train.dataset)} train / {len(dls.valid.dataset)} valid, "
          f"bs {a.bs}, {a.rounds} rounds (+1 warm-up)")
    times = alternate({'learner train_bn=True': lambda: run_learner(dls, model0, True, a.seed),
                       'learner train_bn=False': lambda: run_learner(dls, model0, False, a.seed),
                       'plain reference': lambda: run_plain(dls, model0, a.seed)}, a.rounds)
    names = list(times)

    med = {name: (statistics.median(t[0] for t in ts), statistics.median(t[1] for t in ts)) for name, ts in times.items()}
    ref = med['learner train_bn=True']
    print(f"\n{'variant':<26}{'epoch s':>10}{'train s':>10}{'epoch vs bn=True':>18}{'train vs bn=True':>18}")
    for name in names:
        e, t = med[name]
        print(f"{name:<26}{e:>10.3f}{t:>10.3f}{e / ref[0]:>17.3f}x{t / ref[1]:>17.3f}x")
    ratio = med['learner train_bn=False'][0] / ref[0]
    print(f"\nratio epoch train_bn=False / train_bn=True: {ratio:.3f}x; {verdict(ratio, GOAL)}")
    print(f"ratio epoch plain reference / train_bn=True: {med['plain reference'][0] / ref[0]:.3f}x "
          f"(train part: {med['plain reference'][1] / ref[1]:.3f}x)")
    print(f"ratio epoch train_bn=False / plain reference: {med['learner train_bn=False'][0] / med['plain reference'][0]:.3f}x "
          f"(train part: {med['learner train_bn=False'][1] / med['plain reference'][1]:.3f}x)")


def main():
    p = arg_parser(__doc__, '128 training and 32 validation images, 1 round', rounds=5,
                   rounds_help='timed runs of each variant (after one warm-up round); 0 skips the timing')
    p.add_argument('--n-train', type=int, default=None, help='use only this many training images (default: all ~720)')
    p.add_argument('--n-valid', type=int, default=None, help='use only this many validation images (default: all 180)')
    p.add_argument('--accuracy', action='store_true', help='also run the digits transfer demo (about a minute or two more)')
    p.add_argument('--pretrain-epochs', type=int, default=3)
    p.add_argument('--ft-epochs', type=int, default=5, help="--accuracy: epochs of fine_tune's unfrozen phase")
    p.add_argument('--base-lr', type=float, default=5e-3, help="--accuracy: fine_tune's base_lr")
    a = parse_args(p, quick=dict(rounds=1, n_train=128, n_valid=32, pretrain_epochs=1, ft_epochs=1))

    if a.rounds > 0: timing(a)
    else: print(f"frozen: {machine()}")

    if a.accuracy:
        print(f"\ndigits demo: pretrain {a.pretrain_epochs} epoch(s) on digits 0-4, then "
              f"fine_tune({a.ft_epochs}, base_lr={a.base_lr}) on digits 5-9 with k=10 (seed {a.seed}; one seed: expect a few points of noise)")
        for k, v in demo_accuracy(a.pretrain_epochs, a.ft_epochs, a.base_lr, a.seed).items():
            print(f"  {k}: {v:.1f}" if 'time' in k else f"  {k}: {v:.4f}")


if __name__ == '__main__':
    main()
