#!/usr/bin/env bash
# Build every image the stack runs on from Debian's packages and PyPI's wheels only: no
# image registry is asked for anything. For air-gapped sites, and for machines whose engine
# cannot pull.
#
#   deploy/images/build.sh [IMAGE ...]      IMAGE: python postgres rabbitmq ciba (default: all)
#
# python    localhost/ciba-python:bookworm     mmdebstrap (essential packages only: no apt):
#                                              python3, venv, CA certificates, passwd
#           localhost/ciba-python-build:bookworm  the same with binutils: the product's builder
#                                              stage strips the venv's shared objects with it
# postgres  localhost/ciba-postgres:15         mmdebstrap: postgresql-15 (deploy/images/postgres)
# rabbitmq  localhost/ciba-rabbitmq:3          mmdebstrap: rabbitmq-server (deploy/images/rabbitmq)
# ciba      localhost/ciba-server:dev          deploy/Dockerfile on localhost/ciba-python, from
#                                              requirements.lock's wheels, fetched into deploy/wheels
#
# Then point Compose and the tests at them:
#   CIBA_POSTGRES_IMAGE=localhost/ciba-postgres:15 CIBA_RABBITMQ_IMAGE=localhost/ciba-rabbitmq:3 \
#   CIBA_IMAGE=localhost/ciba-server:dev
#
# ENGINE (default podman, else docker) builds and stores them. SUITE (bookworm) and MIRROR
# (http://deb.debian.org/debian) choose the Debian packages: an air-gapped site points MIRROR
# at its own Debian mirror, and fills deploy/wheels from its own package index (then
# WHEELS=keep skips the `pip wheel` step). A base root filesystem is rebuilt only when its
# image is missing (REBUILD=1 forces it). Needs root for mmdebstrap (or its unshare mode).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ENGINE="${ENGINE:-$(command -v podman >/dev/null && echo podman || echo docker)}"
SUITE="${SUITE:-bookworm}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
PYTHON_IMAGE="${CIBA_PYTHON_IMAGE:-localhost/ciba-python:$SUITE}"
PYTHON_BUILD_IMAGE="${CIBA_PYTHON_BUILD_IMAGE:-localhost/ciba-python-build:$SUITE}"
POSTGRES_IMAGE="${CIBA_POSTGRES_IMAGE:-localhost/ciba-postgres:15}"
RABBITMQ_IMAGE="${CIBA_RABBITMQ_IMAGE:-localhost/ciba-rabbitmq:3}"
CIBA_IMAGE="${CIBA_IMAGE:-localhost/ciba-server:dev}"
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"

say() { printf '[images] %s\n' "$*"; }
have_image() { [[ "${REBUILD:-}" != 1 ]] && "$ENGINE" image exists "$1" 2>/dev/null; }

# Documentation, man pages and locales are of no use in a container; apt's lists neither.
# The merged-/usr hook instead of the usrmerge package, which pulls in perl (50 MB).
SLIM=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
      --dpkgopt='path-exclude=/usr/share/info/*'
      --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin')

rootfs() {  # rootfs IMAGE PACKAGES [extra mmdebstrap options]: a root filesystem, imported
    local image="$1" packages="$2" variant=minbase
    shift 2
    if [[ "${1:-}" == --variant=* ]]; then
        variant="${1#--variant=}"
        shift
    fi
    if have_image "$image"; then
        say "$image: already built"
        return
    fi
    say "$image: mmdebstrap $SUITE with $packages"
    local tar
    tar="$(mktemp --suffix=.tar)"
    mmdebstrap --quiet --variant="$variant" --include="$packages" "${SLIM[@]}" "$@" "$SUITE" "$tar" "$MIRROR"
    "$ENGINE" import --quiet --change 'CMD ["/bin/bash"]' "$tar" "$image" >/dev/null
    rm -f "$tar"
}

build() {  # build IMAGE CONTAINERFILE [--build-arg ...]
    local image="$1" file="$2"
    shift 2
    say "$image: build from $file"
    # Docker's image format keeps HEALTHCHECK (the OCI format drops it).
    local format=()
    [[ "$ENGINE" == podman ]] && format=(--format docker)
    "$ENGINE" build --quiet "${format[@]}" -f "$file" -t "$image" "$@" . >/dev/null
}

# The product's base: Debian's essential set (no apt, no gpgv: nothing installs packages at
# run time) and glibc's iconv modules left out (Python has its own codecs): 101 MB, not 129.
PYTHON_SLIM=(--variant=essential --dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*'
             --dpkgopt='path-include=/usr/lib/x86_64-linux-gnu/gconv/gconv-modules*')

python_image() {
    rootfs "$PYTHON_IMAGE" python3,python3-venv,ca-certificates,passwd "${PYTHON_SLIM[@]}"
    rootfs "$PYTHON_BUILD_IMAGE" python3,python3-venv,ca-certificates,passwd,binutils "${PYTHON_SLIM[@]}"
}

postgres_image() {
    rootfs "$POSTGRES_IMAGE-rootfs" postgresql-15,ca-certificates \
        --customize-hook='chroot "$1" pg_dropcluster 15 main || true'
    build "$POSTGRES_IMAGE" deploy/images/postgres/Containerfile --build-arg "ROOTFS_IMAGE=$POSTGRES_IMAGE-rootfs"
}

rabbitmq_image() {
    rootfs "$RABBITMQ_IMAGE-rootfs" rabbitmq-server,ca-certificates
    build "$RABBITMQ_IMAGE" deploy/images/rabbitmq/Containerfile --build-arg "ROOTFS_IMAGE=$RABBITMQ_IMAGE-rootfs"
}

ciba_image() {
    python_image
    if [[ "${WHEELS:-}" != keep ]]; then
        say "deploy/wheels: pip wheel (requirements.lock's dependencies, and what builds the product)"
        rm -f deploy/wheels/*.whl
        # The files the lock's hashes name: the image installs them with --require-hashes.
        "$PYTHON" -m pip wheel --quiet --wheel-dir deploy/wheels --require-hashes -r requirements.lock
        "$PYTHON" -m pip wheel --quiet --wheel-dir deploy/wheels --no-deps 'setuptools>=69' wheel
    fi
    build "$CIBA_IMAGE" deploy/Dockerfile --build-arg "BASE_IMAGE=$PYTHON_IMAGE" \
        --build-arg "BUILDER_IMAGE=$PYTHON_BUILD_IMAGE" \
        --build-arg "PIP_INSTALL_ARGS=--no-index --find-links deploy/wheels"
    say "$CIBA_IMAGE: $("$ENGINE" image inspect --format '{{.Size}}' "$CIBA_IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(python postgres rabbitmq ciba)
for target in "${targets[@]}"; do
    case "$target" in
        python) python_image ;;
        postgres) postgres_image ;;
        rabbitmq) rabbitmq_image ;;
        ciba) ciba_image ;;
        *) echo "unknown image: $target (python, postgres, rabbitmq, ciba)" >&2; exit 2 ;;
    esac
done
