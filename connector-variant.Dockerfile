# A variant of an already-built connector image that differs only in its documentation URL
# (CI rebuilds every pushed image through this with DOCS_URL=https://go.estuary.dev/<image>).
#   docker build -f connector-variant.Dockerfile \
#       --build-arg BASE_CONNECTOR=ghcr.io/estuary/source-foo:local \
#       --build-arg DOCS_URL=https://go.estuary.dev/source-foo-variant .
# The base image already has an ENV DOCS_URL, and inside a stage an ENV overrides an ARG of the
# same name: `ENV DOCS_URL=${DOCS_URL}` would keep the old URL. So the build argument is read
# before FROM, under another name.
ARG BASE_CONNECTOR=ghcr.io/estuary/source-hello-world:local
ARG DOCS_URL
ARG VARIANT_DOCS_URL=${DOCS_URL}
FROM ${BASE_CONNECTOR}

ARG VARIANT_DOCS_URL
ENV DOCS_URL=${VARIANT_DOCS_URL}
