#!/usr/bin/env bash
# `npm run bench`: every benchmark in one go, results (JSON) and plots (PNG) in bench/results/.
# Run it on a quiet machine: the numbers are only comparable within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
DETECTOR_BUDGET_MS=${DETECTOR_BUDGET_MS:-20}
MOBILENET_BUDGET_MS=${MOBILENET_BUDGET_MS:-50}
SECONDS_PER_POINT=${SECONDS_PER_POINT:-8}
# The detector's full-width capacity (req/s) the batching run scales its loads by; empty: measure
# it (a 3 s probe that moves by 20% on a noisy machine; docs/benchmarks.md pins 92).
DETECTOR_CAPACITY=${DETECTOR_CAPACITY:-}
# Published ImageNet top-1 of S-MobileNetV2 (the paper's model table): the latency-only model has
# random weights, so its "delivered accuracy" is what the paper's weights would deliver.
MOBILENET_PUBLISHED_TOP1=0.35=0.597,0.5=0.644,0.75=0.689,1=0.705
# The engine measured side by side: the last build before pipelines ran whole in the workers.
PREVIOUS_REV=${PREVIOUS_REV:-5741090}
# The engine the batching run compares with: the last build before marginal jobs yielded to ones
# with room and late jobs were kept off the last free worker.
BATCHING_BEFORE_REV=${BATCHING_BEFORE_REV:-c8436af}
# The same change without its overload test (marginal jobs yield whenever another has room).
ALWAYS_YIELD_REV=${ALWAYS_YIELD_REV:-7169c95}
start=$(date +%s)

echo "== build"
npm run --silent bench:build
mkdir -p bench/results bench/tmp

echo "== latency-only S-MobileNetV2 (224x224x3, 1000 classes, random weights: never shipped)"
if [ ! -f bench/tmp/s-mobilenet-v2-latency-only/manifest.json ]; then
  (cd training && $PY -m slimmable.export.latency_only --out ../bench/tmp/s-mobilenet-v2-latency-only)
fi

# build_rev REV DIR: that revision's server, built beside this one (once)
build_rev() {
  if [ ! -f "$2/dist/server.js" ]; then
    rm -rf "$2"
    git worktree prune
    git worktree add --force --detach "$2" "$1"
    ln -s "$(pwd)/node_modules" "$2/node_modules"
    (cd "$2" && npx tsc -p .)
  fi
}
echo "== the previous engines ($PREVIOUS_REV, $BATCHING_BEFORE_REV, $ALWAYS_YIELD_REV), built beside this one"
build_rev "$PREVIOUS_REV" bench/tmp/previous
build_rev "$BATCHING_BEFORE_REV" "bench/tmp/batching-before-$BATCHING_BEFORE_REV"
build_rev "$ALWAYS_YIELD_REV" "bench/tmp/always-yield-$ALWAYS_YIELD_REV"
PREVIOUS=bench/tmp/previous/dist/server.js

echo "== width speed-ups"
node dist-bench/width-speedups.js | tee bench/results/width-speedups.txt

echo "== what decoding an image costs: the PNG fast path and sharp"
node dist-bench/decode-cost.js | tee bench/results/decode-cost.txt

echo "== serving efficiency: the raw pipeline vs the server, per width"
node dist-bench/serving-efficiency.js --previous "$PREVIOUS" | tee bench/results/serving-efficiency.txt

echo "== what batching buys in capacity, per width"
node dist-bench/batching.js | tee bench/results/batching-capacity.txt

echo "== what naming costs /detect, per width"
node dist-bench/detect-naming.js | tee bench/results/detect-naming.txt

echo "== adaptive vs fixed width under open-loop load"
node dist-bench/adaptive-vs-fixed.js --model fashion-detector --budget "$DETECTOR_BUDGET_MS" --seconds "$SECONDS_PER_POINT" --previous "$PREVIOUS" \
  | tee bench/results/adaptive-vs-fixed-fashion-detector.txt
node dist-bench/adaptive-vs-fixed.js --model s-mobilenet-v2-latency-only --models-dir bench/tmp --budget "$MOBILENET_BUDGET_MS" \
  --seconds "$SECONDS_PER_POINT" --previous "$PREVIOUS" --accuracy "$MOBILENET_PUBLISHED_TOP1" --accuracy-source "published ImageNet top-1 of S-MobileNetV2 (random weights here: latency only)" \
  | tee bench/results/adaptive-vs-fixed-s-mobilenet-v2-latency-only.txt

echo "== batching and shedding under load: 1x-3x steady, 2x bursty"
node dist-bench/adaptive-vs-fixed.js --model fashion-detector --budget "$DETECTOR_BUDGET_MS" --seconds "$SECONDS_PER_POINT" \
  --loads 1,2,3 --bursty 2 --modes deadline-plan,batching,shedding,fixed,previous --previous "bench/tmp/batching-before-$BATCHING_BEFORE_REV/dist/server.js" \
  ${DETECTOR_CAPACITY:+--capacity "$DETECTOR_CAPACITY"} --out bench/results/batching-fashion-detector.json \
  | tee bench/results/batching-fashion-detector.txt

echo "== overload, side by side and repeated: this engine, the one before, and always yielding"
node dist-bench/side-by-side.js --loads 1,3 --bursty 2 --repeats 4 ${DETECTOR_CAPACITY:+--capacity "$DETECTOR_CAPACITY"} \
  --variants "{\"before ($BATCHING_BEFORE_REV)\":{\"script\":\"bench/tmp/batching-before-$BATCHING_BEFORE_REV/dist/server.js\"},\"always yield ($ALWAYS_YIELD_REV)\":{\"script\":\"bench/tmp/always-yield-$ALWAYS_YIELD_REV/dist/server.js\"},\"this engine\":{}}" \
  --out bench/results/side-by-side-overload.json | tee bench/results/side-by-side-overload.txt

echo "== a fresh server's first seconds at 3x, from its own scheduler trace"
node dist-bench/onset-trace.js | tee bench/results/onset-trace.txt
node dist-bench/onset-trace.js --rate 184 --bursty --seconds 4 --bin 100 --out bench/results/onset-trace-bursty.json | tee bench/results/onset-trace-bursty.txt

echo "== a fresh server's first seconds, side by side: without the warm-up requests, and with them"
node dist-bench/cold-start.js --rounds 4 --variants '{"no warm-up requests":{"env":{"WARMUP_REQUESTS":"0"}},"warm-up":{}}' | tee bench/results/cold-start.txt

echo "== shedding's answers: where the client's clock and the server's part"
node dist-bench/reply-gap.js | tee bench/results/reply-gap.txt

echo "== the latency model's tail against the service times it predicts"
node dist-bench/tail-calibration.js --widths 0.25,0.5,0.75 --variants '{"this engine":{}}' | tee bench/results/tail-calibration.txt

echo "== what choosing a width costs the main thread per dispatch, the queue full"
node dist-bench/dispatch-cost.js | tee bench/results/dispatch-cost.txt

echo "== real Prometheus"
node dist-bench/prometheus-check.js | tee bench/results/prometheus-check.txt

echo "== tables and plots"
$PY bench/report.py bench/results

echo "bench: done in $(( $(date +%s) - start )) s; results in bench/results/"
