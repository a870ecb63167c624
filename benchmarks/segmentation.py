"""Segmentation on digits over seeds: a U-Net over the pretrained digits body vs random weights, decoder only vs fine_tune.

The task is `finetune_nb.seg_demo`'s: 32-pixel 2x2 grids whose cells hold one of the digits 5-9
(never seen in pretraining) or nothing, every ink pixel labelled by its digit (six codes with the
background); 100 training grids, the same 200 validation grids for every seed, training and
validation grids made from disjoint halves of the digit images.

Every run is one of `run_seg_demo`'s four models, all with `train_bn=False` and the same number of
epochs (8 by default) at the same `base_lr` (1e-2):
- pretrained, fine_tune: the digits body pretrained on 0-4, `fine_tune(7, freeze_epochs=1)`;
- scratch, fine_tune: random weights, the same call;
- pretrained, decoder only: the body frozen all along, `fit_one_cycle(8)`;
- scratch, decoder only: a random body frozen all along.
Reported: the last validation's mean IoU (`JaccardCoeffMulti`), Dice (`DiceMulti`) and
`foreground_acc`, accumulated over the validation set; mean and standard deviation over the seeds,
and the mean IoU as a ratio of the pretrained fine_tune's. Seed `s` draws the training grids, the
decoder's initialization and the batch order, alike for every model. This measures quality, not
time: one thread per run (`--jobs 2` runs two seeds at once); the numbers are those of the
chapter's stored run (nbs/14c_seg_demo.ipynb), which uses one thread too.
"""
from __future__ import annotations
import argparse, json, sys, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

def rows_of(seed: int, kwargs: dict) -> list[dict]:
    "`run_seg_demo`'s rows for one seed (in a fresh process: one thread)."
    import torch, warnings
    warnings.filterwarnings('ignore')
    torch.set_num_threads(1)
    from finetune_nb.seg_demo import run_seg_demo
    return run_seg_demo(seeds=[seed], **kwargs)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='*', default=[0, 1, 2], help='the seeds')
    p.add_argument('--epochs', type=int, default=8, help='epochs of every model')
    p.add_argument('--base_lr', type=float, default=1e-2, help="fine_tune's base_lr, the decoder-only models' peak lr")
    p.add_argument('--n_train', type=int, default=100, help='training grids')
    p.add_argument('--jobs', type=int, default=1, help='seeds run at once, one thread each')
    p.add_argument('--quick', action='store_true', help='1 seed, 2 epochs, 16 grids: a smoke run (numbers not meaningful)')
    p.add_argument('--json', help='also write the rows to this file')
    a = p.parse_args()
    if a.quick: a.seeds, a.epochs, a.n_train = a.seeds[:1], 2, 16
    import torch
    from finetune_nb.demo import digits_body
    from finetune_nb.seg_demo import format_seg_results
    digits_body()                                             # pretrained and cached once, before the processes start
    print(f"U-Net over the digits resnet18 body, 32-px grids of digits 5-9, {a.n_train} training grids, {a.epochs} epochs, base_lr={a.base_lr:g}, "
          f"train_bn=False, seeds {a.seeds}, torch {torch.__version__}, 1 thread per run", flush=True)
    kw = dict(epochs=a.epochs, base_lr=a.base_lr, n_train=a.n_train)
    t0, rows = time.perf_counter(), []
    with ProcessPoolExecutor(a.jobs) as ex:
        futs = {s: ex.submit(rows_of, s, kw) for s in a.seeds}
        for s, f in futs.items():
            rows += f.result()
            print(f"  seed {s} done ({time.perf_counter() - t0:.0f}s)", flush=True)
    print('\n' + format_seg_results(rows))
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
