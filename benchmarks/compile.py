"""Training-step speed of `Learner(..., compile=True)` against the same Learner in eager mode.

Both sides train the same model (same seed) on the same batches with the library's defaults (AdamW,
betas (0.9, 0.99), eps 1e-5, weight decay 0.01 except norm and bias parameters), a constant lr, the
whole model training (the unfrozen phase, which dominates a `fine_tune`). The batches are a few
fixed random tensors already on the device, cycled, so the data pipeline is not what is measured.

Two numbers per model:

- **compile time**: a fresh compiled Learner fits one training and one validation batch, which
  compiles the two graphs that every phase of a `fine_tune` compiles (training: forward and
  backward; validation: eval mode, no gradients). Compile time = that first fit minus two
  steady-state steps. A `fine_tune` pays it twice (`freeze_to` throws the graphs away at each phase).
  `cold`: inductor's on-disk caches empty (a fresh temporary cache folder, the first run of a model on
  a machine); `warm`: a second fresh Learner, whose graphs are found in the on-disk cache the cold
  run filled (a rerun of the same script; `freeze_to` empties only the in-memory caches).
- **steady-state step time**: `fit(1)` over `--steps` training batches (no validation) on Learners
  already compiled, eager and compiled alternating (a warm-up round first, then `--rounds` rounds);
  medians. Ratio compiled / eager (goal: < 1, that is, faster), and the break-even point: how many
  steps the faster steps take to win back the compile time.

Then a correctness check with the chosen backend: `fine_tune(1, freeze_epochs=1)` of a tiny model
(linear + batch norm body, linear head) eagerly and compiled: the largest difference of the
recorded losses and of the final weights (expected within 1e-4, float rounding of fused kernels),
and whether the body trained in phase 2.

CPU (default): the benchmarks' small CNN and resnet18 adapted to 32 px, batch 64. `--device cuda`:
resnet18 and resnet50 at 224 px, batch 64, `channels_last`, bf16 autocast (`--mixed_precision none`
for float32). `--backend`/`--mode` choose the `torch.compile` arguments (default: inductor).

Run from the repository root: `python benchmarks/compile.py` (`--quick` for a smoke run, `--device cuda` on a GPU).
"""
from __future__ import annotations
import copy, os, shutil, statistics, tempfile, time

from common import Batches, alternate, arg_parser, machine, parse_args, pool_linear, resnet_body_head, splitter  # first: it puts the repo on sys.path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from finetune_nb.learner import DataLoaders, Learner, set_seed
from finetune_nb.params import auto_splitter
import finetune_nb.fine_tune


def small_cnn(n_out: int = 10, seed: int = 0) -> nn.Sequential:
    "The benchmarks' small CNN (3 conv + BatchNorm layers) as `nn.Sequential(body, head)`."
    torch.manual_seed(seed)
    def block(ni, nf, stride): return [nn.Conv2d(ni, nf, 3, stride, 1, bias=False), nn.BatchNorm2d(nf), nn.ReLU()]
    return nn.Sequential(nn.Sequential(*block(3, 16, 1), *block(16, 32, 2), *block(32, 64, 2)), pool_linear(64, n_out))


def make_model(name: str, small: bool, seed: int) -> nn.Sequential:
    return small_cnn(seed=seed) if name == 'small_cnn' else resnet_body_head(10, name, seed=seed, small_input=small)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def make_learner(model0, batches, valid, device, compile, a):
    return Learner(DataLoaders(batches, valid), copy.deepcopy(model0), splitter=splitter, device=device, compile=compile,
                   mixed_precision=a.mixed_precision, channels_last=a.channels_last)


def timed_fit(learn, device) -> float:
    "Seconds of one `learn.fit(1)`, the device synchronized before and after."
    with learn.no_bar():
        sync(device); t0 = time.perf_counter()
        learn.fit(1)
        sync(device); return time.perf_counter() - t0


def measure(model0, a, device, compile) -> dict:
    "Compile time (cold and warm on-disk cache) and steady-state seconds per step of eager and compiled Learners on `model0`."
    one = Batches(1, a.bs, a.size, device)
    cold, warm = (timed_fit(make_learner(model0, one, one, device, compile, a), device) for _ in range(2))
    batches = Batches(a.steps, a.bs, a.size, device)
    learners = {'eager': make_learner(model0, batches, None, device, False, a),
                'compiled': make_learner(model0, batches, None, device, compile, a)}
    res = alternate({k: (lambda l=l: timed_fit(l, device) / a.steps) for k, l in learners.items()}, a.rounds)
    step = {k: statistics.median(v) for k, v in res.items()}
    return dict(cold=max(cold - 2 * step['compiled'], 0.), warm=max(warm - 2 * step['compiled'], 0.), **step)   # 0: within a step's noise


def check(compile, seed: int = 0) -> dict:
    "`fine_tune(1, freeze_epochs=1)` of a tiny model eagerly and compiled: largest differences, and whether the body trained in phase 2."
    def run(c):
        set_seed(seed)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(128, 4, generator=g); y = (x[:, :3] @ torch.randn(3, 3, generator=g)).argmax(1)
        dls = DataLoaders(DataLoader(TensorDataset(x[:96], y[:96]), batch_size=32), DataLoader(TensorDataset(x[96:], y[96:]), batch_size=32))
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU()), nn.Linear(16, 3))
        learn = Learner(dls, model, splitter=auto_splitter(2), lr=1e-2, device='cpu', compile=c)
        body0 = model[0][0].weight.detach().clone()
        t0 = time.perf_counter()
        with learn.no_bar(): learn.fine_tune(1, base_lr=1e-2, freeze_epochs=1, lr_mult=1)
        return learn, body0, time.perf_counter() - t0
    (eager, _, te), (comp, body0, tc) = run(False), run(compile)
    sd_e, sd_c = eager.model.state_dict(), comp.model.state_dict()
    return dict(weights=max(float((sd_c[k].float() - v.float()).abs().max()) for k, v in sd_e.items()),
                losses=max(abs(p - q) for r, s in zip(comp.recorder.values, eager.recorder.values) for p, q in zip(r, s)),
                body_moved=float((comp.model[0][0].weight.detach() - body0).abs().max()), eager_s=te, compiled_s=tc)


def main():
    p = arg_parser(__doc__, 'fewer steps and rounds, the small model only', rounds=3, bs=64, threads=True)
    p.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    p.add_argument('--models', nargs='+', default=None, choices=['small_cnn', 'resnet18', 'resnet50'],
                   help='default: small_cnn resnet18 on the CPU, resnet18 resnet50 on CUDA')
    p.add_argument('--steps', type=int, default=None, help='training steps per timed run (default: 10 on the CPU, 50 on CUDA)')
    p.add_argument('--size', type=int, default=None, help='image size (default: 32 on the CPU, 224 on CUDA)')
    p.add_argument('--backend', default='inductor', help="torch.compile's backend")
    p.add_argument('--mode', default=None, help="torch.compile's mode (e.g. max-autotune)")
    p.add_argument('--mixed_precision', default=None, choices=['none', 'bf16', 'fp16'], help='default: none on the CPU, bf16 on CUDA')
    p.add_argument('--no-check', dest='check', action='store_false', help='skip the correctness check')
    p.add_argument('--keep-cache', action='store_true', help="use inductor's usual on-disk cache instead of a fresh temporary one")
    a = parse_args(p)
    device = torch.device(a.device)
    if device.type == 'cuda' and not torch.cuda.is_available(): print("CUDA not available: skipped"); return
    cuda = device.type == 'cuda'
    a.models = a.models or (['resnet18', 'resnet50'] if cuda else ['small_cnn', 'resnet18'])
    a.steps, a.size = a.steps or (50 if cuda else 10), a.size or (224 if cuda else 32)
    mp = a.mixed_precision or ('bf16' if cuda else 'none')
    a.mixed_precision, a.channels_last = None if mp == 'none' else mp, cuda
    if a.quick: a.models, a.steps, a.rounds = a.models[:1], 3, 1
    if cuda: torch.backends.cudnn.benchmark = True
    compile = {'backend': a.backend, **({'mode': a.mode} if a.mode else {})}
    tmp = None if a.keep_cache else tempfile.mkdtemp(prefix='compile_bench_')
    if tmp: os.environ['TORCHINDUCTOR_CACHE_DIR'], os.environ['TRITON_CACHE_DIR'] = tmp, os.path.join(tmp, 'triton')
    try: bench(a, device, compile)
    finally:
        if tmp: shutil.rmtree(tmp, ignore_errors=True)


def bench(a, device, compile):
    "Print the table and the correctness check."
    cuda = device.type == 'cuda'
    print(f"compile: {machine(device)}")
    print(f"torch.compile({', '.join(f'{k}={v!r}' for k, v in compile.items())}); whole model training, {a.size} px, bs {a.bs}, "
          f"mixed_precision {a.mixed_precision or 'none'}, channels_last {a.channels_last}; {a.steps} steps per run, {a.rounds} rounds (+1 warm-up)")
    print(f"\n{'model':<11}{'compile s, cold':>17}{'warm':>7}{'eager ms/step':>15}{'compiled ms/step':>18}{'compiled / eager':>18}{'break-even steps':>18}")
    for name in a.models:
        r = measure(make_model(name, not cuda, a.seed), a, device, compile)
        gain = r['eager'] - r['compiled']
        even = f"{r['cold'] / gain:.0f}" if gain > 0 else 'never'
        print(f"{name:<11}{r['cold']:>17.1f}{r['warm']:>7.1f}{1e3 * r['eager']:>15.1f}{1e3 * r['compiled']:>18.1f}{r['compiled'] / r['eager']:>17.3f}x{even:>18}")
        if cuda: torch.cuda.empty_cache()
    print("(compile s: the two graphs of one phase, training and validation, less two steady steps (0: within their noise);\n"
          " a fine_tune compiles them once per phase; break-even steps: cold compile s / the time a compiled step saves)")
    if a.check:
        c = check(compile)
        ok = c['weights'] <= 1e-4 and c['losses'] <= 1e-4 and c['body_moved'] > 1e-3
        print(f"\ncheck, tiny model on the CPU, fine_tune(1, freeze_epochs=1): largest difference compiled vs eager: "
              f"weights {c['weights']:.2e}, losses {c['losses']:.2e}; body moved in phase 2 by {c['body_moved']:.2e}; "
              f"{'same result' if ok else 'DIFFERENT'} (fine_tune took {c['eager_s']:.1f} s eager, {c['compiled_s']:.1f} s compiled)")


if __name__ == '__main__':
    main()
