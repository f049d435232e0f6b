#!/usr/bin/env bash
# Build a connector image locally:
#
#   ./build-local.sh source-<name> [Dockerfile]
#   ./build-local.sh --engine        prints the container engine a build would use, and exits
#
# The image is tagged ghcr.io/estuary/<name>:local (flowctl and the runtime skip pulling
# `:local` tags). Which Dockerfile: the connector's own `<connector>/Dockerfile` if it has one
# (it overrides the common one, as for webhook captures), else the one given, else
# python/Dockerfile. The build context is the repository root, because the image also copies
# estuary-cdk (an editable path dependency). The base image (base-image/) is built first (cached
# layers make that quick when nothing changed); when the Python image both Dockerfiles start
# FROM is not present and cannot be pulled, tools/python_stand_in.py makes a stand-in for it
# from Debian packages under the same tag, and says so.
#
# Engine: docker when a Docker engine answers (what the guide's users have), else podman, else
# buildah; CONTAINER_ENGINE=docker|podman|buildah picks one. podman and buildah build with
# `--isolation chroot` (BUILDAH_ISOLATION overrides it), which works on machines that cannot
# run an OCI runtime, and with cached layers.
#
# The build machine's CA bundle (BUILD_CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt
# when it exists; empty: none) is handed to the build as the secret `build-ca`: downloads in the
# builder stage trust it (needed behind a TLS-inspecting proxy), and a secret is mounted only
# while a RUN step runs, so no image layer carries it.
#
# Environment: USAGE_RATE (default 1.0), IMAGE_REPO (default ghcr.io/estuary),
# DRY_RUN=1 prints the build commands instead of running them (no engine needed).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_DOCKERFILE="python/Dockerfile"
DEFAULT_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"

die() {
    local code="$1"
    shift
    echo "build-local.sh: error: $*" >&2
    exit "$code"
}

note() {
    echo "build-local.sh: $*" >&2
}

usage() {
    cat >&2 <<EOF
usage: ./build-local.sh <connector> [Dockerfile]
       ./build-local.sh --engine
  <connector>   a connector directory of this repository, e.g. source-hello-world
  [Dockerfile]  default: <connector>/Dockerfile if present, else ${DEFAULT_DOCKERFILE}
  --engine      print the container engine a build would use (docker, podman or buildah)
Environment: CONTAINER_ENGINE, BUILD_CA_BUNDLE, USAGE_RATE, IMAGE_REPO, DRY_RUN=1
EOF
}

# Sets ENGINE to the first usable engine (or the one CONTAINER_ENGINE names), or exits 3 with
# what is missing. A docker client without an engine is not usable: builds would fail later.
pick_engine() {
    local docker_problem="" engine_output reason candidate
    if [ -n "${CONTAINER_ENGINE:-}" ]; then
        command -v "$CONTAINER_ENGINE" >/dev/null 2>&1 ||
            die 3 "CONTAINER_ENGINE=$CONTAINER_ENGINE, but the '$CONTAINER_ENGINE' command was not found"
    fi
    if [ "${CONTAINER_ENGINE:-docker}" = docker ] && command -v docker >/dev/null 2>&1; then
        if engine_output="$(docker info 2>&1)"; then
            ENGINE=docker
            return
        fi
        reason="$(grep -m1 -iE 'cannot connect|error|denied' <<<"$engine_output" || true)"
        docker_problem="no Docker engine is answering${reason:+ ($reason)}"
        [ -z "${CONTAINER_ENGINE:-}" ] ||
            die 3 "$docker_problem. Start the Docker daemon, or point DOCKER_HOST at a running one, and retry"
    fi
    for candidate in ${CONTAINER_ENGINE:-podman buildah}; do
        if command -v "$candidate" >/dev/null 2>&1; then
            ENGINE="$candidate"
            [ -z "$docker_problem" ] || note "$docker_problem; building with $ENGINE instead"
            return
        fi
    done
    if [ -n "$docker_problem" ]; then
        die 3 "$docker_problem, and neither podman nor buildah is installed. Start the Docker daemon (or point DOCKER_HOST at a running one), or install podman or buildah (Debian: apt-get install buildah), and retry"
    fi
    die 3 "no container engine found: the 'docker' command was not found, nor podman or buildah. Install Docker (client and engine), podman or buildah (Debian: apt-get install buildah) to build images"
}

case "${CONTAINER_ENGINE:-}" in
    "" | docker | podman | buildah) ;;
    *) die 2 "CONTAINER_ENGINE must be docker, podman or buildah, not '$CONTAINER_ENGINE'" ;;
esac
if [ "$#" -eq 1 ] && [ "$1" = --engine ]; then
    pick_engine
    echo "$ENGINE"
    exit 0
fi
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    usage
    die 2 "expected 1 or 2 arguments, got $#"
fi
case "$1" in -h | --help) usage; exit 0 ;; esac

CONNECTOR="${1%/}"
if [[ ! "$CONNECTOR" =~ ^(source|materialize)-[a-z0-9][a-z0-9-]*$ ]]; then
    die 2 "invalid connector name '$CONNECTOR': expected source-<name> or materialize-<name> (lower-case letters, digits and dashes)"
fi
# The runtime reads the protocol from this label; it follows from the directory's prefix.
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
        note "note: $CONNECTOR has its own Dockerfile, which overrides '$2'"
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
CA_BUNDLE="${BUILD_CA_BUNDLE-$DEFAULT_CA_BUNDLE}"
if [ -n "$CA_BUNDLE" ] && [ ! -f "$CA_BUNDLE" ]; then
    [ -n "${BUILD_CA_BUNDLE:-}" ] && die 2 "BUILD_CA_BUNDLE '$CA_BUNDLE' is not a file"
    CA_BUNDLE=""
fi

run() {
    if [ "${DRY_RUN:-0}" = "1" ]; then
        printf '%q ' "$@"
        echo
    else
        "$@"
    fi
}

if [ "${DRY_RUN:-0}" = "1" ]; then
    # The engine a real run would use; docker when none is usable (a dry run needs none).
    ENGINE="$( (pick_engine && echo "$ENGINE") 2>/dev/null || echo "${CONTAINER_ENGINE:-docker}")"
else
    pick_engine
fi

# One build command per engine, with the options every build here shares.
build() {
    local secret=()
    [ -z "$CA_BUNDLE" ] || secret=(--secret "id=build-ca,src=$CA_BUNDLE")
    case "$ENGINE" in
        docker)
            # BuildKit: needed for the secret; buildx adds a layer cache shared between builds.
            if [ "${DRY_RUN:-0}" != "1" ] && docker buildx version >/dev/null 2>&1; then
                run docker buildx build --platform linux/amd64 "${secret[@]}" --load \
                    --cache-from "type=local,src=.docker-cache" \
                    --cache-to "type=local,dest=.docker-cache,mode=max" "$@"
            else
                DOCKER_BUILDKIT=1 run docker build --platform linux/amd64 "${secret[@]}" "$@"
            fi
            ;;
        podman | buildah)
            local verb=build
            [ "$ENGINE" = podman ] || verb=bud
            # --force-rm: a failed step's container is removed too, not left in the store.
            run "$ENGINE" "$verb" --platform linux/amd64 --format docker --layers --pull=false \
                --force-rm --isolation "${BUILDAH_ISOLATION:-chroot}" "${secret[@]}" "$@"
            ;;
    esac
}

cd "$ROOT"
if [ "${DRY_RUN:-0}" != "1" ]; then
    python3 "$ROOT/tools/python_stand_in.py" --engine "$ENGINE" ||
        die 4 "the Python image that base-image/Dockerfile and $DOCKERFILE start FROM is not available (see above)"
fi
build -t "$BASE_IMAGE" base-image
build \
    --build-arg "CONNECTOR_NAME=$CONNECTOR" \
    --build-arg "CONNECTOR_TYPE=$CONNECTOR_TYPE" \
    --build-arg "USAGE_RATE=$USAGE_RATE" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -f "$DOCKERFILE" \
    -t "$TAG" \
    .
if [ "${DRY_RUN:-0}" = "1" ]; then
    echo "dry run: would build $TAG ($CONNECTOR_TYPE, $DOCKERFILE) with $ENGINE" >&2
else
    echo "built $TAG ($CONNECTOR_TYPE, $DOCKERFILE) with $ENGINE" >&2
fi
