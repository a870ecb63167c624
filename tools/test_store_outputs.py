#!/usr/bin/env python
"""Self-test of `tools/store_outputs.py`: its checks fail where they must, and only there.

It builds a throwaway project (settings.ini and one small notebook that draws, prints and shows a
value) in a temporary folder, stores the notebook's outputs, then spoils them the ways the checks
exist for, and runs `--static` and `--check` on each:

- freshly stored outputs pass both checks, and so do stored outputs whose numbers differ;
- a stripped picture fails both;
- outputs stored from older code (a cell since edited to print one more line) fail `--check`;
- a cell that shows a value but stores nothing fails both; a skipped cell that stores output fails both;
- a `#| slow` cell is run when storing (its output is stored), not by `--check`, and its outputs
  are held to the static rules: stripped, it fails both.

It runs the notebook eight times in a kernel (about 25 s). Usage: `python tools/test_store_outputs.py`
"""
from __future__ import annotations
import os, re, shutil, sys, tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
import store_outputs as so

CELLS = ["import matplotlib.pyplot as plt",
         "class Rec:\n    def plot_loss(self):\n        fig, ax = plt.subplots(figsize=(2, 1.5)); ax.plot([3, 1, 2]); return fig\nrec = Rec()",
         "fig = rec.plot_loss()",                                                  # 2: draws
         "for i in range(3): print(f'epoch {i}  loss {1 / (i + 1):.4f}')",         # 3: prints 3 lines
         "#| eval: false\nprint('never run')",                                     # 4: skipped
         "x = 0.5\nx",                                                            # 5: shows a value
         "#| slow\nprint('a long run')"]                                         # 6: run when storing, not by --check
FLAGS = {'gpu', 'network', 'slow'}


def expect(what: str, probs: list[str], *patterns: str):
    "Check that `probs` holds one problem matching each of `patterns` (none if no pattern), and nothing else."
    ok = len(probs) == len(patterns) and all(any(re.search(p, m) for m in probs) for p in patterns)
    print(f"{'ok ' if ok else 'FAIL'} {what}: {probs or 'no problem'}")
    if not ok: raise AssertionError(f"{what}: expected {list(patterns) or 'no problem'}, got {probs}")


def main() -> int:
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root/'settings.ini').write_text("[DEFAULT]\nlib_name = toy\nlib_path = toy\nnbs_path = nbs\n"
                                         "tst_flags = gpu network slow\nclean_ids = True\nclear_all = False\n"
                                         "allowed_metadata_keys =\nallowed_cell_metadata_keys =\n")
        nb_path = root/'nbs'/'toy.ipynb'
        nb_path.parent.mkdir()
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
                                                metadata={'kernelspec': {'name': 'python3', 'display_name': 'python3', 'language': 'python'}}), nb_path)
        os.chdir(root)  # nbdev_clean finds settings.ini from the working directory
        try:
            def both(what, static=(), fresh=()):
                "Run both checks on the notebook as it is now: `--static` gives the problems `static`, `--check` these and `fresh`."
                expect(f"{what} (--static)", so.check_static(nb_path, FLAGS), *static)
                expect(f"{what} (--check)", so.check_fresh(nb_path, FLAGS), *static, *fresh)

            def edit(f):
                "Apply `f` to the stored notebook."
                nb = nbformat.read(nb_path, as_version=4); f(nb); nbformat.write(nb, nb_path)

            print(so.store_outputs(nb_path, FLAGS))
            stored = nb_path.read_text()
            nb = nbformat.read(nb_path, as_version=4)
            assert any('image/png' in o.get('data', {}) for o in nb.cells[2].outputs), "the plot was not stored"
            assert nb.cells[3].outputs[0].text.count('\n') == 3 and not nb.cells[4].outputs
            both("freshly stored")

            edit(lambda nb: nb.cells[3].outputs[0].update(text=nb.cells[3].outputs[0].text.replace('0.5000', '0.7311')))
            both("other numbers")

            nb_path.write_text(stored)
            edit(lambda nb: nb.cells[2].outputs[0].data.pop('image/png'))
            both("picture stripped", [r"cell 2 .*draws, but stores no picture"], [r"cell 2 .*not those of the current code"])

            nb_path.write_text(stored)
            edit(lambda nb: nb.cells[3].update(source=CELLS[3].replace('range(3)', 'range(4)')))
            both("cell edited to print one more line", fresh=[r"cell 3 .*3 lines stored, 4 fresh"])

            nb_path.write_text(stored)
            edit(lambda nb: nb.cells[5].update(outputs=[]))
            both("value not stored", [r"cell 5 .*ends in an expression, but stores no result"], [r"cell 5 .*not those of the current code"])

            nb_path.write_text(stored)
            edit(lambda nb: nb.cells[4].update(outputs=[nbformat.v4.new_output('stream', name='stdout', text='never run\n')]))
            both("skipped cell with outputs", [r"cell 4 .*is not run .* but stores outputs"])     # a cell no run makes: the static rule

            nb_path.write_text(stored)
            slow_outs = nbformat.read(nb_path, as_version=4).cells[6].outputs
            if not any(o.get('name') == 'stdout' for o in slow_outs): raise AssertionError("the slow cell's output was not stored")
            edit(lambda nb: nb.cells[6].update(outputs=[]))
            both("slow cell stripped", [r"cell 6 .*prints, but stores no stdout"])
        finally: os.chdir(cwd)
    print("store_outputs self-test passed")
    return 0


if __name__ == '__main__': sys.exit(main())
