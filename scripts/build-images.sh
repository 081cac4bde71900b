#!/usr/bin/env bash
# Build the lume-prefect image (deployments/Dockerfile) with podman, on a base made offline.
#
#   scripts/build-images.sh          build what is missing; print the lume-prefect image's name
#   scripts/build-images.sh --name   only print the name the current sources give
#   scripts/build-images.sh --env    only print the names of all images as the variables
#                                    deployments/compose.yaml reads (LUME_IMAGE=...)
#   scripts/build-images.sh --wait   wait for a build running in the background, then as --env
#   scripts/build-images.sh --stack  also build the compose stack's stand-ins for the official
#                                    postgres and moto images (deployments/stack/)
#
# No registry serves images here, so the Dockerfile's default base (python:3.11-slim) cannot
# be pulled. The base is made from Debian's packages instead: debootstrap bookworm (Python
# 3.11) with python3-venv, imported as localhost/lume-base:bookworm and built once per
# machine. The image is tagged by a hash of everything it copies, so an unchanged tree
# reuses it (a second run takes about a second) and a changed one gets a new tag.
# Needs podman (scripts/start-podman.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${LUME_BASE_IMAGE:-localhost/lume-base:bookworm}
REPO=${LUME_IMAGE_REPO:-localhost/lume-prefect}
INPUTS=(pyproject.toml lume_prefect flows deployments/Dockerfile deployments/Dockerfile.dockerignore deployments/docker-entrypoint.sh)

sources_hash() {
    find "$@" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z \
        | xargs -0 sha256sum | sha256sum | cut -c1-12
}
IMAGE="$REPO:src-$(sources_hash "${INPUTS[@]}")"
POSTGRES_IMAGE="localhost/lume-stack-postgres:15-$(sources_hash deployments/stack/postgres.Dockerfile deployments/stack/postgres-entrypoint.sh)"
S3_IMAGE="localhost/lume-stack-moto:$(echo "$IMAGE" | cat - deployments/stack/moto.Dockerfile | sha256sum | cut -c1-12)"
# One build at a time; --wait blocks while one runs (scripts/ci-components.sh starts it in the background).
LOCK=${LUME_BUILD_LOCK:-/tmp/lume-prefect-build-images.lock}
case ${1:-} in
    --name) echo "$IMAGE"; exit 0 ;;
    --env | --wait)
        [[ $1 == --wait ]] && flock "$LOCK" true
        printf 'LUME_IMAGE=%s\nLUME_POSTGRES_IMAGE=%s\nLUME_S3_IMAGE=%s\n' "$IMAGE" "$POSTGRES_IMAGE" "$S3_IMAGE"
        exit 0 ;;
    --stack | "") ;;
    *) echo "usage: $0 [--name|--env|--wait|--stack]" >&2; exit 64 ;;
esac
exec 9>"$LOCK"
flock 9
log() { echo "build-images: $*" >&2; }

build_base() {
    local mirror rootfs
    # The Debian mirror apt is configured with (deb822 sources or a classic sources.list).
    mirror=$(grep -h -m1 -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n1 || true)
    [[ -n $mirror ]] || mirror=$(grep -h -m1 -E '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d /var/tmp/lume-base.XXXXXX)
    trap 'rm -rf "$rootfs"' RETURN
    log "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/dev/null
    # apt and TLS inside the chroot as on the host: its apt settings, resolver, and the
    # host's extra CA certificates (an intercepting proxy's), for apt here and pip later.
    cp -a /etc/apt/apt.conf.d/. "$rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    chroot "$rootfs" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null \
        && update-ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
    # pip verifies TLS against the system bundle (which now has the host's extra CAs).
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
    : >"$rootfs/etc/resolv.conf"
    log "importing $BASE"
    tar -C "$rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
}

if podman image exists "$BASE"; then
    log "base $BASE present"
else
    start=$SECONDS
    build_base
    log "base $BASE built in $((SECONDS - start)) s"
fi

if podman image exists "$IMAGE"; then
    log "$IMAGE present (sources unchanged)"
else
    start=$SECONDS
    podman build --pull=never --network=host --build-arg "BASE=$BASE" \
        -f deployments/Dockerfile --ignorefile deployments/Dockerfile.dockerignore -t "$IMAGE" . >&2
    log "$IMAGE built in $((SECONDS - start)) s"
fi

# untag_others IMAGE: drop the older tags of IMAGE's repository (images of earlier sources).
untag_others() {
    local old
    for old in $(podman images --format '{{.Repository}}:{{.Tag}}' "${1%:*}"); do
        [[ $old == "$1" ]] || podman untag "$old" "$old" 2>/dev/null || true
    done
}
untag_others "$IMAGE"

# build_stand_in IMAGE DOCKERFILE BASE: the compose stack's stand-in for an official image.
build_stand_in() {
    if podman image exists "$1"; then
        log "$1 present"
        return
    fi
    start=$SECONDS
    podman build --pull=never --network=host --build-arg "BASE=$3" -f "$2" -t "$1" deployments/stack >&2
    log "$1 built in $((SECONDS - start)) s"
    untag_others "$1"
}
if [[ ${1:-} == --stack ]]; then
    build_stand_in "$POSTGRES_IMAGE" deployments/stack/postgres.Dockerfile "$BASE"
    build_stand_in "$S3_IMAGE" deployments/stack/moto.Dockerfile "$IMAGE"
fi
echo "$IMAGE"
