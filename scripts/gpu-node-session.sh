#!/usr/bin/env bash
# One prepared pass on a GPU node (e.g. a short lease): build the full annamosaic with
# scripts/setup-gpu-node.sh, then `run` the demo and the reduced 33 x 33 campaign on the GPU with
# per-stage tables, the demo's FoVs again in bf16 and with more FoVs in flight, and pack it all.
#   bash scripts/gpu-node-session.sh OUT_DIR
# Needs gpu-node/debs (from `bash scripts/setup-gpu-node.sh fetch` on a Debian 12 machine).
# Results: OUT_DIR/summary.txt (stage tables, one line per run) and OUT_DIR/results.tar.gz
# (run/stitch summaries, manifests, logs). Each step has a time limit so the pass always ends
# with results; the whole pass is sized for ~10 minutes on a 16-core node.
# Environment: SKIP_BUILD=1 (reuse build-gpu), DEVICE (default auto: the GPU if visible),
# REDUCED_LIMIT_S (default 300), FOV_LIMIT_S per demo run (default 120), SESSION_LIMIT_S (default
# 540: every step is cut to what is left of it, so the pass ends inside a 600 s device call).
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
[[ -n "${1:-}" ]] || { echo "usage: gpu-node-session.sh OUT_DIR" >&2; exit 2; }
# (The check outside $(...): inside it only the subshell would stop, and the pass would go on
# writing at / with an empty OUT_DIR.)
out=$(mkdir -p "$1" && cd "$1" && pwd) || { echo "gpu-node-session.sh: cannot make $1" >&2; exit 2; }
work=${WORK_DIR:-/tmp/annamosaic-gpu-session}
device=${DEVICE:-auto}
rm -rf "$work"; mkdir -p "$work"
summary=$out/summary.txt
exec > >(tee "$out/session.log") 2>&1
cd "$repo"
note() { echo "$*" | tee -a "$summary"; }
deadline=$((SECONDS + ${SESSION_LIMIT_S:-540}))
# A step's time limit: its own, but never beyond the session's deadline (minus 15 s to pack up).
limit() { local l=$1 left=$((deadline - SECONDS - 15)); ((left < l)) && l=$left; echo $((l > 0 ? l : 1)); }  # timeout 0 would mean none
: > "$summary"
note "# annamosaic GPU-node session, $(date -u +%FT%TZ), $(nproc) cores"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2> /dev/null | sed 's/^/# GPU: /' | tee -a "$summary"

t0=$SECONDS
if [[ -z ${SKIP_BUILD:-} ]]; then
  if ! WITH_TESTS=OFF timeout "$(limit 420)" bash scripts/setup-gpu-node.sh build; then
    note "setup-gpu-node.sh build failed or ran out of time after $((SECONDS - t0)) s"
    tail -n 40 gpu-node/cmake.log gpu-node/build.log 2> /dev/null >> "$summary"
    exit 1
  fi
fi
note "build: $((SECONDS - t0)) s"
[[ -n ${SKIP_BUILD:-} && ! -f gpu-node/env.sh ]] || . gpu-node/env.sh
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
  timeout -s USR1 -k 20 "$lim" mpirun -n 1 --bind-to none annamosaic run --output "$dir" --device "$device" "$@" > "$dir/run.log" 2>&1
  rc=$?
  note ""
  note "## $name: exit $rc in $((SECONDS - t)) s: annamosaic run $*"
  python3 scripts/stage-table.py "$dir" 2>&1 | tee -a "$summary"
  grep -E "device|GPU|bindings|warn" "$dir/run.log" | head -n 5 | sed 's/^/  log: /' | tee -a "$summary"
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
import json, os, sys
gpu, cpu = sys.argv[1], sys.argv[2]
def records(d):
    out = {}
    for line in open(os.path.join(d, "manifest.jsonl")):
        r = json.loads(line)
        out[r["id"]] = r
    return out
g, c = records(gpu), records(cpu)
both = [i for i in sorted(c) if i in g]
for i in both:
    print(f"FoV {i}: error_score GPU {g[i]['extra']['error_score']:.8f} CPU {c[i]['extra']['error_score']:.8f}")
try:
    import h5py, numpy as np
except ImportError:
    sys.exit("no h5py/numpy here: datasets not compared (error scores above)")
for i in both:
    with h5py.File(os.path.join(gpu, g[i]["file"]), "r") as a, h5py.File(os.path.join(cpu, c[i]["file"]), "r") as b:
        diffs = {k: float(np.max(np.abs(a[k][...] - b[k][...]))) for k in ("reconstruction", "q", "error_map") if k in a}
    print(f"FoV {i}: max |GPU - CPU| " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
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

(cd "$work" && find . -name "*.json" -o -name "*.jsonl" -o -name "*.log" -o -name "*.xml" | grep -v "/fov/" |
  tar -czf "$out/results.tar.gz" -T -)
note ""
note "session: $((SECONDS - t0)) s; results in $out/results.tar.gz"
