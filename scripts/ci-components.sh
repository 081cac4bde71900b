#!/usr/bin/env bash
# Make sure the machine-wide services the tests use are running (PostgreSQL, MariaDB).
# Components the tests start themselves (S3 server, Prefect API) need nothing here.
set -uo pipefail

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
if ! mariadb-admin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
    for _ in $(seq 1 50); do mariadb-admin -h 127.0.0.1 -uroot ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
fi
# Debian's Chromium for the UI tests (tests drive it through Playwright; no browser download).
if ! command -v chromium >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
    || echo "installing chromium failed: UI tests will fail" >&2
fi
# Slurm (munge, slurmctld, slurmd; slurmrestd and sshd packages for the transport tests).
bash "$(dirname "$0")/start-slurm.sh" || echo "scripts/start-slurm.sh failed: Slurm tests will fail" >&2
# Podman (real containers, a Docker-compatible API) and the images of the container tests.
# The images build in the background while .ci/run installs the project; the tests wait for
# the build (scripts/build-images.sh --wait) before they look for them.
if bash "$(dirname "$0")/start-podman.sh"; then
  setsid bash "$(dirname "$0")/build-images.sh" --stack >/tmp/lume-prefect-build-images.log 2>&1 </dev/null &
else
  echo "scripts/start-podman.sh failed: container tests will fail" >&2
fi
exit 0
