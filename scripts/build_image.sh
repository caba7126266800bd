#!/usr/bin/env bash
# Build the modelmill-serve image from ./Dockerfile.
#
# With a working Docker engine (`docker info`): a plain `docker build`, as anyone would.
# Otherwise with Debian's podman and the runc runtime, without any image registry or package
# index inside the build: a local base image (Debian bookworm's Python 3.11 in a venv, made by
# mmdebstrap and `podman import`) and every wheel gathered on the host first (build/wheelhouse,
# cp311 like the base), installed with `pip install --no-index`.
#
#   scripts/build_image.sh            # IMAGE=modelmill-serve, rebuilds the wheelhouse
#   REBUILD_BASE=1 scripts/build_image.sh
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-modelmill-serve}
BASE=${BASE:-modelmill-base:bookworm}
SUITE=${SUITE:-bookworm}
WHEELHOUSE=${WHEELHOUSE:-build/wheelhouse}
PY=${PY:-.venv/bin/python}

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -t "$IMAGE" .
  docker image inspect --format "image $IMAGE: {{.Size}} bytes" "$IMAGE"
  docker image ls "$IMAGE"
  exit 0
fi

command -v podman >/dev/null || { echo "neither a Docker engine nor podman: run 'make podman' as root" >&2; exit 2; }
# runc, not crun: crun fails on cgroups and rlimits on this kind of machine
PODMAN=(podman --runtime "${OCI_RUNTIME:-runc}")

if [ -n "${REBUILD_BASE:-}" ] || ! podman image exists "$BASE"; then
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: run 'make podman' as root" >&2; exit 2; }
  mkdir -p build
  echo "== base image $BASE: Debian $SUITE minbase + python3 (venv with pip on PATH, like python:3.11-slim)"
  # /opt/python is a venv so that `pip install` works as in the official image (no PEP 668 refusal)
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
    --customize-hook='chroot "$1" python3 -m venv /opt/python' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    "$SUITE" build/base.tar
  podman import \
    --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    build/base.tar "$BASE" >/dev/null
  rm -f build/base.tar
fi

base_py=$("${PODMAN[@]}" run --rm --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  "$BASE" python -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
host_py=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
if [ "$base_py" != "$host_py" ]; then
  echo "the base image runs $base_py but the host's wheels are $host_py: set PY to a matching python" >&2
  exit 2
fi

echo "== wheelhouse $WHEELHOUSE: modelmill[onnx]'s dependencies and the build backend, built on the host"
mkdir -p "$WHEELHOUSE"
# (the grep drops pip's warnings about absent local index folders some machines configure)
"$PY" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$WHEELHOUSE" '.[onnx]' hatchling \
  2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
rm -f "$WHEELHOUSE"/modelmill-*.whl   # the image builds its own from src/

echo "== image $IMAGE (podman + ${OCI_RUNTIME:-runc}, base $BASE, no package index)"
# what goes into the wheel: a change makes the build install modelmill again (see the Dockerfile)
digest=$(find src pyproject.toml README.md -type f ! -path '*/__pycache__/*' -print0 | sort -z \
  | xargs -0 sha256sum | sha256sum | cut -c1-16)
"${PODMAN[@]}" build --format docker --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
  --build-arg PYTHON_IMAGE="$BASE" --build-arg WHEELHOUSE="$WHEELHOUSE" \
  --build-arg SOURCE_DIGEST="$digest" -t "$IMAGE" .
podman image inspect --format "image $IMAGE: {{.Size}} bytes" "$IMAGE"
podman image ls "$IMAGE"
