#!/usr/bin/env python
"""Execute documentation notebooks in a Jupyter kernel and store their outputs, ready to commit.

The docs are built without running the notebooks (Quarto renders what is stored in them), so a
page shows its tables and plots only if its notebook is committed with its outputs. This script
stores them for the notebooks listed in `NBS` (the landing page, which is also the README, and
the tutorials); the module notebooks `00_*`...`90_*` stay without outputs (their pictures come from `#| exec_doc` cells).

For each notebook it:

1. executes it with nbclient in the `python3` kernel, from `nbs/` (as `nbdev_test` does), skipping
   the cells `nbdev_test` skips: `#| eval: false`, and cells flagged with one of settings.ini's
   `tst_flags` (`#| gpu`, `#| network`);
2. drops what would not render from a committed file: widget views (tqdm's notebook progress bars,
   ipywidgets; their state is not stored), stderr, and the kernel's widget state; and stores each
   PNG with a 256-colour palette when that is smaller (plots look the same at a third of the size);
3. writes it back and runs `nbdev_clean` on it, so a second `nbdev_clean` changes nothing.

Outputs are reproducible up to the per-epoch `time` column: the notebooks seed their runs.
Run it after changing one of these notebooks, then `python tools/make_readme.py`:

    OMP_NUM_THREADS=1 python tools/store_outputs.py                           # all of NBS
    OMP_NUM_THREADS=1 python tools/store_outputs.py nbs/tutorial_schedules.ipynb
"""
from __future__ import annotations
import argparse, base64, io, os, re, sys
from pathlib import Path

import nbformat
from PIL import Image
from nbclient import NotebookClient
from nbdev.clean import nbdev_clean
from nbdev.config import get_config

NBS = ['index.ipynb', 'tutorial_quickstart.ipynb', 'tutorial_schedules.ipynb', 'tutorial_own_images.ipynb']
SKIP_TAG = 'skip-execution'  # nbclient's tag for cells it must not run
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'


def _directives(src: str) -> list[str]:
    "The `#| ...` directive lines at the top of a cell, without the `#|`."
    res = []
    for line in src.splitlines():
        if not line.strip(): continue
        m = re.match(r'\s*#\|\s*(.*)', line)
        if not m: break
        res.append(m.group(1).strip())
    return res


def _skipped(src: str, flags: set[str]) -> bool:
    "Whether `nbdev_test` would skip a code cell with source `src`."
    for d in _directives(src):
        if re.fullmatch(r'eval\s*:\s*false', d, flags=re.IGNORECASE) or d.split(' ')[0] in flags: return True
    return False


def _keep(o) -> bool:
    "Whether output `o` renders from a committed notebook."
    if o.get('output_type') == 'stream': return o.get('name') == 'stdout'
    if o.get('output_type') in ('display_data', 'execute_result'): return WIDGET_MIME not in o.get('data', {})
    return True  # errors: keep them visible (execution stops at the first one anyway)


def _shrink_png(b64: str) -> str:
    "PNG `b64` (base64) on white with a 256-colour palette, when that makes it smaller."
    raw = base64.b64decode(b64)
    im = Image.open(io.BytesIO(raw)).convert('RGBA')
    im = Image.alpha_composite(Image.new('RGBA', im.size, 'white'), im).convert('RGB')
    buf = io.BytesIO()
    im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(buf, format='PNG', optimize=True)
    return base64.b64encode(buf.getvalue()).decode() if buf.tell() < len(raw) else b64


def store_outputs(path: Path, timeout: int = 600) -> None:
    "Execute notebook `path`, keep its renderable outputs and write it back, cleaned."
    cfg = get_config()
    flags = set(cfg.get('tst_flags', '').split())
    nb = nbformat.read(path, as_version=4)
    skipped = []
    for c in nb.cells:
        if c.cell_type != 'code': continue
        c.outputs = []
        if _skipped(c.source, flags): c.metadata.setdefault('tags', []).append(SKIP_TAG); skipped.append(c)
    NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}}).execute()
    for c in skipped:
        c.metadata.tags.remove(SKIP_TAG)
        if not c.metadata.tags: del c.metadata['tags']
    for c in nb.cells:
        if c.cell_type != 'code': continue
        c.outputs = [o for o in c.outputs if _keep(o)]
        for o in c.outputs:
            if 'image/png' in o.get('data', {}): o.data['image/png'] = _shrink_png(o.data['image/png'])
    nb.metadata.pop('widgets', None)
    nbformat.write(nb, path)
    nbdev_clean(fname=str(path))
    print(f"stored the outputs of {path.relative_to(cfg.config_path)} ({len(skipped)} cells not run)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', help=f"notebooks to run (default: {', '.join(NBS)} in nbs/)")
    args = ap.parse_args(argv)
    paths = [Path(p).resolve() for p in args.notebooks]
    root = next(p for p in Path(__file__).resolve().parents if (p/'settings.ini').exists())
    os.chdir(root)  # nbdev finds settings.ini from the working directory
    paths = paths or [get_config().nbs_path/n for n in NBS]
    for p in paths: store_outputs(p)
    return 0


if __name__ == '__main__': sys.exit(main())
