"""Images per second of `image_folder_dls`'s loaders against torchvision's `ImageFolder`, on large generated JPEGs.

Both sides read the same files with the same transforms (the library's `train_tfms(224)`: random
resized crop, flip, normalize; `valid_tfms` for validation; bilinear, or `--interpolation bicubic`),
the same batch size and the same
`num_workers` (the library's default, `default_num_workers`, unless `--num-workers` is given):

- `ImageFolder`: torchvision's dataset, full-size PIL decode, the transforms on the PIL image;
- `finetune_nb`: `image_folder_dls(path, size=224)` with its defaults: JPEGs decoded at reduced DCT
  scale to a short side of at least `presize` (2 * 224 = 448) and shrunk to it, the transforms on a
  uint8 tensor, and the presized images cached in shared memory (the whole set fits the budget).

The images are generated in a temporary folder (deleted at the end): crops of scikit-learn's two
sample photographs, enlarged to `WxH`, with a little Gaussian grain (sigma 4 gray levels) so that
they compress like photos (about 1.5 bits per pixel at JPEG quality 90; the average file size is
printed). Layout `train/<class>/` and `valid/<class>/`, two classes.

One run of a side: make the loaders (timed with the first training epoch: the library reads every
header here), then 3 epochs of the training loader (2 for `ImageFolder`, whose epochs are all
alike) and 2 of the validation loader, iterating batches without a model. One untimed run of the
library first (the files are in the page cache for both sides: they were just written). Reported, as medians over `--rounds` alternating runs:

- first epoch: images / (loader construction + first epoch), what a training run pays once;
- steady state: images / time of a later epoch (the library: the epochs read from the cache).

Goal (issue 16), on 1600x1200 JPEGs: training loader >= 2.5x ImageFolder's images/s in steady state and
>= 1.5x in the first epoch. Timings on a busy machine are noisy: the ratios are what matters.

Run from the repository root: `python benchmarks/data.py` (`--quick` for a smoke run).
"""
from __future__ import annotations
import shutil, statistics, tempfile, time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from common import alternate, arg_parser, machine, met, parse_args  # first: it puts the repo on sys.path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.datasets import ImageFolder

from finetune_nb.data import image_folder_dls
from finetune_nb.preprocess import train_tfms, valid_tfms

GOALS = {'steady': 2.5, 'first': 1.5}


def make_image(args) -> int:
    "Write one generated photo-like JPEG; returns its size in bytes."
    path, w, h, seed = args
    from sklearn.datasets import load_sample_images
    rng = np.random.default_rng(seed)
    src = Image.fromarray(load_sample_images().images[seed % 2])
    cw, ch = int(src.width * rng.uniform(0.5, 1)), int(src.height * rng.uniform(0.5, 1))
    x0, y0 = int(rng.integers(0, src.width - cw + 1)), int(rng.integers(0, src.height - ch + 1))
    a = np.asarray(src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.BICUBIC), dtype=np.float32)
    a += rng.normal(0, 4, a.shape).astype(np.float32)
    Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path.stat().st_size


def make_folder(root: Path, w: int, h: int, n_train: int, n_valid: int) -> float:
    "Generate `n_train` + `n_valid` JPEGs of `w`x`h` in `root/{train,valid}/{c0,c1}/`; returns the mean file size in bytes."
    jobs = []
    for split, n in (('train', n_train), ('valid', n_valid)):
        for i in range(n):
            d = root / split / f'c{i % 2}'
            d.mkdir(parents=True, exist_ok=True)
            jobs.append((d / f'{i:05d}.jpg', w, h, i + (0 if split == 'train' else 10**6)))
    with ProcessPoolExecutor() as ex: sizes = list(ex.map(make_image, jobs, chunksize=8))
    return sum(sizes) / len(sizes)


def epochs(dl, n: int, t0: float) -> list[float]:
    "Seconds of `n` passes over `dl`; the first counted from `t0` (so it includes making the loader)."
    res = []
    for _ in range(n):
        for _ in dl: pass
        t1 = time.perf_counter(); res.append(t1 - t0); t0 = t1
    return res


def run_library(root: Path, size: int, bs: int, num_workers, interpolation: str) -> dict:
    t0 = time.perf_counter()
    dls = image_folder_dls(root, size=size, bs=bs, num_workers=num_workers, interpolation=interpolation)
    tr = epochs(dls.train, 3, t0)
    va = epochs(dls.valid, 2, time.perf_counter())
    c = dls.train.dataset.cache
    return {'train': tr, 'valid': va, 'workers': dls.train.num_workers, 'cached': 0 if c is None else c.n_cached / len(c),
            'n_train': len(dls.train) * bs, 'n_valid': len(dls.valid.dataset), 'info': dls.info}


def run_imagefolder(root: Path, size: int, bs: int, num_workers: int, info: dict) -> dict:
    pin = torch.cuda.is_available()
    t0 = time.perf_counter()
    ds = ImageFolder(root / 'train', transform=train_tfms(size, interpolation=info['interpolation']))
    dl = DataLoader(ds, batch_size=bs, shuffle=True, drop_last=True, num_workers=num_workers, pin_memory=pin)
    tr = epochs(dl, 2, t0)
    t0 = time.perf_counter()
    vds = ImageFolder(root / 'valid', transform=valid_tfms(info))
    va = epochs(DataLoader(vds, batch_size=2 * bs, num_workers=num_workers, pin_memory=pin), 2, t0)
    return {'train': tr, 'valid': va}


def bench_size(w: int, h: int, a) -> dict:
    root = Path(tempfile.mkdtemp(prefix='finetune_nb_data_'))
    try:
        mean_bytes = make_folder(root, w, h, a.n, a.n // 4)
        print(f"\n{w}x{h}: {a.n} training + {a.n // 4} validation JPEGs, mean file {mean_bytes / 1e3:.0f} kB "
              f"({8 * mean_bytes / (w * h):.2f} bits/pixel), in {root}")
        probe = run_library(root, a.size, a.bs, a.num_workers, a.interpolation)   # also the warm-up of the library side
        nw = probe['workers']
        res = alternate({'finetune_nb': lambda: run_library(root, a.size, a.bs, a.num_workers, a.interpolation),
                         'ImageFolder': lambda: run_imagefolder(root, a.size, a.bs, nw, probe['info'])}, a.rounds, warm_up=False)
    finally: shutil.rmtree(root, ignore_errors=True)
    lib, base = res['finetune_nb'], res['ImageFolder']
    n_tr, n_va = probe['n_train'], probe['n_valid']
    ips = lambda n, ts: n / statistics.median(ts)
    rows = {}
    for part, n in (('train', n_tr), ('valid', n_va)):
        rows[part] = {'first': (ips(n, [r[part][0] for r in lib]), ips(n, [r[part][0] for r in base])),
                      'steady': (ips(n, [t for r in lib for t in r[part][1:]]), ips(n, [t for r in base for t in r[part][1:]]))}
    print(f"num_workers {nw} (both sides), bs {a.bs}, size {a.size}, presize {2 * a.size}, {a.interpolation}; share of the training "
          f"set in the library's cache after its 3 epochs: {min(r['cached'] for r in lib):.0%}; {a.rounds} alternating rounds, medians")
    print(f"{'loader':<8}{'epoch':<8}{'finetune_nb img/s':>19}{'ImageFolder img/s':>19}{'ratio':>8}")
    for part, r in rows.items():
        for k, (x, y) in r.items(): print(f"{part:<8}{k:<8}{x:>19.1f}{y:>19.1f}{x / y:>7.2f}x")
    return rows


def main():
    p = arg_parser(__doc__, '64 images of 800x600 and 1600x1200, batches of 16, 1 round', rounds=3, bs=32)
    p.add_argument('--n', type=int, default=320, help='training images per size (validation: a quarter as many)')
    p.add_argument('--size', type=int, default=224)
    p.add_argument('--sizes', default='1600x1200,4000x3000', help='image sizes to generate, WxH,WxH')
    p.add_argument('--num-workers', type=int, default=None, help="both sides (default: the library's default_num_workers)")
    p.add_argument('--interpolation', default='bilinear', help="both sides' resampling (bicubic: what most timm weights expect)")
    a = parse_args(p, quick=dict(n=64, bs=16, rounds=1, sizes='800x600,1600x1200'))
    print(f"data: {machine()}")
    res = {}
    for s in a.sizes.split(','):
        w, h = (int(v) for v in s.split('x'))
        res[(w, h)] = bench_size(w, h, a)
    if (1600, 1200) in res:
        r = res[(1600, 1200)]['train']
        print('\n1600x1200, training loader, finetune_nb / ImageFolder images/s:')
        for k, goal in GOALS.items():
            ratio = r[k][0] / r[k][1]
            print(f"  {k}: {ratio:.2f}x; goal >= {goal}x: {met(ratio, goal, at_most=False)}")


if __name__ == '__main__':
    main()
