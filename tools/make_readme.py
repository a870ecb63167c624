#!/usr/bin/env python
"""Regenerate README.md from the notebook named by `readme_nb` in settings.ini (nbs/index.ipynb).

nbdev's own `nbdev_readme` needs Quarto. This script makes the same README with what the `dev`
extra installs: nbdev's notebook processors prepare the notebook the way `nbdev_readme` does
(`#| hide` and exported cells removed, `#| hide_line` lines dropped, directives and magics
stripped, the `# title` / `> summary` cell turned into frontmatter), then nbconvert's
`MarkdownExporter` writes GitHub-flavoured markdown.

The notebook is not executed: the outputs stored in it (see `tools/store_outputs.py`) are used.
Text is kept (`text/markdown`, then `text/plain`, and stdout); images (plots) are written as
files to `nbs/readme_files/` and linked from the README, since GitHub does not show images
embedded in markdown; widgets, HTML without a text version, stderr and errors are dropped. So
README.md and its images depend only on the notebook's content.

Usage (from any directory):

    python tools/make_readme.py           # write README.md and nbs/readme_files/
    python tools/make_readme.py --check   # exit 1 if they are not what the notebook gives
"""
from __future__ import annotations
import argparse, difflib, os, re, shutil, sys
from pathlib import Path

import nbformat
from nbconvert import MarkdownExporter
from execnb.nbio import nb2dict, read_nb
from nbdev.config import get_config
from nbdev.frontmatter import FrontmatterProc
from nbdev.process import NBProcessor
from nbdev.processors import (clean_magics, filter_stream_, hide_, hide_line, insert_warning,
                              populate_language, rm_export, rm_header_dash, strip_ansi,
                              strip_hidden_metadata)

# The processors `nbdev_readme` runs before Quarto renders, minus the ones that execute code
# (`add_show_docs`, `exec_show_docs`: the README notebook documents no exported symbol) and
# `add_links`, whose links depend on which other nbdev libraries happen to be installed.
PROCS = [FrontmatterProc, populate_language, insert_warning, strip_ansi, hide_line, filter_stream_,
         rm_header_dash, rm_export, clean_magics, hide_, strip_hidden_metadata]

KEEP_MIMES = ('text/markdown', 'text/plain')  # in order of preference
IMAGE_MIMES = ('image/png', 'image/jpeg', 'image/svg+xml')  # in order of preference; their text repr is dropped
DROP_MIMES = ('application/vnd.jupyter.widget-view+json',)  # a widget's text/plain is a volatile repr
IMAGES_DIR = 'readme_files'  # in nbs/, written by this script only


def _clean_output(o) -> dict | None:
    "A deterministic version of output `o` (text, or one image), or None to drop it."
    kind = o.get('output_type')
    if kind == 'stream':
        text = ''.join(o.get('text', ''))
        return {'output_type': 'stream', 'name': 'stdout', 'text': text} if o.get('name') == 'stdout' and text else None
    if kind in ('execute_result', 'display_data'):
        data = o.get('data', {})
        if any(m in DROP_MIMES for m in data): return None  # widgets
        for m in IMAGE_MIMES + KEEP_MIMES:
            if m in data:
                return {'output_type': 'display_data', 'metadata': {}, 'data': {m: ''.join(data[m])}}
    return None  # errors, HTML-only outputs, anything unknown


def _frontmatter_md(fm: dict) -> str:
    "Title and summary as markdown (Quarto's gfm output would drop the summary)."
    res = f"# {fm['title']}\n" if fm.get('title') else ''
    if fm.get('description'): res += f"\n> {fm['description']}\n"
    return res


def render(nb_path: Path, images_dir: str) -> tuple[str, dict[str, bytes]]:
    "README markdown for the notebook at `nb_path`, and its images (`{path: content}`, paths in `images_dir`)."
    proc = NBProcessor(nb_path, procs=PROCS)
    proc.process()
    nb = proc.nb
    fm = getattr(nb, 'frontmatter_', {}) or {}
    d = nb2dict(nb)  # drops nbdev's private `*_` attributes
    out = nbformat.v4.new_notebook(metadata={'language_info': {'name': 'python'}})
    for i, c in enumerate(d['cells']):
        src = ''.join(c.get('source', ''))
        if c['cell_type'] == 'raw' and re.match(r'\s*---\s*\n', src):
            continue  # the frontmatter FrontmatterProc inserted; rendered by `_frontmatter_md`
        if c['cell_type'] == 'code':
            outputs = [o for o in map(_clean_output, c.get('outputs', [])) if o]
            cell = nbformat.v4.new_code_cell(src, outputs=[nbformat.from_dict(o) for o in outputs])
        elif c['cell_type'] == 'markdown': cell = nbformat.v4.new_markdown_cell(src)
        else: cell = nbformat.v4.new_raw_cell(src, metadata=c.get('metadata', {}))
        cell.id = f'cell-{i}'  # stable ids: nothing volatile reaches the exporter
        out.cells.append(cell)
    # images become files `{images_dir}/{notebook}_{cell}_{output}.png`, linked as `![png](...)`
    body, res = MarkdownExporter().from_notebook_node(out, resources={'output_files_dir': images_dir,
                                                                      'unique_key': nb_path.stem})
    text = _frontmatter_md(fm) + '\n' + body
    text = re.sub(r'\n[ \t]+(?=\n)', '\n', text)                # whitespace-only lines (around images) made empty
    text = re.sub(r'\n{3,}', '\n\n', text).strip() + '\n'  # nbconvert's spacing varies by cell kind
    return text, dict(sorted(res.get('outputs', {}).items()))


def _stored_images(d: Path, root: Path) -> dict[str, bytes]:
    "The files in folder `d`, as `{path relative to root: content}`."
    return {f.relative_to(root).as_posix(): f.read_bytes() for f in sorted(d.iterdir()) if f.is_file()} if d.is_dir() else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    args = ap.parse_args(argv)
    root = next(p for p in Path(__file__).resolve().parents if (p/'settings.ini').exists())
    os.chdir(root)  # nbdev finds settings.ini from the working directory
    cfg = get_config()
    nb_path = cfg.nbs_path/cfg.get('readme_nb', 'index.ipynb')
    readme = cfg.config_path/'README.md'
    img_dir = cfg.nbs_path/IMAGES_DIR
    new, images = render(nb_path, img_dir.relative_to(cfg.config_path).as_posix())
    rel_nb, rel_readme = nb_path.relative_to(cfg.config_path), readme.relative_to(cfg.config_path)
    if args.check:
        old = readme.read_text(encoding='utf-8') if readme.exists() else ''
        old_images = _stored_images(img_dir, cfg.config_path)
        if old == new and old_images == images:
            print(f"{rel_readme} and its {len(images)} images are up to date with {rel_nb}")
            return 0
        sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                   f'{rel_readme} (committed)', f'{rel_readme} (from {rel_nb})'))
        for f in sorted(set(old_images) | set(images)):
            if old_images.get(f) != images.get(f):
                print(f"{f}: {'missing' if f not in old_images else 'not in the README' if f not in images else 'differs'}")
        print(f"\nERROR: {rel_readme} is stale: it does not match {rel_nb}. "
              f"Run `python tools/make_readme.py` and commit the result.", file=sys.stderr)
        return 1
    with open(readme, 'w', encoding='utf-8', newline='\n') as f: f.write(new)
    if img_dir.exists(): shutil.rmtree(img_dir)  # no stale images
    for f, content in images.items():
        (cfg.config_path/f).parent.mkdir(parents=True, exist_ok=True)
        (cfg.config_path/f).write_bytes(content)
    print(f"wrote {rel_readme} and {len(images)} images in {img_dir.relative_to(cfg.config_path)} from {rel_nb}")
    return 0


if __name__ == '__main__': sys.exit(main())
