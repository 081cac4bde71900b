#!/usr/bin/env bash
# Podman as the container engine: install it (Debian packages), configure it for these
# machines, and serve its Docker-compatible API on unix:///run/podman/podman.sock, which
# the Python `docker` SDK and prefect-docker's worker use unchanged (DOCKER_HOST).
# Idempotent: a second run checks and returns in well under a second.
set -euo pipefail

SOCKET=${LUME_PODMAN_SOCKET:-/run/podman/podman.sock}
PACKAGES=(podman uidmap fuse-overlayfs slirp4netns crun runc catatonit debootstrap)

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "start-podman: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The defaults fail here: "setrlimit RLIMIT_NOFILE: Operation not permitted" (ulimits) and
# "cgroups in hybrid mode not supported" (systemd cgroup manager, crun).
CONF=/etc/containers/containers.conf
WANTED='# Written by lume-prefect scripts/start-podman.sh
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"'
if [[ ! -f $CONF ]] || ! grep -q 'lume-prefect scripts/start-podman.sh' "$CONF"; then
    mkdir -p "$(dirname "$CONF")"
    [[ -f $CONF ]] && cp "$CONF" "$CONF.before-lume-prefect"
    printf '%s\n' "$WANTED" >"$CONF"
fi

api_up() { curl -sf --max-time 2 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }
if ! api_up; then
    mkdir -p "$(dirname "$SOCKET")"
    rm -f "$SOCKET"
    # Its own session, so that it outlives this script (and CI's shell).
    setsid podman system service --time=0 "unix://$SOCKET" >/var/log/podman-service.log 2>&1 </dev/null &
    for _ in $(seq 1 100); do api_up && break; sleep 0.1; done
    api_up || { echo "start-podman: the API did not answer on $SOCKET; see /var/log/podman-service.log" >&2; exit 1; }
fi
echo "start-podman: podman $(podman version --format '{{.Client.Version}}') serving unix://$SOCKET" >&2
