# syntax=docker/dockerfile:1
# The mlrollout image: `mlrollout controller` in examples/deploy/, and `mlrollout verify model`
# as the init container of the GPU environments. Build from the repository root:
#
#   docker build --build-arg SOURCE_URL=<repository URL> --build-arg REVISION=$(git rev-parse HEAD) \
#     -t registry.example.com/mlrollout:0.1.0 .
#
# - Two stages; the final one has no shell, no pip and no compiler.
# - Base images pinned by digest. No registry can be reached from the machine these files were
#   written on, so the digests were taken from public Dockerfiles whose pins Renovate keeps:
#   python:3.11.7-slim-bookworm from nalabelle/build (images/digests.Dockerfile, commit
#   03299f1e), gcr.io/distroless/python3-debian12:nonroot from miracum/.github (Dockerfile,
#   commit 059def86). Refresh both before a release (`docker buildx imagetools inspect TAG`);
#   the builder's Python must stay 3.11 (distroless Debian 12 runs CPython 3.11).
# - Every dependency comes from requirements/controller.txt, hash-locked by
#   requirements/compile.sh (uv pip compile --generate-hashes), installed with
#   --require-hashes --no-deps: nothing is resolved at build time.
# - Runs as UID/GID 65532 with a read-only root filesystem: bytecode is compiled here, Python
#   writes none, and HOME, the XDG caches and matplotlib's config point at /tmp (mount an
#   emptyDir there).
# - No secret enters any layer: no credential build arguments, and .dockerignore admits only
#   the sources listed in it.
# tests/deploy/test_image.py checks each of these properties (no container engine runs in
# the test suite).

FROM docker.io/library/python:3.11.7-slim-bookworm@sha256:8f64a67710f3d981cf3008d6f9f1dbe61accd7927f165f4e37ea3f8b883ccc3f AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements/ requirements/
RUN python -m pip install --require-hashes --no-deps --only-binary=:all: \
        --target /opt/build-tools -r requirements/build.txt \
 && python -m pip install --require-hashes --no-deps --only-binary=:all: \
        --target /app/lib -r requirements/controller.txt
COPY pyproject.toml README.md ./
COPY analyses/ analyses/
COPY src/ src/
# The project's own wheel, built from the sources above by the hash-locked setuptools; it is
# installed from that local file only (--no-index), so --require-hashes has nothing to check.
RUN PYTHONPATH=/opt/build-tools python -m pip wheel --no-deps --no-build-isolation \
        --wheel-dir /build/dist . \
 && python -m pip install --no-deps --no-index --target /app/lib /build/dist/mlrollout-*.whl \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /app/lib

FROM gcr.io/distroless/python3-debian12:nonroot@sha256:6f47357efced3b45f91d0e951811b6a7b99fa9a9ab8691badef07bbde815c6cc
ARG SOURCE_URL
ARG REVISION
LABEL org.opencontainers.image.title="mlrollout" \
      org.opencontainers.image.description="Canary and blue-green release controller for ML models on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /app/lib /app/lib
ENV PYTHONPATH=/app/lib \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    XDG_CONFIG_HOME=/tmp/.config \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /tmp
USER 65532:65532
ENTRYPOINT ["/usr/bin/python3.11", "-m", "mlrollout"]
CMD ["controller"]
