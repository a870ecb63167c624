"""Accuracy on the photos demo over seeds: ImageNet fine_tune vs the head alone vs random weights, discriminative lrs vs one lr, and validation's crop.

The task is the library's photos demo (`finetune_nb.photos`): 96-pixel patches of the twelve
photos that ship with scikit-learn and scikit-image, 8 per photo for training and 8 others for
validation (disjoint grid cells: no pixel in both), at 128 pixels, with EfficientNet-Lite0's
ImageNet weights (`finetune_nb.lite0`). Every run is `run_photos`'s, with `fine_tune(5,
base_lr=2e-3, freeze_epochs=1)` or the same budget (6 epochs of 6 steps of 16 patches):

- `fine_tune`: ImageNet weights, `fine_tune` (head first, then everything, discriminative lrs);
- `scratch`: random weights, the same `fine_tune` call;
- `head`: ImageNet weights, body frozen throughout (`fit_one_cycle(6, slice(2e-3))`);
- `one_lr`: ImageNet weights, `fine_tune(..., layer_decay=1)`: one lr for every group in phase 2;
- `fine_tune, crop 0.875`: `fine_tune` validated the ImageNet way (resize to size/0.875, center
  crop) instead of on the whole patch (the demo's default, `resize=size`).

Seed `s` draws the task's cells, the head's initialization and the batch order, alike for every
variant. This measures accuracy, not time: one thread per run (so numbers do not depend on the
machine's load; `--jobs 2` runs two seeds at once). Prints the mean, the standard deviation and the
per-seed accuracies, and the mean difference to `fine_tune` with the number of seeds it won.
"""
from __future__ import annotations
import argparse, json, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing
from common import accuracy_table

variants = ('fine_tune', 'scratch', 'head', 'one_lr', 'fine_tune, crop 0.875')

def accuracies(seed: int, names: list[str], epochs: int, base_lr: float = 2e-3) -> dict:
    "Accuracy of each variant in `names` for one seed (in a fresh process: one thread)."
    import torch, warnings
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    from finetune_nb.photos import photos_dls, run_photos
    res = {}
    runs = [n for n in names if n in ('fine_tune', 'scratch', 'head', 'one_lr')]
    if runs:
        dls = photos_dls(seed=seed, num_workers=0)
        res.update({k: float(o['accuracy']) for k, o in run_photos(epochs, base_lr, seed=seed, dls=dls, runs=runs, verbose=False).items()})
    if 'fine_tune, crop 0.875' in names:
        dls = photos_dls(seed=seed, resize=round(128 / 0.875), num_workers=0)
        res['fine_tune, crop 0.875'] = float(run_photos(epochs, base_lr, seed=seed, dls=dls, runs=['fine_tune'], verbose=False)['fine_tune']['accuracy'])
    return res

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, default=5, help='seeds 0..N-1')
    p.add_argument('--variants', nargs='*', default=list(variants), help=f'some of {list(variants)}')
    p.add_argument('--epochs', type=int, default=5, help="fine_tune's unfrozen epochs")
    p.add_argument('--base_lr', type=float, default=2e-3, help="fine_tune's base_lr (2e-3: fastai's default)")
    p.add_argument('--jobs', type=int, default=1, help='seeds run at once, one thread each')
    p.add_argument('--quick', action='store_true', help='2 seeds, 1 epoch: a smoke run (numbers not meaningful)')
    p.add_argument('--json', help='also write the accuracies to this file')
    a = p.parse_args()
    if a.quick: a.seeds, a.epochs = 2, 1
    import torch
    print(f"photos demo, EfficientNet-Lite0 (ImageNet) at 128 px, fine_tune({a.epochs}, base_lr={a.base_lr:g}, freeze_epochs=1), "
          f"seeds 0-{a.seeds - 1}, torch {torch.__version__}, 1 thread per run", flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.jobs) as ex:
        futs = {s: ex.submit(accuracies, s, a.variants, a.epochs, a.base_lr) for s in range(a.seeds)}
        per_seed = {}
        for s, f in futs.items():
            per_seed[s] = f.result()
            print(f"  seed {s}: {per_seed[s]} ({time.perf_counter() - t0:.0f}s)", flush=True)
    res = {n: [per_seed[s][n] for s in range(a.seeds)] for n in a.variants}
    print('\n' + accuracy_table(res, 'fine_tune'))
    if a.json: Path(a.json).write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
