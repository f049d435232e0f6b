#!/usr/bin/env bash
# Build a connector image locally:
#
#   ./build-local.sh source-<name> [Dockerfile]
#
# The image is tagged ghcr.io/estuary/<name>:local (flowctl and the runtime skip pulling
# `:local` tags). Which Dockerfile: the connector's own `<connector>/Dockerfile` if it has one
# (it overrides the common one, as for webhook captures), else the one given, else
# python/Dockerfile. The build context is the repository root, because the image also copies
# estuary-cdk (an editable path dependency). The base image (base-image/) is built first when
# it is not present locally.
#
# Environment: USAGE_RATE (default 1.0), IMAGE_REPO (default ghcr.io/estuary),
# DRY_RUN=1 prints the docker commands instead of running them (no engine needed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_DOCKERFILE="python/Dockerfile"

die() {
    local code="$1"
    shift
    echo "build-local.sh: error: $*" >&2
    exit "$code"
}

usage() {
    cat >&2 <<EOF
usage: ./build-local.sh <connector> [Dockerfile]
  <connector>   a connector directory of this repository, e.g. source-hello-world
  [Dockerfile]  default: <connector>/Dockerfile if present, else ${DEFAULT_DOCKERFILE}
EOF
}

if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    usage
    die 2 "expected 1 or 2 arguments, got $#"
fi
case "$1" in -h | --help) usage; exit 0 ;; esac

CONNECTOR="${1%/}"
if [[ ! "$CONNECTOR" =~ ^(source|materialize)-[a-z0-9][a-z0-9-]*$ ]]; then
    die 2 "invalid connector name '$CONNECTOR': expected source-<name> or materialize-<name> (lower-case letters, digits and dashes)"
fi
case "$CONNECTOR" in
    source-*) CONNECTOR_TYPE=capture ;;
    materialize-*) CONNECTOR_TYPE=materialize ;;
esac

if [ ! -d "$ROOT/$CONNECTOR" ]; then
    die 2 "no connector directory '$CONNECTOR' in $ROOT"
fi

if [ -f "$ROOT/$CONNECTOR/Dockerfile" ]; then
    DOCKERFILE="$CONNECTOR/Dockerfile"
    if [ "$#" -eq 2 ] && [ "${2#./}" != "$DOCKERFILE" ]; then
        echo "build-local.sh: note: $CONNECTOR has its own Dockerfile, which overrides '$2'" >&2
    fi
else
    DOCKERFILE="${2:-$DEFAULT_DOCKERFILE}"
    DOCKERFILE="${DOCKERFILE#./}"
fi
if [ ! -f "$ROOT/$DOCKERFILE" ]; then
    die 2 "Dockerfile '$DOCKERFILE' does not exist"
fi
if [ "$DOCKERFILE" = "$DEFAULT_DOCKERFILE" ]; then
    [ -f "$ROOT/$CONNECTOR/pyproject.toml" ] ||
        die 2 "$CONNECTOR has no pyproject.toml, so $DEFAULT_DOCKERFILE cannot build it"
    [ -f "$ROOT/$CONNECTOR/poetry.lock" ] ||
        die 2 "$CONNECTOR has no poetry.lock (run 'poetry lock' in $CONNECTOR first)"
fi

IMAGE_REPO="${IMAGE_REPO:-ghcr.io/estuary}"
TAG="$IMAGE_REPO/$CONNECTOR:local"
USAGE_RATE="${USAGE_RATE:-1.0}"
BASE_IMAGE="flow-connectors/base-image:$(tr -d '[:space:]' <"$ROOT/base-image/VERSION")"

run() {
    if [ "${DRY_RUN:-0}" = "1" ]; then
        printf '%q ' "$@"
        echo
    else
        "$@"
    fi
}

if [ "${DRY_RUN:-0}" != "1" ]; then
    command -v docker >/dev/null 2>&1 ||
        die 3 "the 'docker' command was not found; install Docker (client and engine) to build images"
    if ! engine_output="$(docker info 2>&1)"; then
        reason="$(grep -m1 -iE 'cannot connect|error|denied' <<<"$engine_output" || true)"
        die 3 "no Docker engine is answering${reason:+ ($reason)}. Start the Docker daemon, or point DOCKER_HOST at a running one, and retry"
    fi
fi

cd "$ROOT"
if [ "${DRY_RUN:-0}" = "1" ] || ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    run docker build --platform linux/amd64 -t "$BASE_IMAGE" base-image
fi

BUILD_ARGS=(
    --platform linux/amd64
    --build-arg "CONNECTOR_NAME=$CONNECTOR"
    --build-arg "CONNECTOR_TYPE=$CONNECTOR_TYPE"
    --build-arg "USAGE_RATE=$USAGE_RATE"
    --build-arg "BASE_IMAGE=$BASE_IMAGE"
    -f "$DOCKERFILE"
    -t "$TAG"
)
if [ "${DRY_RUN:-0}" != "1" ] && docker buildx version >/dev/null 2>&1; then
    run docker buildx build "${BUILD_ARGS[@]}" --load \
        --cache-from "type=local,src=.docker-cache" --cache-to "type=local,dest=.docker-cache,mode=max" .
else
    run docker build "${BUILD_ARGS[@]}" .
fi
if [ "${DRY_RUN:-0}" = "1" ]; then
    echo "dry run: would build $TAG ($CONNECTOR_TYPE, $DOCKERFILE)" >&2
else
    echo "built $TAG ($CONNECTOR_TYPE, $DOCKERFILE)" >&2
fi
