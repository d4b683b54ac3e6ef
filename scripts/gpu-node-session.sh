#!/usr/bin/env bash
# One prepared pass on a GPU node (e.g. a short lease): build the full annamosaic with
# scripts/setup-gpu-node.sh, then `run` the demo and the reduced 33 x 33 campaign on the GPU with
# per-stage tables, the demo's FoVs again in bf16 and with more FoVs in flight, and pack it all.
#   bash scripts/gpu-node-session.sh OUT_DIR
# Needs gpu-node/debs (from `bash scripts/setup-gpu-node.sh fetch` on a Debian 12 machine).
# Results: OUT_DIR/summary.txt (stage tables, one line per run) and OUT_DIR/results.tar.gz
# (run/stitch summaries, manifests, logs). Each step has a time limit so the pass always ends
# with results; the whole pass is sized for ~10 minutes on a 16-core node.
# Environment: SKIP_BUILD=1 (reuse build-gpu), DEVICE (default cuda where nvidia-smi lists a GPU,
# so that a LibTorch that cannot use it fails loudly instead of running on the CPU; else auto),
# REDUCED_LIMIT_S (default 300), FOV_LIMIT_S per demo run (default 120), SESSION_LIMIT_S (default
# 540: every step is cut to what is left of it, so the pass ends inside a 600 s device call).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[[ -n "${1:-}" ]] || { echo "usage: gpu-node-session.sh OUT_DIR" >&2; exit 2; }
# (The check outside $(...): inside it only the subshell would stop, and the pass would go on
# writing at / with an empty OUT_DIR.)
out=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "gpu-node-session.sh: cannot make $1" >&2; exit 2; }
work=${WORK_DIR:-/tmp/annamosaic-gpu-session}
if [[ -z ${DEVICE:-} ]] && nvidia-smi -L 2> /dev/null | grep -q "^GPU"; then device=cuda; else device=${DEVICE:-auto}; fi
rm -rf "$work"; mkdir -p "$work"
summary=$out/summary.txt
exec > >(tee "$out/session.log") 2>&1
cd "$repo"
note() { echo "$*" | tee -a "$summary"; }
deadline=$((SECONDS + ${SESSION_LIMIT_S:-540}))
# A step's time limit: its own, but never beyond the session's deadline (minus 15 s to pack up).
limit() { local l=$1 left=$((deadline - SECONDS - 15)); ((left < l)) && l=$left; echo $((l > 0 ? l : 1)); }  # timeout 0 would mean none
: > "$summary"
note "# annamosaic GPU-node session, $(date -u +%FT%TZ), $(nproc) cores, --device $device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null | sed 's/^/# GPU: /' | tee -a "$summary"
# gpu-node/ is git-ignored: a copy of the repository has it only where it was carried along.
if [[ -z ${SKIP_BUILD:-} && ! -f gpu-node/debs/PACKAGES ]]; then
  note "no gpu-node/debs/PACKAGES: run 'bash scripts/setup-gpu-node.sh fetch' on a Debian 12 machine and copy (or carry)"
  note "gpu-node/debs along with the repository"
  exit 1
fi

t0=$SECONDS
if [[ -z ${SKIP_BUILD:-} ]]; then
  WITH_TESTS=OFF timeout "$(limit 420)" bash scripts/setup-gpu-node.sh build 2>&1 | tee "$work/setup.log"
  if [[ ${PIPESTATUS[0]} -ne 0 ]]; then
    note "setup-gpu-node.sh build failed or ran out of time after $((SECONDS - t0)) s; its last lines:"
    tail -n 30 "$work/setup.log" >> "$summary"
    tail -n 40 gpu-node/cmake.log gpu-node/build.log 2> /dev/null >> "$summary"
    exit 1
  fi
fi
note "build: $((SECONDS - t0)) s"
grep -E "^setup-gpu-node: (torch|tools):" "$work/setup.log" 2> /dev/null | sed 's/^/# /' | tee -a "$summary"
if [[ -f gpu-node/env.sh ]]; then
  . gpu-node/env.sh
elif ! command -v annamosaic > /dev/null; then
  note "no gpu-node/env.sh and no annamosaic on PATH (SKIP_BUILD=1 without an earlier build?)"
  exit 1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
annamosaic --version | sed 's/^/# /' | tee -a "$summary"

# One `run` under mpirun (one rank, all cores: --bind-to none), its table appended to the summary.
run_case() {
  local name=$1 lim
  lim=$(limit "$2"); shift 2
  local dir=$work/$name t=$SECONDS rc
  mkdir -p "$dir"
  if ((lim < 10)); then note ""; note "## $name: skipped, the session's time is used up"; return; fi
  # At the limit, SIGUSR1 (mpirun forwards it): the rank finishes its FoVs in flight, records them
  # and writes run_summary.json (exit 75), so a cut-short run still has its table.
  # The GPU's use, once a second, beside the run (its share of the wall time, measured).
  local dmon=
  if command -v nvidia-smi > /dev/null; then nvidia-smi dmon -s u -d 1 > "$dir/dmon.log" 2>&1 & dmon=$!; fi
  timeout -s USR1 -k 20 "$lim" mpirun -n 1 --bind-to none annamosaic run --output "$dir" --device "$device" "$@" > "$dir/run.log" 2>&1
  rc=$?
  [[ -n $dmon ]] && kill "$dmon" 2> /dev/null
  note ""
  note "## $name: exit $rc in $((SECONDS - t)) s: annamosaic run $*"
  python3 scripts/stage-table.py "$dir" 2>&1 | tee -a "$summary"
  grep -E "device|GPU|bindings|warn" "$dir/run.log" | head -n 5 | sed 's/^/  log: /' | tee -a "$summary"
  # nvidia-smi dmon's lines: "gpu sm mem enc dec ..." (utilization %), one per second.
  [[ -s $dir/dmon.log ]] && awk '!/^#/ && NF >= 3 { n++; sm += $2; mem += $3; if ($2 > 0) busy++ }
    END { if (n) printf "  GPU over %d s: SM busy %.0f%% on average, some use in %d of the seconds; memory %.0f%%\n", n, sm / n, busy, mem / n }' \
    "$dir/dmon.log" | tee -a "$summary"
}

# The demo campaign (simulated on first use), whole run; then its FoV stage in other settings.
run_case demo-fp32 "${FOV_LIMIT_S:-120}" --config configs/demo.ini --campaign "$work/demo-campaign" --simulate-if-missing true
# The same FoVs on the CPU (first 3 of the dispatch order): the GPU run's outputs must match them.
t=$SECONDS
timeout "$(limit 90)" annamosaic run --config configs/demo.ini --campaign "$work/demo-campaign" --simulate-if-missing true --output "$work/demo-cpu" \
  --device cpu --stage fovs --max-fovs 3 > "$work/demo-cpu.log" 2>&1
rc=$?  # before `note`, whose own status $? would be
note ""
note "## demo-cpu: exit $rc in $((SECONDS - t)) s (3 FoVs on the CPU, to compare with demo-fp32; 75 is expected: --max-fovs leaves the rest)"
python3 - "$work/demo-fp32" "$work/demo-cpu" << 'EOF' 2>&1 | tee -a "$summary"
# The GPU run's FoV results against the CPU's, FoV by FoV; a verdict line at the end.
import json, os, sys
gpu, cpu = sys.argv[1], sys.argv[2]
def records(d):
    path = os.path.join(d, "manifest.jsonl")
    if not os.path.exists(path):
        print(f"{path} is missing: that run recorded no FoV (see its log)")
        return {}
    out = {}
    for line in open(path):
        try:
            r = json.loads(line)
            out[r["id"]] = r
        except (ValueError, KeyError):
            pass
    return out
def device(d):
    try:
        return json.load(open(os.path.join(d, "run_summary.json"))).get("device", "?")
    except (OSError, ValueError):
        return "? (no run_summary.json)"
print(f"devices: demo-fp32 {device(gpu)}, demo-cpu {device(cpu)}")
if not str(device(gpu)).startswith("cuda"):
    print("NOT A GPU RUN: demo-fp32 did not run on a CUDA device; the comparison below is CPU against CPU")
g, c = records(gpu), records(cpu)
both = [i for i in sorted(c) if i in g and g[i].get("status") == "done" and c[i].get("status") == "done"]
for i in sorted(c):
    if i not in both:
        print(f"FoV {i}: GPU {g.get(i, {}).get('status', 'not run')}, CPU {c[i].get('status')}: not compared")
score = lambda r: r.get("extra", {}).get("error_score")
for i in both:
    print(f"FoV {i}: error_score GPU {score(g[i])} CPU {score(c[i])}")
try:
    import h5py, numpy as np
except ImportError:
    sys.exit("no h5py/numpy here: datasets not compared (error scores above)")
worst = 0.0
for i in both:
    with h5py.File(os.path.join(gpu, g[i]["file"]), "r") as a, h5py.File(os.path.join(cpu, c[i]["file"]), "r") as b:
        diffs = {k: float(np.nanmax(np.abs(a[k][...].astype(np.float64) - b[k][...])))
                 for k in ("reconstruction", "q", "error_map") if k in a and k in b}
        how = a.attrs.get("inference", "?")
    worst = max([worst, *diffs.values()])
    print(f"FoV {i}: max |GPU - CPU| " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + f" (inference: {how})")
if both:
    verdict = "MATCH" if worst <= 1e-3 else "DIFFER"
    print(f"verdict: {verdict}: largest |GPU - CPU| {worst:.2e} over {len(both)} FoV(s) (tolerance 1e-3 on 0..1 images)")
EOF
run_case demo-bf16 "${FOV_LIMIT_S:-120}" --config configs/demo.ini --campaign "$work/demo-campaign" --simulate-if-missing true --stage fovs --precision bf16
run_case demo-inflight8 "${FOV_LIMIT_S:-120}" --config configs/demo.ini --campaign "$work/demo-campaign" --simulate-if-missing true --stage fovs --in-flight 8

# The reduced 33 x 33 campaign (1,089 FoVs of 500 px): simulation first, then the whole run.
t=$SECONDS
timeout "$(limit 240)" annamosaic simulate --config configs/fig4-33x33-reduced.ini --output "$work/fig4-campaign" > "$work/fig4-simulate.log" 2>&1
rc=$?
note ""
note "fig4 reduced: simulate exit $rc in $((SECONDS - t)) s"
run_case fig4-reduced "${REDUCED_LIMIT_S:-300}" --config configs/fig4-33x33-reduced.ini --campaign "$work/fig4-campaign" \
  --simulate-if-missing false --in-flight 8
note "(fig4-reduced: a complete run exits 5: its 11 FoVs without localizations are marked failed, as designed)"
cp gpu-node/cmake.log gpu-node/build.log "$work/" 2> /dev/null

(cd "$work" && find . -name "*.json" -o -name "*.jsonl" -o -name "*.log" -o -name "*.xml" | grep -v "/fov/" |
  tar -czf "$out/results.tar.gz" -T -)
note ""
note "session: $((SECONDS - t0)) s; results in $out/results.tar.gz"
