"""Does presizing cost accuracy? And what does each `presize` cost in time and memory? The table behind its default.

`image_folder_dls` decodes JPEGs at reduced DCT scale to a short side of at least `presize` (default
`2 * size`) and shrinks them to it before the random crop; `presize=False` decodes in full, as before.
This script trains the same model from the same seed on the same files with several `presize`
values (1x, 1.5x and 2x `size`, and full decoding) and reports the final validation accuracy, for:

- **digits**: the digits demo's target task (digits 5-9, 10 training images per class, the 846 others
  to validate on) written as 128x128 JPEG files, fine-tuned from the demo's pretrained digits body at
  32 px (`demo_learner`, `fine_tune(3, 5e-3)`; `run_demo` uses 5 epochs), random crops of 80-100% of the area,
  no flips. 128 px files at 32 px training: presize 32 decodes at 1/4 scale, 48 and 64 at 1/2.
- **photos**: crops of scikit-learn's two sample photographs saved as 640x480 JPEGs, 6 classes (the
  left, middle and right third of each photograph: which part of which photo a crop shows), 40
  training and 20 validation images per class; resnet18 from random weights at 64 px,
  `fit_one_cycle(6, 3e-3)` with the default augmentation. 480 px files at 64 px training: presize 64
  and 96 decode at 1/4 scale, 128 at 1/2.

Each seed (`--seeds`) draws its own training run; every presize value sees the same seed, so the
differences between columns are paired. With a few hundred validation images a seed moves the
accuracy by a few points: differences of that size are noise.

It also measures, at size 224 on 1600x1200 and 4000x3000 JPEGs generated as in `data.py`, the time to
read and transform one training image without the cache (one process, one thread) and the bytes one
image takes in the cache, for each presize.

Run from the repository root: `python benchmarks/presize_accuracy.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import shutil, statistics, tempfile, time
from pathlib import Path

from common import arg_parser, machine, parse_args  # first: it puts the repo on sys.path
from data import make_image

import numpy as np
import torch
from PIL import Image

from finetune_nb.learner import set_seed
from finetune_nb.data import few_shot_split, digits_stats, image_folder_dls, ImageListDataset
from finetune_nb.preprocess import train_tfms
from finetune_nb.presize import PresizedImageDataset
from finetune_nb.demo import demo_learner, digits_body
from finetune_nb.vision import vision_learner
from finetune_nb.callbacks import accuracy
import finetune_nb.fine_tune  # noqa: F401  (fit_one_cycle and fine_tune)

RATIOS = (1, 1.5, 2, None)   # presize / size; None: full decoding (presize=False)


def label(r): return 'full decode' if r is None else f'presize {r:g}x'


def digits_folder(root: Path, seed: int, px: int = 128) -> Path:
    "The digits target task (5-9) as `px`-pixel grayscale JPEGs: `train/` 10 per class (seeded), `valid/` the rest."
    from sklearn.datasets import load_digits
    d = load_digits()
    keep = d.target >= 5
    x = torch.nn.functional.interpolate(torch.tensor(d.images[keep], dtype=torch.float32)[:, None] / 16, size=(px, px),
                                        mode='bilinear', align_corners=False)[:, 0].clamp(0, 1)
    x, y = (x * 255).round().byte().numpy(), (d.target[keep] - 5).tolist()
    tr, va = few_shot_split(y, 10, seed)
    for split, idxs in (('train', tr), ('valid', va)):
        for i in idxs:
            d = root / split / str(y[i] + 5)
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[i]).save(d / f'{i}.jpg', quality=90)
    return root


def photo_folder(root: Path, n_train: int = 40, n_valid: int = 20, w: int = 640, h: int = 480, seed: int = 0) -> Path:
    "Crops of the two sample photographs as `w`x`h` JPEGs; class = photo and third (left, middle, right) the crop comes from."
    from sklearn.datasets import load_sample_images
    rng = np.random.default_rng(seed)
    for k, img in enumerate(load_sample_images().images):
        H, W = img.shape[:2]
        for third in range(3):
            for split, n in (('train', n_train), ('valid', n_valid)):
                d = root / split / f'{k}{"lmr"[third]}'
                d.mkdir(parents=True, exist_ok=True)
                for i in range(n):
                    cw = int(rng.integers(120, 200)); ch = cw * 3 // 4
                    x0 = int(rng.integers(third * W // 3, max(third * W // 3 + 1, (third + 1) * W // 3 - cw)))
                    y0 = int(rng.integers(0, H - ch))
                    Image.fromarray(img[y0:y0 + ch, x0:x0 + cw]).resize((w, h), Image.BICUBIC).save(d / f'{i}.jpg', quality=90)
    return root


def digits_accuracy(root: Path, ratio, seed: int, epochs: int, body) -> float:
    size = 32
    mean, std = digits_stats(size)
    dls = image_folder_dls(root, size=size, bs=10, mean=mean, std=std, scale=(0.8, 1.0), flip=False, val_bs=128,
                           presize=False if ratio is None else round(ratio * size))
    set_seed(seed)
    learn = demo_learner(dls, pretrained=True, body=body)
    with learn.no_bar(): learn.fine_tune(epochs, 5e-3, freeze_epochs=1)
    return learn.recorder.values[-1][2]


def photo_accuracy(root: Path, ratio, seed: int, epochs: int) -> float:
    size = 64
    dls = image_folder_dls(root, size=size, bs=16, presize=False if ratio is None else round(ratio * size))
    set_seed(seed)
    learn = vision_learner(dls, 'resnet18', pretrained=False, metrics=accuracy)
    learn.unfreeze()
    with learn.no_bar(): learn.fit_one_cycle(epochs, 3e-3)
    return learn.recorder.values[-1][2]


def table(name: str, accs: dict, seeds):
    print(f"\n{name}: final validation accuracy per seed")
    print(f"{'':<14}" + ''.join(f"{'seed ' + str(s):>9}" for s in seeds) + f"{'mean':>9}{'vs full':>9}")
    full = statistics.mean(accs[None])
    for r, xs in accs.items():
        m = statistics.mean(xs)
        print(f"{label(r):<14}" + ''.join(f"{x:>9.4f}" for x in xs) + f"{m:>9.4f}{m - full:>+9.4f}")


def speed(a) -> None:
    "Per-image read + training transform time (no cache, one thread) and cache bytes, for each presize, at size 224."
    torch.set_num_threads(1)
    size, tfm = 224, train_tfms(224)
    print(f"\nspeed at size {size}: one training image read and transformed, no cache, one process, one thread (median ms)")
    print(f"{'':<14}{'1600x1200 ms':>14}{'decoded at':>12}{'cache kB':>10}{'4000x3000 ms':>14}{'decoded at':>12}{'cache kB':>10}")
    root = Path(tempfile.mkdtemp(prefix='finetune_nb_presize_'))
    try:
        files = {}
        for w, h in ((1600, 1200), (4000, 3000)):
            files[(w, h)] = [root / f'{w}_{i}.jpg' for i in range(a.n_speed)]
            for i, f in enumerate(files[(w, h)]): make_image((f, w, h, i))
        for r in RATIOS:
            cols = []
            for wh, fs in files.items():
                if r is None: ds = ImageListDataset(fs, [0] * len(fs), tfm)
                else: ds = PresizedImageDataset(fs, [0] * len(fs), tfm, presize=round(r * size))
                for i in range(len(fs)): ds[i]                       # warm-up (and the page cache)
                ts = []
                for _ in range(a.speed_rounds):
                    for i in range(len(fs)):
                        t0 = time.perf_counter(); ds[i]; ts.append(time.perf_counter() - t0)
                with Image.open(fs[0]) as im:
                    if r is not None: im.draft('RGB', (round(r * size),) * 2)
                    dec = f'{im.size[0]}x{im.size[1]}'
                kb = wh[0] * wh[1] * 3 / 1e3 if r is None else np.prod(ds.read(0).shape) / 1e3
                cols.append(f"{1e3 * statistics.median(ts):>14.2f}{dec:>12}{kb:>10.0f}")
            print(f"{label(r):<14}" + ''.join(cols))
    finally: shutil.rmtree(root, ignore_errors=True)


def main():
    p = arg_parser(__doc__, '1 seed, 1 epoch each, 4 speed images', rounds=1, threads=True)
    p.add_argument('--seeds', type=int, default=3, help='training seeds (every presize value runs each)')
    p.add_argument('--digits-epochs', type=int, default=3)
    p.add_argument('--photo-epochs', type=int, default=6)
    p.add_argument('--n-speed', type=int, default=8, help='images per size for the speed table')
    p.add_argument('--speed-rounds', type=int, default=3)
    p.add_argument('--skip', default='', help="comma-separated parts to skip: digits, photos, speed")
    a = parse_args(p, quick=dict(seeds=1, digits_epochs=1, photo_epochs=1, n_speed=4, speed_rounds=1))
    print(f"presize_accuracy: {machine()}")
    seeds, skip = list(range(a.seeds)), a.skip.split(',')
    if 'digits' not in skip:
        body = digits_body()
        accs = {r: [] for r in RATIOS}
        for s in seeds:
            root = Path(tempfile.mkdtemp(prefix='finetune_nb_digits_'))
            try:
                digits_folder(root, s)
                for r in RATIOS: accs[r].append(digits_accuracy(root, r, s, a.digits_epochs, body))
            finally: shutil.rmtree(root, ignore_errors=True)
            print(f"digits seed {s}: " + ', '.join(f"{label(r)} {accs[r][-1]:.4f}" for r in RATIOS), flush=True)
        table(f"digits (128 px JPEGs, size 32, fine_tune({a.digits_epochs}) from the pretrained digits body)", accs, seeds)
    if 'photos' not in skip:
        root = Path(tempfile.mkdtemp(prefix='finetune_nb_photos_'))
        try:
            photo_folder(root)
            accs = {r: [] for r in RATIOS}
            for s in seeds:
                for r in RATIOS: accs[r].append(photo_accuracy(root, r, s, a.photo_epochs))
                print(f"photos seed {s}: " + ', '.join(f"{label(r)} {accs[r][-1]:.4f}" for r in RATIOS), flush=True)
        finally: shutil.rmtree(root, ignore_errors=True)
        table(f"photos (640x480 JPEG crops, 6 classes, size 64, resnet18 from scratch, fit_one_cycle({a.photo_epochs}))", accs, seeds)
    if 'speed' not in skip: speed(a)


if __name__ == '__main__':
    main()
