"""Smoke run of finetune_nb under fastcore 2 (the test venv uses fastcore 1, which nbdev 2 needs).

Imports the whole public API and runs a tiny `fine_tune` on random tensors; fails unless fastcore 2
is installed and every recorded loss is finite.
"""
import math
import fastcore
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from finetune_nb.all import *

major = int(fastcore.__version__.split('.')[0])
assert major >= 2, f"expected fastcore 2 for the smoke run, found {fastcore.__version__}"

set_seed(0)
x = torch.randn(64, 8); y = (x[:, 0] > 0).long()
dls = DataLoaders(DataLoader(TensorDataset(x[:48], y[:48]), batch_size=16, shuffle=True),
                  DataLoader(TensorDataset(x[48:], y[48:]), batch_size=16))
model = nn.Sequential(nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(16, 2))
learn = Learner(dls, model, splitter=auto_splitter(2), metrics=accuracy)
learn.fine_tune(1, base_lr=1e-2)

rows = [list(map(float, r)) for r in learn.recorder.values]
assert len(rows) == 2, f"expected 2 epochs (1 frozen + 1 unfrozen), got {len(rows)}"
losses = [v for r in rows for v in r[:2]] + [float(learn.validate()[0])]
assert all(math.isfinite(v) for v in losses), f"non-finite loss: {losses}"
print(f"fastcore {fastcore.__version__} smoke run OK: per-epoch (train, valid) losses "
      f"{[tuple(round(v, 4) for v in r[:2]) for r in rows]}")
