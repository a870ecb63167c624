"""Multi-label, regression and keypoints on digits over seeds: the pretrained digits body vs random weights, same fine_tune.

The tasks are the library's grids (`finetune_nb.grids`): 32-pixel 2x2 grids whose cells hold one of
the digits 5-9 (never seen in pretraining) or nothing; 500 training grids, the same 400 validation
grids for every seed, training and validation grids made from disjoint halves of the digit images.

- multi-label: which digits a grid holds (five yes/no answers), binary cross-entropy; reported:
  the macro F1 (threshold 0.5) and `accuracy_multi`;
- regression: how many digits (0 to 4), mean squared error through `y_range=(-0.5, 4.5)`; reported:
  the mean absolute error and the share of grids whose rounded prediction is the right count;
- keypoints (`digit_points_dls`): where the one digit on a 32-pixel canvas is (its centre, x and y
  in [-1, 1]), mean squared error through `y_range=(-1, 1)`; reported: the mean distance in pixels
  between predicted and true centres (400 validation canvases, the same for every seed).

Every run is `run_grids`'s: `fine_tune(5, base_lr=1e-2, freeze_epochs=1)` from the digits body
pretrained on digits 0-4 (`pretrained`), or from random weights with the same call (`scratch`).
Seed `s` draws the training grids, the head's initialization and the batch order, alike for both.
This measures quality, not time: one thread per run (`--jobs 2` runs two seeds at once).
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

def scores(seed: int, epochs: int, base_lr: float, n_train: int, tasks=('multi_label', 'regression', 'points')) -> dict:
    "`{task: {variant: {metric: value}}}` for one seed (in a fresh process: one thread)."
    import torch, warnings
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    from finetune_nb.grids import grids_dls, digit_points_dls, run_grids
    from finetune_nb.demo import demo_learner, fine_tune_with
    from finetune_nb.learner import set_seed
    from finetune_nb.tables import points_to_pixels
    import finetune_nb.inference                          # Learner.get_preds
    res = {t: {} for t in tasks}

    def trained(dls, pretrained, y_range):
        "A learner fine-tuned on `dls` as run_grids does, and its validation predictions and targets."
        set_seed(seed)
        learn = demo_learner(dls, pretrained=pretrained, metrics=[], y_range=y_range)
        fine_tune_with(learn, epochs, base_lr, 1, verbose=False)
        return learn.get_preds()

    for pretrained, name in ((True, 'pretrained'), (False, 'scratch')):
        if 'multi_label' in tasks: res['multi_label'][name] = run_grids('multi_label', pretrained, seed, epochs, base_lr, n_train)
        if 'regression' in tasks:                                          # as run_grids, and the rounded counts too
            preds, targs = trained(grids_dls('regression', n_train=n_train, seed=seed), pretrained, (-0.5, 4.5))
            res['regression'][name] = {'mae': float((preds - targs).abs().mean()), 'count_accuracy': float((preds.round() == targs).float().mean())}
        if 'points' in tasks:                                              # as run_grids('points'), and the distances in pixels
            preds, targs = trained(digit_points_dls(n_train=n_train, seed=seed), pretrained, (-1, 1))
            res['points'][name] = {'mae': float((preds - targs).abs().mean()),
                                   'px_error': float((points_to_pixels(preds, 32) - points_to_pixels(targs, 32)).norm(dim=-1).mean())}
    return res

def table(per_seed: dict, task: str, metric: str, higher: bool = True) -> str:
    "A markdown row per variant: mean, std, per seed, and the difference to the pretrained body with the seeds it lost."
    seeds = sorted(per_seed)
    vals = {v: [per_seed[s][task][v][metric] for s in seeds] for v in ('pretrained', 'scratch')}
    lines = [f"| {task}, {metric} | mean | std | per seed | vs pretrained (seeds better) |", "|---|---|---|---|---|"]
    for v, xs in vals.items():
        d = '' if v == 'pretrained' else f"{statistics.mean(xs) - statistics.mean(vals['pretrained']):+.3f} " \
            f"({sum((x > b) if higher else (x < b) for x, b in zip(xs, vals['pretrained']))}/{len(xs)})"
        lines.append(f"| {v} | {statistics.mean(xs):.3f} | {statistics.pstdev(xs):.3f} | {' '.join(f'{x:.3f}' for x in xs)} | {d} |")
    return '\n'.join(lines)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1')
    p.add_argument('--epochs', type=int, default=5, help="fine_tune's unfrozen epochs")
    p.add_argument('--base_lr', type=float, default=1e-2, help="fine_tune's base_lr")
    p.add_argument('--n_train', type=int, default=500, help='training grids')
    p.add_argument('--jobs', type=int, default=1, help='seeds run at once, one thread each')
    p.add_argument('--quick', action='store_true', help='2 seeds, 1 epoch, 64 grids: a smoke run (numbers not meaningful)')
    p.add_argument('--tasks', nargs='*', default=['multi_label', 'regression', 'points'], help='some of multi_label, regression, points')
    p.add_argument('--json', help='also write the scores to this file')
    a = p.parse_args()
    if a.quick: a.seeds, a.epochs, a.n_train = 2, 1, 64
    import torch
    print(f"grids of digits 5-9 (32 px) and canvases of one digit, {a.n_train} training images each, fine_tune({a.epochs}, base_lr={a.base_lr:g}, freeze_epochs=1), "
          f"seeds 0-{a.seeds - 1}, torch {torch.__version__}, 1 thread per run", flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        futs = {s: ex.submit(scores, s, a.epochs, a.base_lr, a.n_train, tuple(a.tasks)) for s in range(a.seeds)}
        per_seed = {}
        for s, f in futs.items():
            per_seed[s] = f.result()
            print(f"  seed {s}: {json.dumps(per_seed[s])} ({time.perf_counter() - t0:.0f}s)", flush=True)
    for task, metric, higher in (('multi_label', 'f1_score', True), ('multi_label', 'accuracy_multi', True),
                                 ('regression', 'mae', False), ('regression', 'count_accuracy', True), ('points', 'px_error', False)):
        if task in a.tasks: print('\n' + table(per_seed, task, metric, higher))
    if a.json: Path(a.json).write_text(json.dumps(per_seed, indent=1))

if __name__ == '__main__': main()
