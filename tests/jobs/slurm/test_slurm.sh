#!/usr/bin/env bash
# The SLURM path for real: a local single-node cluster (munge + slurmctld + slurmd, two fake
# GPUs), the project's own submit script and sbatch files, the demo-sized campaign, then
#  1. two grids, one of them broken: FoV array -> stitch array (aftercorr): the good grid's
#     mosaic is made (checked with h5py), the broken grid's stitch element is cancelled
#  2. GPU binding: each rank saw its own CUDA_VISIBLE_DEVICES (--gpus-per-task=1)
#  3. time limit near: USR1 to the batch shell -> ranks stop, exit 75 -> the script requeues ->
#     the requeued element resumes from the manifest (SLURM_RESTART_COUNT=1) and completes
#  4. scancel of a running element: the ranks stop cleanly and the element stays cancelled
#  5. time limit near after ANNAMOSAIC_MAX_REQUEUES requeues: stopped, not requeued again
#  (and first, without the daemons: a stitch element restarted more often than
#  ANNAMOSAIC_MAX_STITCH_RESTARTS is not run again)
# Usage: test_slurm.sh ANNAMOSAIC_BIN WORKDIR. Exit 77 (ctest: skipped, reported) when the
# machine cannot run a local SLURM (not root, packages missing).
set -uo pipefail
bin=$(realpath "$1"); work=$(realpath -m "$2")
src=$(cd "$(dirname "$0")/../../.." && pwd)
rm -rf "$work"; mkdir -p "$work"; cd "$work"
# Without the daemons first: a stitch element restarted by SLURM more often than
# ANNAMOSAIC_MAX_STITCH_RESTARTS (pre-emptions) is not run again, as each restart starts its mosaic
# over (the batch script's own check, before srun).
echo "$work/grid.ini" > restarts.list
msg=$(SLURM_JOB_ID=999 SLURM_RESTART_COUNT=4 ANNAMOSAIC="$bin" bash "$src/slurm/annamosaic-grid.sbatch" stitch restarts.list 2>&1)
rc=$?
if ! { [[ $rc -eq 75 ]] && grep -q "was restarted 4 times (pre-empted or its node lost; ANNAMOSAIC_MAX_STITCH_RESTARTS=3)" <<< "$msg"; }; then
  echo "FAIL: a stitch restarted 4 times ran again (exit $rc): $msg"; exit 1
fi
state="$work/slurm-state"
out=$("$src/slurm/local-cluster.sh" start "$state"); rc=$?
if [[ $rc -eq 2 ]]; then echo "SKIP: this machine cannot run a local SLURM"; exit 77; fi
[[ $rc -eq 0 ]] || { echo "FAIL: could not start the local SLURM"; exit 1; }
eval "$out"
trap '"$src/slurm/local-cluster.sh" stop "$state"' EXIT
fail() { echo "FAIL: $*"; for f in "$work"/slurm-*.out; do echo "== $f"; tail -n 30 "$f"; done; exit 1; }
export ANNAMOSAIC="$bin" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

cat > grid-a.ini <<INI
threads = 1
[simulate]
rows = 2
cols = 3
fov-um = 6
overlap-um = 1
seed = 5
cell-fraction = 1
cell-radius-um = 40
[run]
campaign = $work/grid-a/campaign
output = $work/grid-a/out
INI
# Campaign inputs first (the FoV job would simulate them too; doing it here keeps timing simple).
"$bin" simulate --config grid-a.ini -o "$work/grid-a/campaign" -q || fail "simulate"

# 0: --dry-run prints the two sbatch commands and submits and writes nothing; settings are checked
# and normalised first (08 is eight, not a bash octal error).
dry=$(CPUS_PER_GPU=08 STITCH_PARTITION=debug "$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) || fail "dry run: $dry"
echo "$dry" | grep -q -- "--job-name=annamosaic-fovs .*--cpus-per-task=8 " || fail "dry run: no FoV sbatch line: $dry"
echo "$dry" | grep -q -- "--partition=debug .*--dependency=aftercorr:" || fail "dry run: no stitch sbatch line: $dry"
[[ -z "$(squeue -h)" ]] || fail "the dry run submitted something"
ls slurm-campaign-*.list > /dev/null 2>&1 && fail "the dry run wrote a campaign list"
# Several GPU options are several sbatch arguments; the jobs' environment is shown with the lines.
# (Options after the configs too.)
dry=$(GPUS_PER_NODE=2 GPU_GRES="--gres=gpu:2 --gpu-bind=closest" FOV_LEAD_S=600 "$src/slurm/submit-campaign.sh" grid-a.ini --dry-run 2>&1) ||
  fail "dry run: $dry"
echo "$dry" | grep -q -- " --gres=gpu:2 --gpu-bind=closest " || fail "dry run: GPU_GRES not split: $dry"
echo "$dry" | grep -q -- "--signal=B:USR1@600 " || fail "dry run: FOV_LEAD_S not used: $dry"
echo "$dry" | grep -q -- "^ANNAMOSAIC=$bin " || fail "dry run: no ANNAMOSAIC in the sbatch line: $dry"
echo "$dry" | grep -q -- "0: $work/grid-a.ini -> $work/grid-a/out" || fail "dry run: no output folder per grid: $dry"
# The sbatch lines and the list are the standard output (to save them: --dry-run > cmds.txt).
dry=$("$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>/dev/null) || fail "dry run to stdout"
echo "$dry" | grep -q -- "sbatch .*--job-name=annamosaic-stitch " || fail "dry run: the sbatch lines are not on stdout: $dry"

# A time limit SLURM would refuse only after the other checks: refused first, named.
refused=$(TIME=1- "$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) && fail "TIME=1- accepted: $refused"
echo "$refused" | grep -q "TIME must be a SLURM time limit such as 04:00:00 or 1-00:00:00, not '1-'" || fail "TIME=1-: $refused"
# A TIME long enough for the FoVs but not for the stitch, whose time was not given: said where it comes from.
refused=$(TIME=00:05:31 FOV_LEAD_S=30 "$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) && fail "STITCH_TIME accepted: $refused"
echo "$refused" | grep -q "STITCH_TIME=00:05:31 is too short: .*(give at least 00:07:01) (STITCH_TIME defaults to TIME)" ||
  fail "STITCH_TIME from TIME: $refused"
# GPU options sbatch would take for its script, or fewer GPUs per node than ranks: refused, said.
refused=$(GPU_GRES="gpu:a100:1" "$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) && fail "GPU_GRES=gpu:a100:1 accepted: $refused"
echo "$refused" | grep -q "'gpu:a100:1' is not an sbatch option (write --gres=gpu:a100:1" || fail "GPU_GRES=gpu:a100:1: $refused"
refused=$(GPU_GRES="--gres=gpu:a100:1" "$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) && fail "gres 1 of 4 accepted: $refused"
echo "$refused" | grep -q "asks for 1 GPU(s) per node for 4 rank(s) per node (GPUS_PER_NODE=4" || fail "gres 1 of 4: $refused"
# An output folder whose name JSON would escape is still the one named (status --output-folder).
sed -e "s#^output = .*#output = $work/grid \"q\" \\\\ a/out#" grid-a.ini > grid-quoted.ini
dry=$("$src/slurm/submit-campaign.sh" --dry-run grid-quoted.ini 2>&1) || fail "dry run (quoted output): $dry"
echo "$dry" | grep -qF -- "0: $work/grid-quoted.ini -> $work/grid \"q\" \\ a/out" || fail "quoted output folder: $dry"

# A grid whose run is under way (here one held still by SIGSTOP, so the check cannot race its
# end): allowed, since it may end before the element starts, but said.
sed -e "s#grid-a/#grid-e/#g" grid-a.ini > grid-e.ini
"$bin" simulate --config grid-e.ini -o "$work/grid-e/campaign" -q || fail "simulate grid-e"
"$bin" run --config grid-e.ini --stage fovs --threads 1 > run-e.log 2>&1 &
run_pid=$!
# (the lock file is created, then locked, then its holder written: held once it is not empty)
for _ in $(seq 600); do [[ -s "$work/grid-e/out/.annamosaic.lock" ]] && break; sleep 0.05; done
kill -STOP "$run_pid"
dry=$("$src/slurm/submit-campaign.sh" --dry-run grid-e.ini 2>&1) || { kill -CONT "$run_pid"; fail "dry run of a running grid: $dry"; }
kill -CONT "$run_pid"
wait "$run_pid" || fail "the grid-e run: $(cat run-e.log)"
echo "$dry" | grep -q "warning: grid-e.ini: running (pid $run_pid .* in $work/grid-e/out; if it still runs when this grid's element starts" ||
  fail "no warning that grid-e is being run: $dry"

# Grids that cannot run as they are, refused before anything is submitted: a campaign that is not
# there, two grids writing one output folder, a configuration given twice.
sed -e "s#grid-a/#no-such-grid/#g" -e "/^\[simulate\]/,/^\[run\]/{/^\[run\]/!d}" grid-a.ini > grid-missing.ini
sed -e "s#^campaign = .*#campaign = $work/grid-other/campaign#" grid-a.ini > grid-same-output.ini
refusal() {  # the submit script's message for these configurations; fails if it submitted them
  local msg
  msg=$("$src/slurm/submit-campaign.sh" --dry-run "$@" 2>&1) && fail "submitted $*: $msg"
  echo "$msg"
}
# (Each message is kept and shown on failure: in a pipeline, refusal's own "submitted" went to grep.)
msg=$(refusal grid-missing.ini grid-a.ini)
grep -q "no-such-grid/campaign: no such campaign folder" <<< "$msg" || fail "the missing campaign is not named: $msg"
msg=$(refusal grid-a.ini grid-same-output.ini)
grep -q "grid-same-output.ini and grid-a.ini both write to $work/grid-a/out" <<< "$msg" ||
  fail "the shared output folder is not named: $msg"
msg=$(refusal grid-a.ini grid-a.ini)
grep -q "grid-a.ini is given twice" <<< "$msg" || fail "a configuration given twice: $msg"
sed -e "s#^output = .*#output = $work/grid-nomodel/out\nmodel = $work/no-such-model.h5#" grid-a.ini > grid-nomodel.ini
msg=$(refusal grid-nomodel.ini)
grep -q "cannot run: --model $work/no-such-model.h5: file not found" <<< "$msg" || fail "a missing model: $msg"
# A model trained at another pixel size than the run's: refused before submitting (the job would be).
sed -e "s#^output = .*#output = $work/grid-pixel/out\npixel-nm = 10#" grid-a.ini > grid-pixel.ini
msg=$(refusal grid-pixel.ini)
grep -q "cannot run: .*anet-microtubules-ngf16.h5 was trained at 20 nm pixels, the run renders at 10 nm" <<< "$msg" ||
  fail "a model of another pixel size: $msg"
[[ -z "$(squeue -h)" ]] || fail "a refused campaign submitted something"

# 1 + 2: array job of two grids (the first fails when it runs: its model file has a sound header,
# which is all `status` reads, but lacks an array), 2 ranks with one (fake) GPU each, then stitch.
cp "$src/models/anet-microtubules-ngf16.h5" broken-model.h5
/usr/bin/python3 -c "import h5py; del h5py.File('broken-model.h5', 'a')['generator/dec2.norm.bias']" || fail "break a model"
sed -e "s#^output = .*#output = $work/grid-broken/out\nmodel = $work/broken-model.h5#" grid-a.ini > grid-broken.ini
ids=$(NODES=1 GPUS_PER_NODE=2 CPUS_PER_GPU=1 MEM_PER_CPU=1G TIME=00:20:00 THROTTLE=1 STITCH_RANKS=1 \
      LIST=campaign.list "$src/slurm/submit-campaign.sh" grid-broken.ini grid-a.ini) || fail "submit"
echo "$ids"
fov_job=$(echo "$ids" | sed -n 's/.*FoV array job: \([0-9]*\).*/\1/p')
stitch_job=$(echo "$ids" | sed -n 's/.*stitch array job: \([0-9]*\).*/\1/p')
[[ -n "$fov_job" && -n "$stitch_job" ]] || fail "could not read the job ids"
# Submitted again while its elements are queued (THROTTLE=1: grid-a's waits for grid-broken's): said.
dup=$("$src/slurm/submit-campaign.sh" --dry-run grid-a.ini 2>&1) || fail "dry run of a queued grid: $dup"
# (squeue lists them in its own order)
echo "$dup" | grep -q "warning: grid-a.ini already has element(s) in the queue: .*${fov_job}_1 (fovs, [A-Z]*)" &&
  echo "$dup" | grep -q "warning: grid-a.ini already has element(s) in the queue: .*${stitch_job}_1 (stitch, [A-Z]*)" ||
  fail "no warning that grid-a is queued: $dup"
for _ in $(seq 600); do
  squeue -h -j "$fov_job,$stitch_job" 2>/dev/null | grep -q . || break
  sleep 1
done
state_of() { scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n1; }
[[ "$(state_of "${fov_job}_1")" == COMPLETED ]] || fail "FoV job state $(state_of "${fov_job}_1")"
[[ "$(state_of "${stitch_job}_1")" == COMPLETED ]] || fail "stitch job state $(state_of "${stitch_job}_1")"
# The broken grid failed alone: its stitch element was cancelled, not left waiting forever.
[[ "$(state_of "${fov_job}_0")" == FAILED ]] || fail "broken grid's FoV job state $(state_of "${fov_job}_0")"
[[ "$(state_of "${stitch_job}_0")" == CANCELLED ]] || fail "broken grid's stitch job state $(state_of "${stitch_job}_0")"
grep -q "annamosaic fovs exited with 2: bad input" "slurm-${fov_job}_0.out" || fail "no final line in the broken grid's log"
# The reason is in the rank's final line (its own log line may be lost when srun tears the step down).
grep -q "loading the model failed on rank [01]: $work/broken-model.h5: array 'generator/dec2.norm.bias' is missing" \
  "slurm-${fov_job}_0.out" || fail "the broken grid's log does not say why"
grep -q "annamosaic stitch exited with 0: done" "slurm-${stitch_job}_1.out" || fail "no final line in the stitch log"
/usr/bin/python3 - "$work/grid-a/out" <<'PY' || fail "outputs"
import json, sys, h5py
out = sys.argv[1]
with h5py.File(out + "/mosaic.ims", "r") as f:
    assert "DataSet" in f and len(f["DataSet"]) >= 2, "no pyramid"
b = [json.loads(l) for l in open(out + "/bindings.jsonl")]
assert len(b) == 2, b
seen = sorted(x["cuda_visible_devices"] for x in b)
assert seen == ["0", "1"], f"each rank must see its own GPU: {seen}"
# Fake GPUs (LibTorch cannot use them): a rank that runs on the CPU must say so.
assert all("GPU(s) were granted" in x["warning"] for x in b if x["device"] < 0), b
m = [json.loads(l) for l in open(out + "/manifest.jsonl") if l.strip()]
assert len({r["id"] for r in m if r["status"] == "done"}) == 6, m
print("slurm run: mosaic ok, bindings", seen)
PY
# `annamosaic status` of the submitted list: the good grid finished, the broken one not started (75).
"$bin" status --list campaign.list > status.txt; rc=$?
cat status.txt
[[ $rc -eq 75 ]] || fail "status --list exited with $rc, not 75"
grep -q "grid-broken/out .*" status.txt && grep -q "state:   not started" status.txt || fail "status of the broken grid"
grep -q "state:   finished" status.txt || fail "status of the good grid"
grep -q "2 campaigns: 1 finished, 0 running, 1 other; FoVs 6 of 12 done, 0 failed" status.txt || fail "status summary"
# A finished grid submitted again is named and left out (its jobs would find nothing to do).
again=$("$src/slurm/submit-campaign.sh" grid-a.ini 2>&1) || fail "submitting a finished grid: $again"
echo "$again" | grep -q "grid-a.ini is finished (annamosaic status: nothing left to run in $work/grid-a/out): not submitted" ||
  fail "a finished grid not named: $again"
echo "$again" | grep -q "every grid given is finished: nothing was submitted" || fail "finished: $again"
[[ -z "$(squeue -h)" ]] || fail "a finished grid was submitted"

# A FoV element on a fresh 12-FoV grid (so that a signal lands mid-run), once it has recorded a
# FoV: sets jid and manifest. start_fov_element GRID LOG_NAME
start_fov_element() {
  sed -e "s#grid-a/#$1/#g" -e "s#^cols = 3#cols = 4#" -e "s#^rows = 2#rows = 3#" grid-a.ini > "$1.ini"
  "$bin" simulate --config "$1.ini" -o "$work/$1/campaign" -q || fail "simulate $1"
  echo "$work/$1.ini" > "$1.list"
  jid=$(sbatch --parsable --ntasks="${NTASKS:-1}" --cpus-per-task=1 --mem-per-cpu=1G --time=00:20:00 -o "slurm-$2-%A_%a.out" \
        --array=0-0 "$src/slurm/annamosaic-grid.sbatch" fovs "$1.list") || fail "sbatch $2 job"
  manifest="$work/$1/out/manifest.jsonl"
  for _ in $(seq 600); do [[ -s "$manifest" ]] && break; sleep 0.2; done
  [[ -s "$manifest" ]] || fail "the $2 job never recorded a FoV"
}

# 3: time limit near (USR1 to the batch shell): requeued, resumed, completed. Two ranks: srun's
# --kill-on-bad-exit may kill the second while it shuts down after the first exited 75 (srun
# then exits 137); the script takes the run's record of the clean stop instead.
NTASKS=2 start_fov_element grid-b requeue
scancel --batch --signal=USR1 "${jid}_0" || fail "scancel --signal=USR1"
# Wait for the requeue (the element is PENDING again), then let it start at once (a requeued job
# otherwise waits ~120 s before it may start).
for _ in $(seq 300); do
  st=$(state_of "${jid}_0")
  [[ "$st" == PENDING ]] && scontrol show job "${jid}_0" | grep -q "Restarts=1" && break
  sleep 0.2
done
# Not at once: slurmd may still be tearing down the element's previous run, and a batch script
# launched meanwhile fails at once (exit 1, RunTime 0, nothing logged: seen 3 times in ~10 runs).
# SLURM itself waits ~120 s; 5 s is plenty.
sleep 5
scontrol update JobId="${jid}_0" StartTime=now >/dev/null 2>&1 || true
for _ in $(seq 900); do
  st=$(state_of "${jid}_0"); [[ "$st" == COMPLETED || "$st" == FAILED || "$st" == CANCELLED ]] && break
  sleep 1
done
log=$(cat slurm-requeue-*.out)
echo "$log" | grep -q "stopped cleanly on USR1 (the time-limit warning, or one sent by hand); requeueing" || fail "the job did not stop cleanly and requeue"
echo "$log" | grep -q "annamosaic fovs exited with 75: stopped on USR1; requeueing it now" || fail "no final line before the requeue"
echo "$log" | grep -q "restart 1" || fail "no restarted run (SLURM_RESTART_COUNT=1): $(scontrol show job "${jid}_0")"
[[ "$(state_of "${jid}_0")" == COMPLETED ]] || fail "requeued job ended as $(state_of "${jid}_0")"
n=$(/usr/bin/python3 -c "import json,sys; print(len({json.loads(l)['id'] for l in open(sys.argv[1]) if l.strip() and json.loads(l)['status']=='done'}))" "$manifest")
[[ "$n" == 12 ]] || fail "after the requeue $n of 12 FoVs are done"
echo "slurm requeue: stopped, requeued, resumed and completed (12/12 FoVs, 2 ranks)"
grep -h "ranks killed while shutting down" slurm-requeue-*.out || echo "(srun reported 75 itself this time)"

# 4: scancel of a running element (a user who means it): stopped cleanly, not requeued. Two ranks:
# srun may report 137 for a clean stop here too (probe82: the log said "failed").
NTASKS=2 start_fov_element grid-c cancel
scancel "${jid}_0" || fail "scancel"
for _ in $(seq 300); do
  st=$(state_of "${jid}_0"); [[ "$st" == CANCELLED || "$st" == COMPLETED || "$st" == FAILED ]] && break
  sleep 0.2
done
# The script's last line (written after srun ended, where a requeue would have happened).
for _ in $(seq 300); do grep -q "exited with" slurm-cancel-*.out && break; sleep 0.2; done
grep -q "annamosaic fovs exited with 75: stopped cleanly (cancelled" slurm-cancel-*.out || fail "no final line after scancel"
[[ "$(state_of "${jid}_0")" == CANCELLED ]] || fail "cancelled element is $(state_of "${jid}_0")"
scontrol show job "${jid}_0" | grep -q "Restarts=0" || fail "the cancelled element was requeued"
grep -q "received TERM" slurm-cancel-*.out || fail "the script did not see the TERM"
! grep -q "requeueing" slurm-cancel-*.out || fail "the script requeued a cancelled element"
echo "slurm cancel: stopped and stayed cancelled"

# 5: time limit near once the element was requeued ANNAMOSAIC_MAX_REQUEUES times (here 0): it
# stops cleanly, is not requeued again, and ends not COMPLETED (its stitch must not start).
ANNAMOSAIC_MAX_REQUEUES=0 start_fov_element grid-d cap
scancel --batch --signal=USR1 "${jid}_0" || fail "scancel --signal=USR1 (cap)"
for _ in $(seq 300); do
  st=$(state_of "${jid}_0"); [[ "$st" == FAILED || "$st" == COMPLETED || "$st" == CANCELLED ]] && break
  sleep 0.2
done
[[ "$(state_of "${jid}_0")" == FAILED ]] || fail "capped element is $(state_of "${jid}_0")"
grep -q "was requeued 0 times already (ANNAMOSAIC_MAX_REQUEUES=0, pre-emptions included): not requeued" slurm-cap-*.out ||
  fail "no cap message"
grep -q "annamosaic fovs exited with 75: stopped on USR1, not requeued (" slurm-cap-*.out || fail "no final line when capped"
scontrol show job "${jid}_0" | grep -q "Restarts=0" || fail "the capped element was requeued"
echo "slurm requeue cap: stopped, not requeued past ANNAMOSAIC_MAX_REQUEUES"
echo "test_slurm: OK"
