#!/usr/bin/env bash
# A-net benchmarks on this machine (not part of the test run): inference Mpx/s for ngf 16 and
# 64 at 1024^2 and 2560^2 (fp32, 2 threads by default) and training steps/s at 256^2 and 512^2.
# One configuration per process, so each peak-memory figure is its own. Needs the anet_bench
# target (configure with -DANNAMOSAIC_BUILD_BENCHMARKS=ON, build `anet_bench`).
#   bash scripts/bench-anet.sh [BUILD_DIR] [THREADS]     -> JSON lines on stdout
set -euo pipefail
build=${1:-build}
threads=${2:-2}
bench=$(find "$build" -type f -name anet_bench -perm -u+x | head -n 1)
[ -n "$bench" ] || { echo "anet_bench not found under $build" >&2; exit 1; }
for ngf in 16 64; do
  "$bench" infer "$ngf" 1024 "$threads" 2 auto
  "$bench" infer "$ngf" 2560 "$threads" 1 auto
done
for crop in 256 512; do
  "$bench" train 16 16 "$crop" "$threads" 10
  "$bench" train 64 64 "$crop" "$threads" 3
done
