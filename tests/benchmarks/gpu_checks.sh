#!/usr/bin/env bash
# The GPU measurements of the README's speed section in one command, for a machine with a CUDA GPU.
# From the repository root, with udabench installed:
#
#   tests/benchmarks/gpu_checks.sh RESULTS_DIR [DATA_DIR]
#
# DATA_DIR (default ../shared/data) holds mnist/ and usps/ in the hub parquet layout. Writes into
# RESULTS_DIR:
#   bench.json        udabench bench on mnist-usps for dann, source-only, 3cgan, label2image and
#                     cycada: udabench's path, the typical per-sample loop and the captured step
#                     (--capture on), in fp32 and bf16;
#   concurrent-N.*    the same eight short DANN runs with N = 1 and N = 8 runs at once on the GPU
#                     (--workers-per-gpu), their stores and wall-clock seconds;
# and prints a summary table last. Environment: DEVICE (default cuda; cpu runs the same path with
# --workers instead of --workers-per-gpu, to try the script out), STEPS, WARMUP and REPEATS (bench's
# timed steps per round, untimed steps and rounds; default 50, 20, 3), CAPTURE (bench's --capture,
# default on), RUN_STEPS (steps of each concurrent run, default 1000), UDABENCH (the command, default
# udabench).
set -euo pipefail
results=${1:?usage: tests/benchmarks/gpu_checks.sh RESULTS_DIR [DATA_DIR]}
data=${2:-../shared/data}
device=${DEVICE:-cuda}
steps=${STEPS:-50}
warmup=${WARMUP:-20}
repeats=${REPEATS:-3}
capture=${CAPTURE:-on}
run_steps=${RUN_STEPS:-1000}
udabench=${UDABENCH:-udabench}
mkdir -p "$results"
export UDABENCH_CACHE="$results/cache" PYTHONUNBUFFERED=1
digits=(--data "mnist=$data/mnist" --data "usps=$data/usps")

echo "== bench: five methods on mnist-usps, eager, captured, fp32 and bf16 ($device)"
$udabench bench --method dann,source-only,3cgan,label2image,cycada --task mnist-usps --device "$device" \
    --capture "$capture" --precision fp32,bf16 --batch-size 64 --steps "$steps" --warmup "$warmup" \
    --repeats "$repeats" \
    "${digits[@]}" --json > "$results/bench.json"

for at_once in 1 8; do
    echo "== eight DANN runs of $run_steps steps, $at_once at a time ($device)"
    if [ "$device" = cuda ]; then placement=(--workers-per-gpu "$at_once"); else placement=(--workers "$at_once"); fi
    started=$(date +%s.%N)
    $udabench sweep --method dann --task mnist-usps --seeds 0-7 --steps "$run_steps" --batch-size 64 \
        --device "$device" --eval-points 1 "${placement[@]}" --store "$results/concurrent-$at_once.sqlite" \
        "${digits[@]}"
    awk -v started="$started" -v ended="$(date +%s.%N)" 'BEGIN { print ended - started }' \
        > "$results/concurrent-$at_once.seconds"
done

python3 - "$results" "$run_steps" <<'EOF'
import json, sqlite3, sys
from pathlib import Path

results, run_steps = Path(sys.argv[1]), int(sys.argv[2])
rows = json.loads((results / "bench.json").read_text())
print("| method | precision | udabench steps/s | typical steps/s | ratio | captured steps/s | captured ratio "
      "| captured first step s |")
print("|---|---|---|---|---|---|---|---|")
for row in rows:
    captured = row["captured_steps_per_s"]
    print(f"| {row['method']} | {row['precision']} | {row['udabench_steps_per_s']:.1f} | "
          f"{row['typical_steps_per_s']:.1f} | {row['ratio']:.2f}x | "
          + (f"{captured:.1f} | {row['captured_ratio']:.2f}x | {row['captured_first_step_s'] or 0:.1f} |"
             if captured else f"– ({row['capture']}) | – | – |"))
print()
rates = {}
for at_once in (1, 8):
    seconds = float((results / f"concurrent-{at_once}.seconds").read_text())
    with sqlite3.connect(results / f"concurrent-{at_once}.sqlite") as store:
        done = store.execute("SELECT COUNT(*) FROM runs WHERE status = 'ok'").fetchone()[0]
    rates[at_once] = done * run_steps / seconds
    print(f"{at_once} run(s) at a time: {done} runs of {run_steps} steps in {seconds:.1f} s, "
          f"{rates[at_once]:.1f} aggregate steps/s (start-up, loading and evaluation included)")
print(f"8 at a time over 1 at a time: {rates[8] / rates[1]:.2f}x")
EOF
