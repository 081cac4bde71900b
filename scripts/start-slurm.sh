#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the Slurm service's tests and benchmark.
#
#   scripts/start-slurm.sh          install (if missing), configure, start munged/slurmctld/slurmd
#   scripts/start-slurm.sh stop     stop the daemons (state stays under $LUME_SLURM_DIR)
#
# Runs as root on Debian 12 (no systemd). Idempotent: when the node already answers `sinfo`,
# it does nothing. Also installs slurmrestd + the JWT plugin and openssh-server, which the
# tests start themselves (on free ports) to exercise the rest and ssh transports.
set -euo pipefail

STATE=${LUME_SLURM_DIR:-/var/lib/lume-slurm}
CONF=/etc/slurm/slurm.conf
PACKAGES=(slurm-wlm slurmctld slurmd slurm-client munge slurmrestd slurm-wlm-jwt-plugin openssh-server)

stop_daemons() {
  local pids=()
  for name in slurmd slurmctld munged; do
    for pid in $(pgrep -x "$name" || true); do kill -TERM "$pid" 2>/dev/null && pids+=("$pid"); done
  done
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

if [ "${1:-}" = "stop" ]; then
  stop_daemons
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "start-slurm.sh must run as root (it installs packages and starts daemons)" >&2
  exit 1
fi

node_up() { sinfo -h -N -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
fi

mkdir -p "$STATE"/{ctld,spool,log} /run/munge /etc/slurm
chmod 755 "$STATE"
chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || { mungekey -c -k /etc/munge/munge.key 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none; }
chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
# slurmctld checks REST tokens (auth/jwt) with this key; slurmrestd never reads it.
[ -s "$STATE/jwt_hs256.key" ] || dd if=/dev/urandom of="$STATE/jwt_hs256.key" bs=32 count=1 status=none
chmod 600 "$STATE/jwt_hs256.key"

# Not plain nproc: it honours OMP_NUM_THREADS, which a test process (numpy, pytest plugins) may set to 1.
CPUS=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
REAL_MEMORY=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))  # MB, half of this machine's
DEF_MEM_PER_CPU=$(( REAL_MEMORY / (CPUS * 4) ))  # OverSubscribe=FORCE:4 below
[ "$DEF_MEM_PER_CPU" -ge 1024 ] || DEF_MEM_PER_CPU=$(( REAL_MEMORY < 1024 ? REAL_MEMORY : 1024 ))

cat >"$CONF.new" <<EOF
# Written by lume-prefect scripts/start-slurm.sh: a single-node test cluster.
ClusterName=lume
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$STATE/jwt_hs256.key
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Memory is enforced without cgroups: slurmstepd samples each step's processes every second
# (jobacct_gather/linux) and kills a step whose RSS exceeds the job's memory request. Slurm
# 22.05 reports that job FAILED (JobLaunchFailure, 0:9); lume-prefect maps it to OUT_OF_MEMORY
# from slurmstepd's "exceeded memory limit" line in the job's stderr. Jobs that request no
# memory get DefMemPerCPU per CPU: far more than a Prefect flow run (~180 MB), and small enough
# that the partition's 4 jobs per CPU still fit in RealMemory.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
DefMemPerCPU=$DEF_MEM_PER_CPU
MpiDefault=none
ReturnToService=2
# Start jobs as soon as they are submitted (default adds ~2 s per job).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# Finished jobs stay visible to squeue/scontrol this long; the final state is also logged.
MinJobAge=300
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.log
SlurmdTimeout=10
SlurmctldTimeout=10
KillWait=2
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$REAL_MEMORY State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
EOF
if cmp -s "$CONF.new" "$CONF"; then
  rm -f "$CONF.new"
  if pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && node_up; then
    exit 0  # already up with this configuration
  fi
else
  mv -f "$CONF.new" "$CONF"
  # Restart rather than `scontrol reconfigure`, so a new plugin (JobAcctGatherType) or node size
  # (slurm.conf(5): node changes need a restart) surely takes effect. Running jobs are lost.
  stop_daemons
fi

pgrep -x munged >/dev/null || runuser -u munge -- /usr/sbin/munged
pgrep -x slurmctld >/dev/null || slurmctld -c -i
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
pgrep -x slurmd >/dev/null || slurmd -N localhost
for _ in $(seq 1 100); do node_up && break; sleep 0.1; done
# A node left DOWN (e.g. slurmd killed by a fault test) comes back once slurmd runs again.
sinfo -h -N -o %T | grep -qiE 'down|drain' && scontrol update nodename=localhost state=resume 2>/dev/null || true
for _ in $(seq 1 100); do node_up && exit 0; sleep 0.1; done
echo "Slurm node did not become idle; see $STATE/log/" >&2
sinfo -N -l >&2 || true
exit 1
