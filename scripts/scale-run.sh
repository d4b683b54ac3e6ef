#!/usr/bin/env bash
# Heavy check (not in the default tests): a whole campaign end to end with `annamosaic run`,
# once per rank layout, printing the FoV stage, the stitch stage, per-stage totals, load balance
# and peak RSS per rank (from run_summary.json and stitch_summary.json).
#   scripts/scale-run.sh [config, default configs/fig4-33x33-reduced.ini] [layouts...]
# A layout is RANKSxCORES: RANKS MPI ranks with CORES cores each, bound by mpirun
# (--map-by slot:PE=CORES). Default layouts: 1x1 2x1 1x2 (on this 2-core machine: one rank on one
# core, two ranks on one core each - the per-rank scaling -, and one rank on both cores).
# Another campaign: scripts/scale-run.sh configs/fullsize-8x8.ini 2x1
set -euo pipefail
case ${1:-} in -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;; esac
cd "$(dirname "$0")/.."
cfg=${1:-configs/fig4-33x33-reduced.ini}
[[ -f "$cfg" ]] || { echo "scale-run: no configuration $cfg (relative to $PWD)" >&2; exit 1; }
shift || true
layouts=("$@")
[[ ${#layouts[@]} -gt 0 ]] || layouts=(1x1 2x1 1x2)
bin=${ANNAMOSAIC:-build/jobs/cli/annamosaic}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
campaign=$(sed -n 's/^campaign *= *//p' "$cfg" | head -n1)
base=$(sed -n 's/^output *= *//p' "$cfg" | tail -n1)
[[ -f "$campaign/positions.csv" || -f "$campaign/campaign.ini" ]] || "$bin" simulate --config "$cfg"  # a real campaign may name its own positions file
for layout in "${layouts[@]}"; do
  ranks=${layout%x*} cores=${layout#*x}
  out=$base-scale/$layout
  rm -rf "$out"
  mkdir -p "$out"
  start=$(date +%s.%N)
  mpirun -n "$ranks" --map-by "slot:PE=$cores" --bind-to core "$bin" run --config "$cfg" --output "$out" \
      --threads "$cores" > "$out/run.log" 2>&1 && rc=0 || rc=$?
  end=$(date +%s.%N)
  echo "== $ranks rank(s) x $cores core(s): exit $rc, wall $(/usr/bin/python3 -c "print(round($end - $start, 1))") s"
  /usr/bin/python3 - "$out" <<'PY'
import json, sys, collections
out = sys.argv[1]
run = json.load(open(out + "/run_summary.json"))
st = json.load(open(out + "/stitch_summary.json"))
print(f"  FoV stage {run['seconds']:.1f} s ({run['processed']} FoVs, load balance {100 * run['load_balance']:.1f}%)")
for r in run["ranks"]:
    print(f"    rank {r['rank']}: {r['fovs']} FoVs, busy {r['busy_s']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB")
t = collections.Counter()
for line in open(out + "/manifest.jsonl"):
    for k, v in json.loads(line).get("extra", {}).get("timings", {}).items():
        t[k] += v
print("    per-stage totals over all FoVs (core-bound s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in sorted(t.items())))
print(f"  stitch stage {st['seconds']:.1f} s: register {st['register_s']:.1f} s, solve {st['solve_s']:.2f} s, "
      f"fuse + pyramid {st['fuse_and_pyramid_s']:.1f} s; mosaic {st['mosaic_width_px']} x {st['mosaic_height_px']} px, "
      f"{st['mosaic_bytes'] / 1e6:.0f} MB; peak RSS per rank {', '.join(f'{m:.0f}' for m in st['peak_rss_mb_per_rank'])} MB")
PY
done
