#!/usr/bin/env bash
# Submit a screening campaign: one array element per grid (config file) to reconstruct its FoVs
# on GPUs, and one stitch element per grid that starts when all FoV elements succeeded.
#   slurm/submit-campaign.sh configs/plate1-A01.ini configs/plate1-A02.ini ...
# Environment (defaults in brackets):
#   NODES [1]  GPUS_PER_NODE [4]  CPUS_PER_GPU [8]  MEM_PER_CPU [4G]  TIME [04:00:00]
#   PARTITION []  ACCOUNT []  THROTTLE [4] (array elements running at once)
#   GPU_GRES [--gpus-per-task=1]  (set to "" on clusters without GPUs: CPU ranks)
#   ANNAMOSAIC [annamosaic]  (path of the binary)   LIST [slurm-campaign-<date>.list]
# Prints the two job ids. Outputs: slurm-<job>_<index>.out in the current folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
(( $# > 0 )) || { sed -n '2,12p' "$0"; exit 1; }
for c in "$@"; do [[ -r "$c" ]] || { echo "cannot read config $c" >&2; exit 1; }; done
list=${LIST:-slurm-campaign-$(date +%Y%m%d-%H%M%S).list}
realpath "$@" > "$list"
n=$#
common=(--parsable --nodes="${NODES:-1}" --time="${TIME:-04:00:00}" --export=ALL)
[[ -n "${PARTITION:-}" ]] && common+=(--partition="$PARTITION")
[[ -n "${ACCOUNT:-}" ]] && common+=(--account="$ACCOUNT")
gres=${GPU_GRES---gpus-per-task=1}
fovs=$(sbatch "${common[@]}" --array=0-$((n - 1))%"${THROTTLE:-4}" \
  --ntasks-per-node="${GPUS_PER_NODE:-4}" ${gres:+"$gres"} --cpus-per-task="${CPUS_PER_GPU:-8}" \
  --mem-per-cpu="${MEM_PER_CPU:-4G}" -o "slurm-%A_%a.out" "$here/annamosaic-fovs.sbatch" "$list")
stitch=$(sbatch "${common[@]}" --array=0-$((n - 1))%"${THROTTLE:-4}" --dependency=afterok:"$fovs" \
  --ntasks-per-node="${STITCH_RANKS:-2}" --cpus-per-task="${CPUS_PER_GPU:-8}" --mem-per-cpu="${MEM_PER_CPU:-4G}" \
  -o "slurm-%A_%a.out" "$here/annamosaic-stitch.sbatch" "$list")
echo "campaign list: $list ($n grids)"
echo "FoV array job: $fovs    stitch array job: $stitch (afterok)"
echo "watch: squeue -j $fovs,$stitch    cancel: scancel $fovs $stitch"
