#!/usr/bin/env bash
# The test suite on a busy machine: nbdev_test while CPU hogs (`while True: pass`, one per core by
# default: two on a 2-core machine) keep every core busy. A test that waits on a sleep or a short
# timeout, instead of on what it waits for, fails here first. Run it in the project's venv:
#
#     bash tools/busy_test.sh                       # one hog per core, nbdev_test --n_workers 2
#     HOGS=4 bash tools/busy_test.sh --path nbs/15a_entry.ipynb   # 4 hogs; extra arguments go to nbdev_test
#
# The hogs are killed however the run ends (success, failure, Ctrl-C). Prints the wall time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

hogs=()
stop_hogs() {
    for pid in "${hogs[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${hogs[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_hogs EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

python=$(command -v python || command -v python3)
for _ in $(seq "${HOGS:-$(nproc)}"); do
    "$python" -c 'while True: pass' &
    hogs+=($!)
done
echo "busy_test: ${#hogs[@]} CPU hogs running (pids ${hogs[*]}) on $(nproc) cores"

SECONDS=0
status=0
nbdev_test --n_workers 2 "$@" || status=$?
echo "busy_test: nbdev_test took ${SECONDS}s with ${#hogs[@]} CPU hogs (exit status $status)"
exit "$status"
