#!/usr/bin/env bash
# Heavy check (not in the default tests): the paper's 33 x 33 = 1,089-FoV geometry end to end at
# a reduced FoV size (configs/fig4-33x33-reduced.ini: 10 um FoVs, 1 um overlap) with the demo
# model, with 1 and with 2 MPI ranks. Prints wall time, per-stage totals and peak RSS per run.
#   scripts/scale-run.sh [build/jobs/cli/annamosaic] [max FoVs per run, default all]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/jobs/cli/annamosaic}
max=${2:--1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
cfg=configs/fig4-33x33-reduced.ini
[[ -f out/fig4-reduced/campaign/positions.csv ]] || "$bin" simulate --config "$cfg"
for ranks in 1 2; do
  out=out/fig4-reduced/ranks$ranks
  rm -rf "$out"
  /usr/bin/time -v -o "$out.time" mpirun -n $ranks --oversubscribe "$bin" run --config "$cfg" --output "$out" \
      --max-fovs "$max" --threads $((2 / ranks)) > "$out.log" 2>&1 || true
  echo "== $ranks rank(s): exit $(grep -m1 'Exit status' "$out.time" | awk '{print $3}')"
  grep -E "Elapsed|Maximum resident" "$out.time"
  grep -E "rank [0-9]+: |processed|layout:|wrote .*mosaic" "$out.log" | sed 's/^\[[^]]*\] \[info\] /  /'
  /usr/bin/python3 - "$out" <<'PY'
import json, sys, collections
t = collections.Counter()
n = 0
for line in open(sys.argv[1] + "/manifest.jsonl"):
    j = json.loads(line)
    for k, v in j.get("extra", {}).get("timings", {}).items():
        t[k] += v
    n += 1
print("  per-stage totals over %d FoVs (s): " % n + ", ".join(f"{k} {v:.1f}" for k, v in sorted(t.items())))
PY
done
