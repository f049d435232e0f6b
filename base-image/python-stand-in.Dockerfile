# A local stand-in for the registry's Python image (PYTHON_IMAGE of base-image/Dockerfile and
# python/Dockerfile), for machines that cannot pull it. tools/python_stand_in.py makes the build
# context: a minimal Debian root filesystem, made by debootstrap from Debian's signed packages,
# whose python3.X is the same Python line as the registry image, trimmed like a slim image. It
# is built under the registry image's own tag, so both Dockerfiles build unchanged on it; its
# labels say that it is a stand-in, and from which Debian release and recipe.
FROM scratch

ADD rootfs.tar /

ARG PYTHON_VERSION
ARG DEBIAN_SUITE
ARG RECIPE

ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHON_VERSION=${PYTHON_VERSION}

LABEL dev.flow-connectors.python-stand-in="debian-${DEBIAN_SUITE}" \
      dev.flow-connectors.python-stand-in.recipe="${RECIPE}"

CMD ["python3"]
