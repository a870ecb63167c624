#!/usr/bin/env python
"""Execute the notebooks in a Jupyter kernel and store their outputs, ready to commit; or check them.

The docs are built without running the notebooks (Quarto renders what is stored in them, plus the
`#| exec_doc` cells it runs), and GitHub shows a notebook as committed. So every notebook in
`nbs/` is committed with the outputs of a top-to-bottom run, as fastai's are: each example's
table or picture stands next to its call.

Storing (`python tools/store_outputs.py [NOTEBOOK...]`; no argument: every notebook `nbdev_test`
runs), for each notebook:

1. execute it with nbclient in the `python3` kernel, from its folder (as `nbdev_test` does),
   with `OMP_NUM_THREADS=1` and an empty finetune_nb cache (`FINETUNE_NB_CACHE`: what is stored
   is what a first run shows, not what this machine happens to have cached), skipping the cells
   `nbdev_test` skips: `#| eval: false`, cells flagged with one of settings.ini's `tst_flags`
   (`#| gpu`, `#| network`), `nbdev_export()` calls; a notebook whose frontmatter says
   `skip_exec: true` is left as it is. Cells flagged `#| slow` (`STORE_FLAGS`: real-photo runs of a
   minute or more, which `nbdev_test` skips) *are* run: their tables and pictures are what the page
   shows;
2. keep what renders from a committed file: drop widget views (tqdm's notebook progress bars,
   ipywidgets; their state is not stored), stderr, and the kernel's widget state; draw figures at
   `DPI` and store each PNG with a 256-colour palette when that is smaller; scrub what would
   change at every run besides numbers (memory addresses, temporary folders, this machine's
   paths: see `SCRUB`);
3. write it back and run `nbdev_clean` on it, so a second `nbdev_clean` changes nothing.

Checking compares *kinds and shapes* of outputs, never numbers (a seeded run on another machine
gives other digits). A cell's outputs are described output by output: its type (stream, display,
result, error), stream name, mime types, each text with every number masked and whitespace
collapsed (so `0.6643` and `0.5951` compare equal, a new line or column does not), and each
picture's size in pixels (within `SIZE_TOL`). Two modes:

- `--static` (no execution, seconds): a running cell that draws (calls `plot_*`, `show_batch`,
  `show_results`, `show_images`, or `lr_find` without `show_plot=False`, outside a `def`,
  `lambda`, `if`, `while` or `except`) has a stored PNG; a running cell that prints (the same way)
  has stored stdout; a running cell ending in a bare expression (a name, attribute, literal...;
  not a call, no `;`) has a stored result; a skipped cell stores nothing; no stderr, widget view,
  error or unscrubbed text is stored.
- `--check` (executes): all of `--static`, plus every cell's stored outputs have the kinds and
  shapes of a fresh run's: outputs stored from older code, or missing, fail. Like `nbdev_test`, it
  does not run the `#| slow` cells, so their stored outputs are held to the static rules only.

Both exit 1 naming the notebook, the cell (its index in the notebook, and its first line) and
what differs. `--jobs N` runs N notebooks at once (default 2).

    python tools/store_outputs.py                          # store all
    python tools/store_outputs.py nbs/05_fine_tune.ipynb   # store one
    python tools/store_outputs.py --static                 # check all, without running them
    python tools/store_outputs.py --check                  # check all, running them
"""
from __future__ import annotations
import argparse, ast, base64, io, os, re, struct, subprocess, sys, tempfile, time, tokenize
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from PIL import Image
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbdev.clean import nbdev_clean
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor

DPI = 72           # stored figures: 5 x 3.5 inches -> about 340 x 240 pixels
SIZE_TOL = 0.15    # a picture's width and height may differ by this fraction (tick labels move the tight bbox)
SKIP_TAG = 'skip-execution'  # nbclient's tag for cells it must not run
WIDGET_MIME = 'application/vnd.jupyter.widget-view+json'
IMAGE_MIMES = ('image/png', 'image/jpeg', 'image/svg+xml')
DRAWS = re.compile(r'plot_\w+|show_batch|show_results|show_images|lr_find')  # calls that draw a figure
MAX_REPORTS = 8    # problems reported per notebook
CACHE_VAR, CACHE_SHOWN = 'FINETUNE_NB_CACHE', '~/.cache/finetune_nb'  # finetune_nb's cache folder: its variable, its default


ROOT = next(p for p in Path(__file__).resolve().parents if (p/'settings.ini').exists())  # the project
# (pattern, replacement) for the parts of text outputs that change from run to run or machine to machine
SCRUB = [(re.compile(r'\b0x[0-9a-fA-F]{6,}\b'), '0x...'),                                   # memory addresses in reprs
         (re.compile(re.escape(str(ROOT)) + r'\b'), '<project>'),                           # this checkout's path
         (re.compile(re.escape(tempfile.gettempdir().rstrip('/')) + r'/[\w.-]+'), '/tmp/tmpdir')]  # temporary files
if len(Path.home().parts) > 1: SCRUB.append((re.compile(re.escape(str(Path.home())) + r'(?=/)'), '~'))  # the home folder

def scrub(text: str) -> str:
    "`text` without its volatile parts (see `SCRUB`)."
    for pat, rep in SCRUB: text = pat.sub(rep, text)
    return text


# ---- which cells run, and what they should show ----

def _directives(src: str) -> list[str]:
    "The `#| ...` directive lines at the top of a cell, without the `#|`."
    res = []
    for line in src.splitlines():
        if not line.strip(): continue
        m = re.match(r'\s*#\|\s*(.*)', line)
        if not m: break
        res.append(m.group(1).strip())
    return res


STORE_FLAGS = {'slow'}  # test flags whose cells are run when storing (and skipped by --check, as by nbdev_test)


def _skipped(src: str, flags: set[str]) -> bool:
    "Whether `nbdev_test` would skip a code cell with source `src`."
    if 'nbdev_export(' in src: return True
    for d in _directives(src):
        if re.fullmatch(r'eval\s*:\s*false', d, flags=re.IGNORECASE) or d.split(' ')[0] in flags: return True
    return False


def _skip_exec(path: Path) -> bool:
    "Whether the notebook's frontmatter says `skip_exec: true` (`nbdev_test` does not run it)."
    fm = getattr(NBProcessor(path, procs=FrontmatterProc, process=True).nb, 'frontmatter_', {}) or {}
    return str(fm.get('skip_exec', False)).lower() in ('true', '1', 'yes')


def _tree(src: str) -> ast.Module | None:
    "The cell's Python syntax tree, without magics (`%`, `!`); None if it does not parse."
    lines = ['' if re.match(r'\s*[%!]', l) else l for l in src.splitlines()]
    try: return ast.parse('\n'.join(lines))
    except SyntaxError: return None


def _top_calls(tree: ast.AST):
    "The calls a cell makes whenever it runs: not those in a `def`, `lambda` or `class` body, nor under an `if`, `while` or `except`."
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.If, ast.IfExp,
                             ast.While, ast.ExceptHandler, ast.Match)): continue
        if isinstance(node, ast.Call): yield node
        yield from _top_calls(node)


def _name(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ''


def draws(src: str) -> bool:
    "Whether a cell shows a figure whenever it runs: it calls `plot_*`, `show_batch`, ... (see `DRAWS` and `_top_calls`), and is not `#| hide` (pages and readers never see it)."
    tree = _tree(src)
    if tree is None or 'hide' in _directives(src): return False
    for c in _top_calls(tree):
        off = any(k.arg == 'show_plot' and isinstance(k.value, ast.Constant) and not k.value.value for k in c.keywords)
        if DRAWS.fullmatch(_name(c)) and not off: return True
    return False


def prints(src: str) -> bool:
    "Whether a cell calls `print` (to stdout) whenever it runs (see `_top_calls`)."
    tree = _tree(src)
    return tree is not None and any(_name(c) == 'print' and isinstance(c.func, ast.Name) and
                                    not any(k.arg == 'file' for k in c.keywords) for c in _top_calls(tree))


def _semicolon(src: str) -> bool:
    "Whether the cell's last token (comments aside) is `;`, which hides its result."
    try: toks = [t for t in tokenize.generate_tokens(io.StringIO(src).readline)
                 if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER,
                                   tokenize.INDENT, tokenize.DEDENT)]
    except (tokenize.TokenError, SyntaxError): return False
    return bool(toks) and toks[-1].string == ';'


def shows_value(src: str) -> bool:
    "Whether a cell ends in a bare expression whose value Jupyter shows (a name, attribute, literal...; not a call)."
    tree = _tree(src)
    if tree is None or not tree.body or not isinstance(tree.body[-1], ast.Expr): return False
    v = tree.body[-1].value
    bare = (ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set,
            ast.BinOp, ast.Compare, ast.JoinedStr, ast.ListComp, ast.DictComp, ast.SetComp)
    if isinstance(v, ast.Constant) and isinstance(v.value, str): return False  # a docstring-like string
    return isinstance(v, bare) and not _semicolon(src)


# ---- running a notebook ----

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
    im.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(buf, format='PNG', optimize=True)
    return base64.b64encode(buf.getvalue()).decode() if buf.tell() < len(raw) else b64


def _text(v) -> str: return ''.join(v) if isinstance(v, list) else v


class RunError(Exception): "A notebook's cell failed in the kernel."


def run_nb(path: Path, flags: set[str], timeout: int = 600):
    "Notebook `path` executed top to bottom in a fresh kernel, keeping only what a committed file shows."
    nb = nbformat.read(path, as_version=4)
    skipped = []
    for c in nb.cells:
        if c.cell_type != 'code': continue
        c.outputs = []
        if _skipped(c.source, flags): c.metadata.setdefault('tags', []).append(SKIP_TAG); skipped.append(c)
    # the figures' dpi for the inline backend (its formatter draws every displayed figure)
    fig_kw = f"--InlineBackend.print_figure_kwargs={{'bbox_inches': 'tight', 'dpi': {DPI}}}"
    # an empty finetune_nb cache (the digits body): outputs are a first run's, whatever this machine has cached
    with tempfile.TemporaryDirectory() as cache:
        client = NotebookClient(nb, timeout=timeout, kernel_name='python3', extra_arguments=[fig_kw],
                                resources={'metadata': {'path': str(path.parent)}})
        # the kernel's own stderr (not the cells': those come as stream outputs) only warns that it listens on TCP
        try: client.execute(env={**os.environ, CACHE_VAR: cache}, stderr=subprocess.DEVNULL)
        except CellExecutionError as e:
            i = next((i for i, c in enumerate(nb.cells) if any(o.output_type == 'error' for o in c.get('outputs', []))), None)
            where = _cell_name(i, nb.cells[i].source) if i is not None else 'a cell'
            raise RunError(f"{where} fails in a Jupyter kernel: {e.ename}: {e.evalue}") from None
    for c in skipped:
        c.metadata.tags.remove(SKIP_TAG)
        if not c.metadata.tags: del c.metadata['tags']
    def clean(text): return scrub(_text(text).replace(cache, CACHE_SHOWN))
    for c in nb.cells:
        if c.cell_type != 'code': continue
        c.outputs = [o for o in c.outputs if _keep(o)]
        for o in c.outputs:
            if 'text' in o: o.text = clean(o.text)
            for m, v in o.get('data', {}).items():
                if m == 'image/png': o.data[m] = _shrink_png(_text(v))
                elif m.startswith('text/'): o.data[m] = clean(v)
    nb.metadata.pop('widgets', None)
    return nb, len(skipped)


def store_outputs(path: Path, flags: set[str]) -> str:
    "Execute notebook `path` (its `STORE_FLAGS` cells too), keep its renderable outputs and write it back, cleaned; says what it did."
    t0 = time.perf_counter()
    if _skip_exec(path): return f"left {path.name} as it is (skip_exec)"
    nb, n_skipped = run_nb(path, flags - STORE_FLAGS)
    nbformat.write(nb, path)
    nbdev_clean(fname=str(path))
    return f"stored the outputs of {path.name} in {time.perf_counter() - t0:.0f} s ({n_skipped} cells not run)"


# ---- kinds and shapes of outputs ----

_NUM = re.compile(r'[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?(?:[eE][-+]?\d+)?|[-+]?\.\d+(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b')

def mask(text: str) -> list[str]:
    "The lines of `text`, scrubbed, every number replaced by `#` and runs of blanks by one space."
    return [re.sub(r'\s+', ' ', _NUM.sub('#', l)).strip() for l in scrub(text).splitlines()]


def _png_size(b64: str) -> tuple[int, int]:
    raw = base64.b64decode(b64)
    return struct.unpack('>II', raw[16:24])


def shape(o) -> dict:
    "What output `o` is, without its numbers: type, stream name or mime types, masked texts, picture sizes."
    t = o.get('output_type')
    if t == 'stream': return {'type': f"stream {o.get('name')}", 'text': mask(_text(o.get('text', '')))}
    if t == 'error': return {'type': 'error', 'text': [o.get('ename', '')]}
    data = o.get('data', {})
    res = {'type': t, 'mimes': sorted(data)}
    for m, v in sorted(data.items()):
        if m == 'image/png': res['size'] = _png_size(_text(v))
        elif m.startswith('text/'): res.setdefault('texts', {})[m] = mask(_text(v))
    return res


def describe(outs) -> str:
    "A short account of a cell's outputs, for messages."
    if not outs: return 'no output'
    parts = []
    for s in map(shape, outs):
        if s['type'].startswith('stream'): parts.append(f"{s['type']} ({len(s['text'])} lines)")
        elif s['type'] == 'error': parts.append(f"error {s['text'][0]}")
        else:
            extra = f" {s['size'][0]}x{s['size'][1]}" if 'size' in s else ''
            parts.append(f"{s['type'].replace('_data', '').replace('execute_', '')} [{', '.join(s['mimes'])}]{extra}")
    return '; '.join(parts)


def _first_diff(a: list[str], b: list[str]) -> str:
    "Where masked texts `a` (stored) and `b` (fresh) part."
    if len(a) != len(b): return f"{len(a)} lines stored, {len(b)} fresh"
    i = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    return f"line {i + 1}: stored {a[i][:70]!r}, fresh {b[i][:70]!r}"


def compare(stored, fresh) -> str | None:
    "How the outputs `stored` differ in kind or shape from `fresh` (None: they do not)."
    if len(stored) != len(fresh) or any(shape(s)['type'] != shape(f)['type'] for s, f in zip(stored, fresh)):
        return f"stored: {describe(stored)}; fresh run: {describe(fresh)}"
    for k, (s, f) in enumerate(zip(map(shape, stored), map(shape, fresh)), 1):
        where = f"output {k} ({s['type']})"
        if s.get('mimes') != f.get('mimes'): return f"{where}: stored {s['mimes']}, fresh run {f['mimes']}"
        if 'text' in s and s['text'] != f['text']: return f"{where}: {_first_diff(s['text'], f['text'])}"
        for m in s.get('texts', {}):
            if s['texts'][m] != f['texts'][m]: return f"{where} {m}: {_first_diff(s['texts'][m], f['texts'][m])}"
        if 'size' in s:
            (sw, sh), (fw, fh) = s['size'], f['size']
            if abs(sw - fw) > SIZE_TOL * max(sw, fw) or abs(sh - fh) > SIZE_TOL * max(sh, fh):
                return f"{where}: picture stored {sw}x{sh}, fresh run {fw}x{fh}"
    return None


# ---- the checks ----

def _has_picture(outs) -> bool: return any(m in o.get('data', {}) for o in outs for m in IMAGE_MIMES)

def _cell_name(i: int, src: str) -> str:
    first = next((l for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#|')), '')
    return f"cell {i} ({first.strip()[:60]!r})"


def static_problems(nb, flags: set[str]) -> list[str]:
    "What is wrong with the outputs stored in notebook `nb`, found without running it."
    res = []
    for i, c in enumerate(nb.cells):
        if c.cell_type != 'code': continue
        name, outs = _cell_name(i, c.source), c.get('outputs', [])
        if _skipped(c.source, flags):
            if outs: res.append(f"{name} is not run (eval: false, or a test flag) but stores outputs")
            continue
        if draws(c.source) and not _has_picture(outs): res.append(f"{name} draws, but stores no picture")
        if prints(c.source) and not any(o.get('output_type') == 'stream' for o in outs):
            res.append(f"{name} prints, but stores no stdout")
        if shows_value(c.source) and not any(o.get('output_type') == 'execute_result' for o in outs):
            res.append(f"{name} ends in an expression, but stores no result")
        for o in outs:
            t = o.get('output_type')
            if t == 'stream' and o.get('name') != 'stdout': res.append(f"{name} stores {o.get('name')}")
            elif t == 'error': res.append(f"{name} stores an error ({o.get('ename')})")
            elif WIDGET_MIME in o.get('data', {}): res.append(f"{name} stores a widget view (its state is not stored)")
            texts = [_text(o.get('text', ''))] + [_text(v) for m, v in o.get('data', {}).items() if m.startswith('text/')]
            if any(scrub(t) != t for t in texts): res.append(f"{name} stores a memory address or a path of this machine")
    return res


def check_static(path: Path, flags: set[str]) -> list[str]:
    "Problems of the outputs stored in `path` (no execution)."
    if _skip_exec(path): return []
    return static_problems(nbformat.read(path, as_version=4), flags - STORE_FLAGS)


def check_fresh(path: Path, flags: set[str]) -> list[str]:
    "Problems of the outputs stored in `path`, comparing them with a fresh run's."
    if _skip_exec(path): return []
    stored = nbformat.read(path, as_version=4)
    res = static_problems(stored, flags - STORE_FLAGS)
    fresh, _ = run_nb(path, flags)              # the slow cells are not run: their stored outputs stay unchecked by a run
    for i, (s, f) in enumerate(zip(stored.cells, fresh.cells)):
        if s.cell_type != 'code' or _skipped(s.source, flags): continue
        name = _cell_name(i, s.source)
        if draws(s.source) and not _skipped(s.source, flags) and not _has_picture(f.outputs):
            res.append(f"{name} draws, but shows no picture when run: display the figure")
        d = compare(s.get('outputs', []), f.outputs)
        if d: res.append(f"{name}: the stored outputs are not those of the current code ({d})")
    return res


def _job(mode: str, path: Path, flags: set[str]):
    "Store or check one notebook: (what was done, problems)."
    t0 = time.perf_counter()
    try:
        if mode == 'store': return store_outputs(path, flags), []
        probs = (check_static if mode == 'static' else check_fresh)(path, flags)
    except RunError as e: return f"{path.name} failed after {time.perf_counter() - t0:.0f} s", [str(e)]
    return f"checked {path.name} in {time.perf_counter() - t0:.0f} s", probs


def default_notebooks() -> list[Path]:
    "The notebooks `nbdev_test` runs (its file selection; folders holding a `.notest` file left out)."
    files = nbglob(as_path=True, symlinks=False, file_glob='*.ipynb', skip_file_re='^[_.]', skip_folder_re='^[_.]')
    return sorted(f for f in map(Path, files) if not (f.parent/'.notest').exists())


def run(mode: str, paths: list[Path], flags: set[str], jobs: int = 2) -> int:
    "Store (`mode='store'`) or check (`'static'`, `'check'`) the notebooks `paths`; prints problems, returns their number."
    problems = {}
    def report(p, msg, probs):
        print(msg, flush=True)
        if probs: problems[p] = probs
    if jobs > 1 and len(paths) > 1 and mode != 'static':
        with ProcessPoolExecutor(min(jobs, len(paths))) as ex:
            futs = {ex.submit(_job, mode, p, flags): p for p in paths}
            for fut in as_completed(futs): report(futs[fut], *fut.result())
    else:
        for p in paths: report(p, *_job(mode, p, flags))
    for p, probs in sorted(problems.items()):
        print(f"\n{p.name}:")
        for msg in probs[:MAX_REPORTS]: print(f"  {msg}")
        if len(probs) > MAX_REPORTS: print(f"  ... and {len(probs) - MAX_REPORTS} more")
    return sum(map(len, problems.values()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', help="notebooks (default: every notebook nbdev_test runs)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument('--static', action='store_true', help="check the stored outputs without running the notebooks")
    g.add_argument('--check', action='store_true', help="check the stored outputs against a fresh run (stores nothing)")
    ap.add_argument('--jobs', type=int, default=2, help="notebooks run at once (default 2)")
    args = ap.parse_args(argv)
    paths = [Path(p).resolve() for p in args.notebooks]
    os.chdir(ROOT)  # nbdev finds settings.ini from the working directory
    os.environ['OMP_NUM_THREADS'] = '1'  # the kernels inherit it: one thread per notebook, reproducible runs
    cfg = get_config()
    paths = paths or default_notebooks()
    mode = 'static' if args.static else 'check' if args.check else 'store'
    t0 = time.perf_counter()
    n = run(mode, paths, set(cfg.get('tst_flags', '').split()), args.jobs)
    took = f"{len(paths)} notebooks in {time.perf_counter() - t0:.0f} s"
    if mode == 'store':
        if n: print(f"\nERROR: {n} notebooks failed, their files are unchanged ({took})", file=sys.stderr); return 1
        print(f"\nstored {took}"); return 0
    if n:
        print(f"\nERROR: {n} problems with the stored outputs ({took}). Store them again with "
              f"`python tools/store_outputs.py NOTEBOOK`, or fix the cell (see CONTRIBUTING.md).", file=sys.stderr)
        return 1
    print(f"\nthe stored outputs are complete{' and current' if mode == 'check' else ''}: {took}")
    return 0


if __name__ == '__main__': sys.exit(main())
