"""What the benchmark scripts share: command-line options, the header line, alternating timed runs,
the models and data they train, a timing callback and the pieces of the plain-PyTorch baselines.

Not a benchmark itself. The scripts import it as `common` (Python puts a script's own folder first on
`sys.path`, so `python benchmarks/overhead.py` from the repository root finds it); importing it also
puts the repository root on `sys.path`, so that a checkout runs without installing the package.
"""
from __future__ import annotations
import argparse, os, platform, statistics, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # run from a checkout without installing

import torch
import torchvision
from torch import nn

from finetune_nb.callbacks import Callback
from finetune_nb.learner import DataLoaders
from finetune_nb.params import params, no_wd_params
from finetune_nb.data import digits_source_dls


# --- command line and header ---------------------------------------------------------------------

def arg_parser(doc: str, quick_help: str, rounds: int, rounds_help: str = 'timed runs of each variant (after one warm-up round)',
               bs: int = 64, threads: bool = True) -> argparse.ArgumentParser:
    "A parser with the options every script has: `--quick`, `--rounds`, `--bs`, `--seed` and (CPU scripts) `--threads`."
    p = argparse.ArgumentParser(description=doc.split('\n')[0])
    p.add_argument('--quick', action='store_true', help=f'smoke run: {quick_help}')
    p.add_argument('--rounds', type=int, default=rounds, help=rounds_help)
    p.add_argument('--bs', type=int, default=bs)
    p.add_argument('--seed', type=int, default=0)
    if threads:
        p.add_argument('--threads', type=int, default=None,
                       help="torch.set_num_threads for every variant (default: PyTorch's own). On a busy machine, 1 thread "
                            "keeps the timings stable: 2 threads sharing a core with another process wait at every op")
    return p


def parse_args(p: argparse.ArgumentParser, quick: dict | None = None) -> argparse.Namespace:
    "Parse the command line, apply `--threads`, and with `--quick` override the options in `quick`."
    a = p.parse_args()
    if getattr(a, 'threads', None): torch.set_num_threads(a.threads)
    if a.quick: vars(a).update(quick or {})
    return a


def machine(device: torch.device | str = 'cpu') -> str:
    "One line describing where the benchmark runs: GPU, or CPU model, cores, threads and load average."
    device = torch.device(device)
    if device.type == 'cuda': return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'): cpu = line.split(':', 1)[1].strip(); break
    except OSError: pass
    load = f", load average {os.getloadavg()[0]:.2f} at start" if hasattr(os, 'getloadavg') else ''
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads{load}"


def met(ratio: float, goal: float, at_most: bool = True) -> str:
    "'met' when `ratio` is at most `goal` (at least, with `at_most=False`), else 'MISSED'."
    return 'met' if (ratio <= goal if at_most else ratio >= goal) else 'MISSED'


def verdict(ratio: float, goal: float, at_most: bool = True) -> str:
    "The goal and whether `ratio` meets it, as in `goal <= 1.05x: met`."
    return f"goal {'<=' if at_most else '>='} {goal}x: {met(ratio, goal, at_most)}"


# --- timing --------------------------------------------------------------------------------------

def alternate(variants: dict, rounds: int, warm_up: bool = True) -> dict:
    """Call every function of `variants` (name -> no-argument function returning a measurement) once per round,
    for `rounds` rounds, the starting variant rotating from round to round (A B C, B C A, ...), after one
    untimed warm-up round; returns name -> list of measurements."""
    names = list(variants)
    if warm_up:
        for name in names: variants[name]()
    res = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]: res[name].append(variants[name]())
    return res


class FitTimer(Callback):
    "Records when every fit starts and ends, and the seconds of every epoch and of its training part."
    order = -10
    def __init__(self): self.fits, self.epochs, self.trains = [], [], []
    def before_fit(self): self.fits.append([time.perf_counter(), None])
    def after_fit(self): self.fits[-1][1] = time.perf_counter()
    def before_epoch(self): self._e = time.perf_counter()
    def before_train(self): self._t = time.perf_counter()
    def after_train(self): self.trains.append(time.perf_counter() - self._t)
    def after_epoch(self): self.epochs.append(time.perf_counter() - self._e)


# --- models and data -----------------------------------------------------------------------------

class Batches:
    "`n_steps` batches cycling over a few fixed random batches that already live on `device`."
    def __init__(self, n_steps, bs, size, device, n_distinct=4, n_out=10):
        g = torch.Generator().manual_seed(0)
        self.n_steps = n_steps
        self.xs = [torch.randn(bs, 3, size, size, generator=g).to(device) for _ in range(n_distinct)]
        self.ys = [torch.randint(0, n_out, (bs,), generator=g).to(device) for _ in range(n_distinct)]
    def __len__(self): return self.n_steps
    def __iter__(self):
        for i in range(self.n_steps): yield self.xs[i % len(self.xs)], self.ys[i % len(self.ys)]


def resnet_body_head(n_out: int, arch: str = 'resnet18', seed: int = 0, small_input: bool = True) -> nn.Sequential:
    """torchvision's `arch` (a resnet, random weights) as `nn.Sequential(body, head)`: body = everything before the
    average pool, head = pool -> flatten -> linear(`n_out`). `small_input` adapts the stem to 32 px images
    (3x3 stride-1 `conv1`, no max pool)."""
    torch.manual_seed(seed)
    m = torchvision.models.get_model(arch, weights=None)
    if small_input: m.conv1, m.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    return nn.Sequential(nn.Sequential(*list(m.children())[:-2]), pool_linear(m.fc.in_features, n_out))


def pool_linear(n_in: int, n_out: int) -> nn.Sequential:
    "The benchmarks' head: average pool -> flatten -> linear."
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(n_in, n_out))


def splitter(m: nn.Sequential): return [params(m[0]), params(m[1])]


def digits_dls(bs: int, n_train: int | None = None, n_valid: int | None = None) -> DataLoaders:
    """The library's digits source task loaders (`digits_source_dls`, no augmentation, so `cache_features` accepts
    them), optionally trimmed to their first `n_train` training and `n_valid` validation images."""
    dls = digits_source_dls(bs=bs)
    for ds, n in ((dls.train.dataset, n_train), (dls.valid.dataset, n_valid)): ds.x, ds.y = ds.x[:n], ds.y[:n]
    return dls


# --- plain-PyTorch baselines ---------------------------------------------------------------------

def plain_adamw(model: nn.Module, lr: float = 1e-3) -> torch.optim.AdamW:
    "AdamW with the library's defaults and param groups: betas (0.9, 0.99), eps 1e-5, weight decay 0.01, none for norm and bias params."
    no_wd = {id(p) for p in no_wd_params(model)}
    return torch.optim.AdamW([{'params': [p for p in model.parameters() if id(p) not in no_wd]},
                              {'params': [p for p in model.parameters() if id(p) in no_wd], 'weight_decay': 0.}],
                             lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01)


def plain_validate(model: nn.Module, dl, loss_func) -> tuple[float, float]:
    "Validation loss and accuracy of `model` over `dl`, as the Learner computes them (eval mode, no gradients)."
    model.eval()
    vloss, vacc, vn = 0., 0., 0
    with torch.no_grad():
        for xb, yb in dl:
            pred = model(xb)
            vloss = vloss + loss_func(pred, yb) * len(yb)
            vacc = vacc + (pred.argmax(dim=-1) == yb).float().mean() * len(yb)
            vn += len(yb)
    return float(vloss / vn), float(vacc / vn)


def accuracy_table(res: dict, base: str) -> str:
    "A markdown table of accuracies over seeds (`res`: variant -> one accuracy per seed): mean, std, per seed, and the mean difference to `base` with the seeds it lost."
    ref = res.get(base)
    lines = [f"| variant | mean accuracy | std | per seed | vs {base} (seeds better) |", "|---|---|---|---|---|"]
    for name, accs in res.items():
        d = '' if ref is None or name == base else \
            f"{statistics.mean(accs) - statistics.mean(ref):+.3f} ({sum(x > b for x, b in zip(accs, ref))}/{len(accs)})"
        lines.append(f"| {name} | {statistics.mean(accs):.3f} | {statistics.pstdev(accs):.3f} | {' '.join(f'{x:.3f}' for x in accs)} | {d} |")
    return '\n'.join(lines)
