# syntax=docker/dockerfile:1
# The modelmill prediction service: `modelmill serve` with the ONNX runtime, no model inside.
#
#   docker build -t modelmill-serve .
#   docker run -p 8000:8000 -e MLFLOW_TRACKING_URI=http://mlflow:5000 modelmill-serve
#
# The model is pulled at start from the registry named by MLFLOW_TRACKING_URI (or pass
# `--tracking-uri` after the image name with the full command) and the `prod` alias is
# watched for hot swaps. A SQLite registry works too if it is mounted at the path its runs
# were logged with (the artifact locations are absolute), e.g.
#   docker run -v /srv/ws:/srv/ws:ro -e MLFLOW_TRACKING_URI=sqlite:////srv/ws/mlflow.db ...
# MODELMILL_API_KEY turns on the X-API-Key check. /health is liveness, /ready readiness.
#
# Without a package index (`make image`, scripts/build_image.sh): a local base image with
# Python 3.11 and pip on PATH, and a folder of wheels inside the build context, e.g.
#   docker build --build-arg PYTHON_IMAGE=modelmill-base:bookworm \
#                --build-arg WHEELHOUSE=build/wheelhouse -t modelmill-serve .
# With WHEELHOUSE set, pip installs with --no-index from that folder only.

ARG PYTHON_IMAGE=python:3.11-slim
ARG WHEELHOUSE=

# ---------------------------------------------------------------------------- build: the wheel
FROM ${PYTHON_IMAGE} AS build
ARG WHEELHOUSE
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN --mount=type=bind,target=/ctx \
    pip wheel --no-deps ${WHEELHOUSE:+--no-index --find-links /ctx/$WHEELHOUSE} --wheel-dir /wheels .

# ---------------------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime
ARG WHEELHOUSE
LABEL org.opencontainers.image.title="modelmill-serve" \
      org.opencontainers.image.description="modelmill online prediction service (FastAPI, MLflow registry, ONNX)" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODELMILL_HOME=/var/lib/modelmill \
    MODELMILL_CACHE_DIR=/var/lib/modelmill/.cache \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false

RUN groupadd --system --gid 10001 modelmill \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/modelmill --no-create-home \
      --shell /usr/sbin/nologin modelmill \
 && mkdir -p /var/lib/modelmill/.cache \
 && chown -R 10001:10001 /var/lib/modelmill

# the wheel is bind-mounted from the build stage: it never becomes a layer of this image
# (so is the optional wheelhouse, from the build context)
RUN --mount=type=bind,from=build,source=/wheels,target=/tmp/wheels \
    --mount=type=bind,target=/ctx \
    pip install --no-cache-dir ${WHEELHOUSE:+--no-index --find-links /ctx/$WHEELHOUSE} \
      "$(ls /tmp/wheels/modelmill-*.whl)[onnx]"
# buildah reuses a cached RUN whatever its mounts hold, so the layer above may carry an older
# modelmill: SOURCE_DIGEST (scripts/build_image.sh passes the sources' digest; a RUN after an
# ARG is cached per value) installs this one again, alone. Docker's BuildKit needs no digest.
ARG SOURCE_DIGEST=
RUN --mount=type=bind,from=build,source=/wheels,target=/tmp/wheels \
    pip install --no-cache-dir --no-deps --force-reinstall /tmp/wheels/modelmill-*.whl

USER 10001:10001
WORKDIR /var/lib/modelmill
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["modelmill", "serve", "--host", "0.0.0.0", "--port", "8000", "--model", "models:/nyc_rentals@prod"]
