# A variant of an already-built connector image that differs only in its documentation URL
# (CI rebuilds every pushed image through this with DOCS_URL=https://go.estuary.dev/<image>).
#   docker build -f connector-variant.Dockerfile \
#       --build-arg BASE_CONNECTOR=ghcr.io/estuary/source-foo:local \
#       --build-arg DOCS_URL=https://go.estuary.dev/source-foo-variant .
ARG BASE_CONNECTOR=ghcr.io/estuary/source-hello-world:local
FROM ${BASE_CONNECTOR}

ARG DOCS_URL
ENV DOCS_URL=${DOCS_URL}
