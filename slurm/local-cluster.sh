#!/usr/bin/env bash
# A real single-node SLURM (munge + slurmctld + slurmd) for tests and for trying the campaign
# scripts on one machine, as root, without systemd or cgroups (README.md, "SLURM: a screening campaign").
# Two fake GPUs (character devices) let tests check GPU binding with --gpus-per-task=1.
#   slurm/local-cluster.sh start STATE_DIR   # prints "export SLURM_CONF=..." on success
#   slurm/local-cluster.sh stop  STATE_DIR   # stops only the daemons this script started
# Exit status 2 if the machine does not allow it (not root, binaries missing); 1 on failure.
set -euo pipefail
cmd=${1:-}; state=${2:-}
[[ -n "$cmd" && -n "$state" ]] || { echo "usage: $0 start|stop STATE_DIR" >&2; exit 1; }
state=$(realpath -m "$state")
conf="$state/slurm.conf"

stop() {
  for d in slurmd slurmctld munged; do
    pidf="$state/$d.pid"
    if [[ -f "$pidf" ]]; then
      pid=$(cat "$pidf")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidf"
    fi
  done
}

if [[ "$cmd" == stop ]]; then stop; exit 0; fi
[[ "$cmd" == start ]] || { echo "unknown command $cmd" >&2; exit 1; }
if [[ $(id -u) -ne 0 ]]; then echo "local-cluster: needs root" >&2; exit 2; fi
for b in slurmctld slurmd munged sbatch; do
  command -v "$b" >/dev/null || [[ -x /usr/sbin/$b ]] || { echo "local-cluster: $b not installed" >&2; exit 2; }
done

mkdir -p "$state"/{ctld,d,log,munge}
chown slurm:slurm "$state/ctld" "$state/d" "$state/log"
chown munge:munge "$state/munge"  # munged writes its pid file there as user munge
chmod 755 "$state"
# munge: key from the package, or a fresh one.
if [[ ! -s /etc/munge/munge.key ]]; then
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged --pid-file="$state/munge/munged.pid" 2>/dev/null || runuser -u munge -- /usr/sbin/munged
  sleep 0.5
  # munged forks into the background: its own pid file names the daemon (the oldest munged
  # process can be the parent that already exited).
  pid=$(cat "$state/munge/munged.pid" 2>/dev/null || pgrep -n -x munged); echo "$pid" > "$state/munged.pid"
fi

# Fake GPUs for binding tests.
for i in 0 1; do [[ -e "$state/fakegpu$i" ]] || mknod -m 666 "$state/fakegpu$i" c 1 3; done
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
cat > "$conf" <<CONF
ClusterName=annamosaic-test
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
SchedulerParameters=defer_batch
MinJobAge=600
NodeName=localhost CPUs=$cpus RealMemory=$mem Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
cat > "$state/gres.conf" <<GRES
NodeName=localhost Name=gpu File=$state/fakegpu[0-1]
GRES
export SLURM_CONF="$conf"
/usr/sbin/slurmctld -f "$conf" -i
/usr/sbin/slurmd -f "$conf" -N localhost
alive() { [[ -f "$state/$1.pid" ]] && kill -0 "$(cat "$state/$1.pid")" 2>/dev/null; }
for _ in $(seq 100); do
  st=$(sinfo -h -o %T 2>/dev/null | head -n1 || true)
  # Our own daemons must be the ones answering: another slurmctld on the same port would too.
  if [[ "$st" == idle* || "$st" == mixed* ]] && alive slurmctld && alive slurmd; then
    echo "export SLURM_CONF=$conf"; exit 0
  fi
  sleep 0.2
done
echo "local-cluster: node did not become idle (state: ${st:-none}; our slurmctld $(alive slurmctld && echo running || echo not running), slurmd $(alive slurmd && echo running || echo not running): another SLURM on this machine?); see $state/log" >&2
stop
exit 1
