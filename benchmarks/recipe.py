"""Accuracy of the modern recipe's pieces on the digits demo, over seeds: which help on this small task.

The task is the library's digits demo (`finetune_nb.demo`): the cached pretrained digits body, a new
head, `fine_tune(5, base_lr=5e-3, freeze_epochs=1)` on 10 labeled images per class of the digits 5-9
(`digits_target_dls(k=10, bs=10, seed)`: 5 optimizer steps per epoch, 30 in all), validated on 846
images. Each variant switches on one piece, as `finetune_nb_fit` does with its options
(`demo.fine_tune_with(learn, ..., extras)` and `demo_learner(..., label_smoothing=)`):

- `plain`: the demo as it is;
- `label_smoothing 0.1`;
- `mixup 0.4`, `cutmix 1.0` (training batches only);
- `ema 0.9`: an EMA of the weights, validated and kept (0.9 spans about 10 of the 30 steps; the
  usual 0.999 would still be the initial weights after 30 steps);
- `n_acc 2`: gradient accumulation, 2 batches of 10 per step (so 15 steps instead of 30 at the same lrs).

This measures accuracy, not time: every run uses one thread, so its numbers do not depend on the
machine's load. Seed `s` picks the 50 training images, the head's initialization and the batch
order, alike for every variant. Prints the mean, the standard deviation and the per-seed
accuracies, and the mean difference to `plain` with the number of seeds where the variant did better.
"""
from __future__ import annotations
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

import torch
from common import accuracy_table
from finetune_nb.learner import set_seed
from finetune_nb.data import digits_target_dls
from finetune_nb.demo import digits_body, demo_learner, fine_tune_with

variants = {'plain': (0., {}), 'label_smoothing 0.1': (0.1, {}), 'mixup 0.4': (0., {'mixup': 0.4}),
            'cutmix 1.0': (0., {'cutmix': 1.0}), 'ema 0.9': (0., {'ema': 0.9}), 'n_acc 2': (0., {'n_acc': 2})}

def accuracy_of(body, seed: int, label_smoothing: float, extras: dict) -> float:
    dls = digits_target_dls(k=10, bs=10, seed=seed, size=32, val_bs=128)
    set_seed(seed)
    learn = demo_learner(dls, body=body, label_smoothing=label_smoothing)
    fine_tune_with(learn, 5, 5e-3, 1, extras, verbose=False)
    return float(learn.recorder.values[-1][2])

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1')
    p.add_argument('--variants', nargs='*', default=list(variants), help=f'some of {list(variants)}')
    a = p.parse_args()
    torch.set_num_threads(1)
    body = digits_body(verbose=False)
    print(f"digits demo, fine_tune(5, base_lr=5e-3, freeze_epochs=1), k=10, seeds 0-{a.seeds - 1}, torch {torch.__version__}, 1 thread")
    res, t0 = {}, time.perf_counter()
    for name in a.variants:
        ls, extras = variants[name]
        res[name] = [accuracy_of(body, s, ls, extras) for s in range(a.seeds)]
        print(f"  {name}: {[round(x, 4) for x in res[name]]} ({time.perf_counter() - t0:.0f}s)", flush=True)
    print('\n' + accuracy_table(res, 'plain'))

if __name__ == '__main__': main()
