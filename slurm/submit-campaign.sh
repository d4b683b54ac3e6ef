#!/usr/bin/env bash
# Submit a screening campaign: one array element per grid (config file) to reconstruct its FoVs
# on GPUs, and one stitch element per grid that starts as soon as that grid's FoV element
# succeeded (--dependency=aftercorr: one grid's failure holds back no other grid; its own stitch
# element is then cancelled).
#   slurm/submit-campaign.sh [--dry-run] configs/plate1-A01.ini configs/plate1-A02.ini ...
# (options anywhere; -- before a config whose name starts with -)
# --dry-run prints the two sbatch commands (and the list) without submitting or writing anything.
# Environment (defaults in brackets):
#   NODES [1]  GPUS_PER_NODE [4]  CPUS_PER_GPU [8]  MEM_PER_CPU [4G]  TIME [04:00:00]
#   STITCH_TIME [TIME] (a stitch element is not requeued at its limit: it would start over)
#   STITCH_RANKS [2] (MPI ranks per node of a stitch element)  PARTITION []  ACCOUNT []
#   STITCH_PARTITION [PARTITION] (set but empty: the default partition; the stitch needs no GPU: a CPU partition where GPU partitions
#   refuse GPU-less jobs)  STITCH_NODES [NODES]
#   THROTTLE [4] (array elements running at once, >= 1)
#   GPU_GRES [--gpus-per-task=1]  (sbatch options, space-separated, e.g. "--gres=gpu:a100:4
#   --gpu-bind=closest"; a --gres=gpu or --gpus-per-node count must equal GPUS_PER_NODE, a --gpus
#   count NODES x GPUS_PER_NODE; "" on clusters without GPUs: CPU ranks)
#   ANNAMOSAIC [annamosaic]  (path of the binary; on a node set up by scripts/setup-gpu-node.sh,
#   source gpu-node/env.sh first: --export=ALL carries its variables to the ranks)
#   FOV_LEAD_S [300]  STITCH_LEAD_S [120] (the ranks are told to stop this long before the time
#   limit, to finish the FoVs in flight: on CPU ranks, give at least 3 FoVs' time)
#   ANNAMOSAIC_SRUN_MPI [pmix]  ANNAMOSAIC_MAX_REQUEUES [100]  ANNAMOSAIC_RESTART_DELAY_S [10]
#   (see annamosaic-grid.sbatch)
#   LIST [slurm-campaign-<date>-<random>.list]  (the grids, one config per line; never reused)
#   SUBMIT_FINISHED [0]  (1: submit grids `annamosaic status` calls finished too; by default they
#   are named and left out. Grids with elements still queued are submitted, with a warning)
# Prints the two job ids and which array index is which grid. Logs: slurm-<job>_<index>.out in
# the current folder.
set -euo pipefail
here=$(dirname "$(realpath "$0")")  # the batch script lies beside this one, also when it is called through a link
die() { echo "submit-campaign: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
dry=0 configs=() options_end=0
for a in "$@"; do  # options before or after the configs ("--" ends them: a config named -x)
  if (( options_end )); then configs+=("$a"); continue; fi
  case $a in
    -h|--help) usage; exit 0 ;;
    --dry-run) dry=1 ;;
    --) options_end=1 ;;
    -*) die "unknown option $a (--dry-run or --help; settings are environment variables, see --help)" ;;
    *) configs+=("$a") ;;
  esac
done
set -- ${configs[@]+"${configs[@]}"}
(( $# > 0 )) || { usage >&2; exit 1; }
for c in "$@"; do [[ -r "$c" && -f "$c" ]] || die "cannot read config $c"; done

# Everything is checked before anything is submitted: a half-submitted campaign is worse than none.
positive() {  # and written back in decimal ("08" is not octal to sbatch, but is to bash)
  [[ "$2" =~ ^[0-9]+$ ]] && (( 10#$2 >= 1 )) || die "$1 must be a whole number >= 1, not '$2'"
  printf -v "$1" '%d' "$((10#$2))"
}
positive NODES "${NODES:=1}"; positive GPUS_PER_NODE "${GPUS_PER_NODE:=4}"; positive CPUS_PER_GPU "${CPUS_PER_GPU:=8}"
positive STITCH_RANKS "${STITCH_RANKS:=2}"; positive THROTTLE "${THROTTLE:=4}"; positive STITCH_NODES "${STITCH_NODES:=$NODES}"
[[ "${MEM_PER_CPU:=4G}" =~ ^[0-9]+[KMGT]?$ ]] || die "MEM_PER_CPU must look like 4G or 4000M, not '$MEM_PER_CPU'"
# TIME in SLURM's forms (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S) -> seconds.
seconds_of() {
  local t=$1 d=0 h=0 m=0 s=0 days=0
  [[ "$t" =~ ^([0-9]+)-(.+)$ ]] && { days=1; d=${BASH_REMATCH[1]}; t=${BASH_REMATCH[2]}; IFS=: read -r h m s <<< "$t"; }
  if (( days == 0 )); then
    case $(tr -cd : <<< "$t" | wc -c) in
      0) m=$t ;; 1) IFS=: read -r m s <<< "$t" ;; 2) IFS=: read -r h m s <<< "$t" ;; *) return 1 ;;
    esac
  fi
  for v in "$d" "${h:-0}" "${m:-0}" "${s:-0}"; do [[ "$v" =~ ^[0-9]+$ ]] || return 1; done
  echo $(( 10#$d * 86400 + 10#${h:-0} * 3600 + 10#${m:-0} * 60 + 10#${s:-0} ))
}
stitch_time_note=""; [[ -n "${STITCH_TIME:+set}" ]] || stitch_time_note=" (STITCH_TIME defaults to TIME)"
: "${TIME:=04:00:00}" "${STITCH_TIME:=$TIME}"  # defaults here: an assignment inside $(...) would not last
time_s=$(seconds_of "$TIME") || die "TIME must be a SLURM time limit such as 04:00:00 or 1-00:00:00, not '$TIME'"
stitch_time_s=$(seconds_of "$STITCH_TIME") || die "STITCH_TIME must be a SLURM time limit such as 04:00:00, not '$STITCH_TIME'"
# The ranks are told to stop this long before the limit (then requeued): a shorter TIME would stop
# every run right after it starts, and requeue it forever.
positive FOV_LEAD_S "${FOV_LEAD_S:=300}"; positive STITCH_LEAD_S "${STITCH_LEAD_S:=120}"
fov_lead_s=$FOV_LEAD_S stitch_lead_s=$STITCH_LEAD_S
hms() { printf '%02d:%02d:%02d' $(($1 / 3600)) $(($1 % 3600 / 60)) $(($1 % 60)); }
(( time_s > fov_lead_s + 300 )) ||
  die "TIME=$TIME is too short: the FoV runs are told to stop FOV_LEAD_S=$fov_lead_s s before the limit (give at least $(hms $((fov_lead_s + 301))))"
(( stitch_time_s > stitch_lead_s + 300 )) ||
  die "STITCH_TIME=$STITCH_TIME is too short: the stitch is told to stop STITCH_LEAD_S=$stitch_lead_s s before the limit (give at least $(hms $((stitch_lead_s + 301))))$stitch_time_note"
# GPU_GRES: sbatch options (a word that is not one would be taken for the batch script), asking
# for as many GPUs per node as there are ranks per node (--gres counts per node: 4 ranks on
# --gres=gpu:1 would share one GPU, each thinking it has it alone).
read -ra gres <<< "${GPU_GRES---gpus-per-task=1}"  # "" (CPU ranks) or one or more sbatch options
gpu_count() {  # GPUs of a --gres value ("gpu", "gpu:a100", "gpu:4", "gpu:a100:4(S:0)", "gpu:4,shard:1"), "" if none
  local entry n="" c
  IFS=, read -ra entries <<< "$1"
  for entry in "${entries[@]}"; do
    entry=${entry%%(*}
    c=""
    if [[ "$entry" =~ ^gpu(:[A-Za-z0-9_.-]+)?:([0-9]+)$ ]]; then c=$((10#${BASH_REMATCH[2]}))
    elif [[ "$entry" =~ ^gpu(:[A-Za-z_][A-Za-z0-9_.-]*)?$ ]]; then c=1; fi
    [[ -n "$c" ]] && n=$(( ${n:-0} + c ))
  done
  echo "$n"
}
for ((k = 0; k < ${#gres[@]}; k++)); do
  g=${gres[k]} value="" per="" gpus=""
  [[ "$g" == -* ]] || die "GPU_GRES='$GPU_GRES': '$g' is not an sbatch option (write --gres=$g, or --gpus-per-task=1)"
  case $g in  # the option's value: after = or in the next word
    --gres=*|--gpus-per-node=*|--gpus=*|--gpus-per-task=*) value=${g#*=} ;;
    --gres|--gpus-per-node|--gpus|-G|--gpus-per-task) value=${gres[k + 1]:-}; k=$((k + 1)) ;;
    --*=*) ;;
    # Options whose value may be the next word; any other word must itself be an option.
    --gpus-per-socket|--gpu-bind|--gpu-freq|--cpus-per-gpu|--mem-per-gpu|--gres-flags|--constraint|-C)
      k=$((k + 1)) ;;
  esac
  case $g in
    --gres*) gpus=$(gpu_count "$value"); per=node ;;
    --gpus-per-node*) [[ "$value" =~ ^([A-Za-z0-9_.-]+:)?([0-9]+)$ ]] && gpus=$((10#${BASH_REMATCH[2]})); per=node ;;
    --gpus-per-task*) [[ "$value" =~ ^([A-Za-z0-9_.-]+:)?([0-9]+)$ ]] && gpus=$((10#${BASH_REMATCH[2]})); per=task ;;
    --gpus*|-G) [[ "$value" =~ ^([A-Za-z0-9_.-]+:)?([0-9]+)$ ]] && gpus=$((10#${BASH_REMATCH[2]})); per=job ;;
    *) gpus="" ;;
  esac
  [[ -n "${gpus:-}" && -n "$per" ]] || continue
  case $per in node) want=$GPUS_PER_NODE ;; task) want=1 ;; *) want=$((GPUS_PER_NODE * NODES)) ;; esac
  (( gpus == want )) ||
    die "GPU_GRES='$GPU_GRES' asks for $gpus GPU(s) per $per for $want rank(s) per $per (GPUS_PER_NODE=$GPUS_PER_NODE, NODES=$NODES): give both the same count (one rank per GPU)"
done
bin=${ANNAMOSAIC:-annamosaic}
command -v "$bin" >/dev/null || die "cannot find the annamosaic binary '$bin': set ANNAMOSAIC=/path/to/annamosaic"
# Each grid read as its job will read it (from this folder, the jobs' working folder): a
# configuration or campaign that cannot be read fails now, not after waiting for a GPU node; and
# no two grids may share an output folder (the second would redo the first's FoVs as its own).
declare -A config_seen=() grid_of_output=()
outputs=() grids=()
for c in "$@"; do
  # A configuration named like an option (-x.ini, after --): as a path from here, for realpath,
  # annamosaic status and the jobs alike.
  [[ $c != -* ]] || c=./$c
  real=$(realpath "$c")
  [[ -z "${config_seen[$real]:-}" ]] || die "$c is given twice"
  config_seen[$real]=1
  rc=0; "$bin" status "$c" --json > /dev/null 2>&1 || rc=$?
  if (( rc == 1 || rc == 2 )); then
    "$bin" status "$c" >&2 || true
    die "$c cannot be run as it is (above); nothing was submitted"
  fi
  out=$("$bin" status "$c" --output-folder 2>/dev/null | head -n 1)
  [[ -n "$out" ]] || die "$c: annamosaic status named no output folder (exit $rc); nothing was submitted"
  out=$(realpath -m "$out")  # out, ./out/ and /abs/out are one folder
  [[ -z "${grid_of_output[$out]:-}" ]] ||
    die "$c and ${grid_of_output[$out]} both write to $out: give each grid its own [run] output; nothing was submitted"
  grid_of_output[$out]=$c
  # Finished (status exit 0): a job would only find nothing to do. Said, and left out.
  if (( rc == 0 )) && [[ "${SUBMIT_FINISHED:-0}" != 1 ]]; then
    echo "submit-campaign: $c is finished (annamosaic status: nothing left to run in $out): not submitted (SUBMIT_FINISHED=1 submits it anyway)" >&2
    continue
  fi
  grids+=("$c")
  outputs+=("$out")
  # A run writing that folder now (an earlier submission, an interactive run): allowed, since it
  # may end before this element starts, but said: running at the same time, the element is
  # refused by the folder's lock (exit 2) and its stitch element cancelled.
  if (( rc == 75 )) && state=$({ "$bin" status "$c" 2>/dev/null || true; } | grep -m1 '^  state:   running'); then
    echo "submit-campaign: warning: $c: ${state#  state:   } in $out; if it still runs when this grid's element starts, that element is refused (the folder is locked) and its stitch cancelled" >&2
  fi
done
(( ${#grids[@]} > 0 )) || { echo "submit-campaign: every grid given is finished: nothing was submitted"; exit 0; }
set -- "${grids[@]}"
# Elements of these grids still in the queue (an earlier submission, a requeued element SLURM
# holds for a while): submitting again runs them twice. Said, not refused (the queue may be
# about to empty); read from the queued elements' own campaign lists.
if command -v squeue > /dev/null; then
  declare -A queued=()
  while IFS='|' read -r job index state cmdline; do
    # "SCRIPT STAGE LIST", split at the stage (the paths may hold spaces).
    [[ $cmdline =~ ^(.*/annamosaic-grid\.sbatch)\ (fovs|stitch)\ (.+)$ ]] || continue
    qstage=${BASH_REMATCH[2]} qlist=${BASH_REMATCH[3]}
    [[ "$index" =~ ^[0-9]+$ && -f "$qlist" ]] || continue
    # (the list read as the batch script reads it: comments, blanks, BOM, CR and spaces skipped)
    g=$(sed -e '1s/^\xEF\xBB\xBF//' -e 's/\r$//' -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$qlist" |
        { grep -v -e '^#' -e '^$' || true; } | sed -n "$((index + 1))p")
    # (an if, not a && list: the loop's status must not be a failed test under set -e)
    if [[ -n "$g" ]]; then queued[$g]="${queued[$g]:+${queued[$g]}, }$job ($qstage, $state)"; fi
  done < <(squeue -h -r -u "$(id -un)" -o '%i|%K|%T|%o' 2>/dev/null)
  for c in "$@"; do
    r=$(realpath "$c")
    [[ -z "${queued[$r]:-}" ]] ||
      echo "submit-campaign: warning: $c already has element(s) in the queue: ${queued[$r]}; submitted again, its work runs twice (one at a time: the later finds it done, or is refused by the folder's lock)" >&2
  done
fi
export ANNAMOSAIC ANNAMOSAIC_GRID_SCRIPT
ANNAMOSAIC=$(realpath "$(command -v "$bin")")
ANNAMOSAIC_GRID_SCRIPT="$here/annamosaic-grid.sbatch"
# --dry-run: the commands as they would run, with stand-ins for the job ids, on the standard
# output (fd 3: this function's own is the job id).
exec 3>&1
submit() {
  local name=$1; shift
  # The jobs find the binary and this script through the environment (--export=ALL): shown too.
  if (( dry )); then printf '%q ' ANNAMOSAIC="$ANNAMOSAIC" ANNAMOSAIC_GRID_SCRIPT="$ANNAMOSAIC_GRID_SCRIPT" sbatch "$@" >&3; echo >&3; echo "<$name-job-id>"; return; fi
  local id
  # Submitted from inside an allocation (salloc, an interactive job), --export=ALL would carry its
  # SLURM_* settings into the jobs, where srun reads them as its own: SLURM_MEM_PER_NODE beside the
  # jobs' SLURM_MEM_PER_CPU ("mutually exclusive"), SLURM_GPUS_PER_TASK into the GPU-less stitch
  # job (a gres refusal). The jobs get their own alone; SLURM_CONF and SLURM_CLUSTERS say which
  # cluster, and are kept.
  local drop=() v
  for v in ${!SLURM_@} ${!SRUN_@} ${!SALLOC_@}; do  # (not compgen: a bash without completion lacks it)
    case $v in
      SLURM_CONF | SLURM_CLUSTERS) ;;
      *) drop+=(-u "$v") ;;
    esac
  done
  id=$(env ${drop[@]+"${drop[@]}"} sbatch "$@") || return
  echo "${id%%;*}"  # --parsable prints "id;cluster" on multi-cluster sites
}

# The list, and the jobs' logs (slurm-<job>_<index>.out), go in the working folder: it must be
# writable (a campaign on read-only storage is common; a dry run says so too).
if [[ ! -w . ]]; then  # with LIST elsewhere too: the logs still go here (probe82)
  die "the working folder $(pwd) is not writable: the campaign list and the jobs' logs (slurm-<job>_<index>.out) go there; cd to a writable folder first"
fi
if [[ -n "${LIST:-}" ]]; then
  # A list still read by queued elements of an earlier campaign must not change under them.
  [[ ! -e "$LIST" ]] || die "LIST=$LIST exists (an earlier campaign's list?): choose another name"
  list=$LIST
elif (( dry )); then
  list="slurm-campaign-$(date +%Y%m%d-%H%M%S)-XXXX.list"
else
  list=$(mktemp "slurm-campaign-$(date +%Y%m%d-%H%M%S)-XXXX.list")
fi
if (( dry )); then
  echo "campaign list $list would hold (array index: configuration -> its output folder; its log is slurm-<job>_<index>.out):"
  i=0
  for c in "$@"; do echo "  $i: $(realpath "$c") -> ${outputs[$i]}"; i=$((i + 1)); done
  list=$(realpath -m "$list")
else
  realpath "$@" > "$list"
  list=$(realpath "$list")
fi
n=$#
common=(--parsable --export=ALL)
[[ -n "${ACCOUNT:-}" ]] && common+=(--account="$ACCOUNT")
fov_where=(--nodes="$NODES") stitch_where=(--nodes="$STITCH_NODES")
[[ -n "${PARTITION:-}" ]] && fov_where+=(--partition="$PARTITION")
# STITCH_PARTITION set but empty: the cluster's default partition (often the CPU one), not PARTITION's.
stitch_partition=${STITCH_PARTITION-${PARTITION:-}}
[[ -n "$stitch_partition" ]] && stitch_where+=(--partition="$stitch_partition")
fovs=$(submit fovs "${common[@]}" "${fov_where[@]}" --time="$TIME" --array=0-$((n - 1))%"$THROTTLE" --job-name=annamosaic-fovs --signal=B:USR1@$fov_lead_s \
  --ntasks-per-node="$GPUS_PER_NODE" --ntasks=$((NODES * GPUS_PER_NODE)) ${gres[@]+"${gres[@]}"} --cpus-per-task="$CPUS_PER_GPU" \
  --mem-per-cpu="$MEM_PER_CPU" -o "slurm-%A_%a.out" "$here/annamosaic-grid.sbatch" fovs "$list") ||
  { rm -f "$list"; die "sbatch refused the FoV array (see its message above); nothing was submitted"; }
stitch=$(submit stitch "${common[@]}" "${stitch_where[@]}" --time="$STITCH_TIME" --array=0-$((n - 1))%"$THROTTLE" --job-name=annamosaic-stitch \
  --signal=B:USR1@$stitch_lead_s --dependency=aftercorr:"$fovs" --kill-on-invalid-dep=yes \
  --ntasks-per-node="$STITCH_RANKS" --ntasks=$((STITCH_NODES * STITCH_RANKS)) --cpus-per-task="$CPUS_PER_GPU" --mem-per-cpu="$MEM_PER_CPU" \
  -o "slurm-%A_%a.out" "$here/annamosaic-grid.sbatch" stitch "$list") ||
  { (( dry )) || scancel "$fovs" || true; rm -f "$list"; die "sbatch refused the stitch array (see above); the FoV array $fovs was cancelled"; }
if (( dry )); then echo "dry run: nothing submitted, nothing written"; exit 0; fi
echo "campaign list: $list ($n grids)"
echo "FoV array job: $fovs    stitch array job: $stitch (aftercorr: grid i stitches when its FoVs succeeded)"
i=0
for c in "$@"; do echo "  [$i] $(realpath "$c") -> ${outputs[$i]}  (logs slurm-${fovs}_$i.out, slurm-${stitch}_$i.out)"; i=$((i + 1)); done
# The configurations' relative paths are taken from this folder (the jobs' working folder): so is status.
printf 'progress: cd %q && %q status --list %q    (FoVs done / failed / left per grid, pace, mosaic)\n' "$PWD" "$bin" "$list"
echo "watch: squeue -j $fovs,$stitch    (a Reason of PartitionConfig or Resources that never clears: the request"
echo "       exceeds the partition; lower GPUS_PER_NODE, CPUS_PER_GPU or MEM_PER_CPU)"
echo "cancel: scancel $fovs $stitch    (cancelled elements are not requeued; submit the same configs again to resume)"
