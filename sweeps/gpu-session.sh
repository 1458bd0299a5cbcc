#!/usr/bin/env bash
# Sweep files on a machine with a CUDA GPU for a fixed time, then every finished run in one archive,
# so that minutes on a borrowed GPU add to the runs kept in sweeps/runs/. From the repository root,
# with udabench installed:
#
#   sweeps/gpu-session.sh OUT_DIR SECONDS SWEEP_FILE...
#
# First the runs already kept in sweeps/runs/NAME.jsonl.gz are imported, so that only missing runs
# train. The sweeps then run one after another, with --device cuda and WORKERS_PER_GPU runs at once
# (default 8), until SECONDS have passed: a run still in flight then is lost, every finished one is
# kept. OUT_DIR/runs.tar.gz holds runs.jsonl and runs-artifacts/ as 'udabench results --export --weights'
# writes them (every run of the store: those imported and those made here); OUT_DIR/sweeps.log the
# sweeps' output. Back on the machine that keeps the runs, where the data is:
#
#   tar -xzf runs.tar.gz -C gpu/ && udabench import gpu/runs.jsonl --store S
#   udabench results --store S --protocol sweeps/NAME.toml --export sweeps/runs/NAME.jsonl.gz
#
# The run key holds no device, so a run of a CPU protocol made here counts as that protocol's run
# (its row records the device). Environment: DATA, a folder holding the datasets under the folder
# names the sweep files give, where the files' own paths do not reach them (a copy of the checkout
# without ../shared/data beside it); DEVICE (default cuda; cpu tries the script out with --workers
# 2); EXTRA, more sweep flags (e.g. "--steps 4 --set source_steps=4" to try it out); UDABENCH (the
# command, default udabench).
set -euo pipefail
out=${1:?usage: sweeps/gpu-session.sh OUT_DIR SECONDS SWEEP_FILE...}
seconds=${2:?usage: sweeps/gpu-session.sh OUT_DIR SECONDS SWEEP_FILE...}
shift 2
[ $# -gt 0 ] || { echo "usage: sweeps/gpu-session.sh OUT_DIR SECONDS SWEEP_FILE..." >&2; exit 2; }
device=${DEVICE:-cuda}
udabench=${UDABENCH:-udabench}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
store="$work/store/runs.sqlite"
mkdir -p "$out" "$work/export"
export PYTHONUNBUFFERED=1 UDABENCH_CACHE="$work/cache"
if [ "$device" = cuda ]; then placement=(--workers-per-gpu "${WORKERS_PER_GPU:-8}"); else placement=(--workers 2); fi
deadline=$(( $(date +%s) + seconds ))

data_flags() {  # --data NAME=$DATA/FOLDER for each dataset of the sweep file, FOLDER as the file names it
    [ -n "${DATA:-}" ] || return 0
    python3 - "$1" "$DATA" <<'EOF'
import sys, tomllib
from pathlib import Path
with open(sys.argv[1], "rb") as handle:
    data = tomllib.load(handle).get("data", {})
print(" ".join(f"--data {name}={Path(sys.argv[2]) / Path(path).name}" for name, path in data.items()))
EOF
}

for file in "$@"; do
    name=$(basename "$file" .toml)
    if [ -f "sweeps/runs/$name.jsonl.gz" ]; then
        $udabench import "sweeps/runs/$name.jsonl.gz" --store "$store" 2>&1 | tee -a "$out/sweeps.log"
    fi
done
for file in "$@"; do
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -le 30 ]; then
        echo "== $file: not started, the time is up" | tee -a "$out/sweeps.log"
        continue
    fi
    echo "== $file on $device for at most $left s" | tee -a "$out/sweeps.log"
    status=0
    # shellcheck disable=SC2046,SC2086
    timeout --signal=TERM --kill-after=30 "$left" $udabench sweep "$file" --device "$device" "${placement[@]}" \
        --store "$store" $(data_flags "$file") ${EXTRA:-} > "$work/sweep.log" 2>&1 || status=$?
    tr '\r' '\n' < "$work/sweep.log" | grep -v -e '^sweep: *[0-9]*%' -e '^[[:space:]]*$' >> "$out/sweeps.log" || true
    [ "$status" = 0 ] || echo "== $file: stopped (status $status; 124: the time limit)" | tee -a "$out/sweeps.log"
done
$udabench results --store "$store" --export "$work/export/runs.jsonl" --weights 2>&1 | tee -a "$out/sweeps.log"
tar -czf "$out/runs.tar.gz" -C "$work/export" .
echo
$udabench results --store "$store" --status ok 2>&1 | tail -n 40
