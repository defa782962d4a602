# syntax=docker/dockerfile:1
# channel-monitor container image. README.md, "Container", documents how to run it.
#
#   docker build -t channel-monitor:0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --read-only -p 9184:9184 -v channel-monitor-data:/var/lib/channel-monitor \
#     channel-monitor:0.1.0
#
# Stage 1 builds a wheel for the project and every dependency, then installs them into a virtual
# environment without pip. Stage 2 copies only that environment onto a fresh base: no compiler,
# no wheels, no pip cache, no source tree.

ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --upgrade pip wheel
COPY pyproject.toml README.md LICENSE ./
COPY monitor ./monitor
COPY connectors ./connectors
# The source revision goes into the package, where channel_monitor_build_info{revision} reads it.
ARG REVISION=""
RUN printf '%s\n' "${REVISION}" > monitor/REVISION
# `pip --python` installs into the runtime environment with the build environment's pip, so the
# runtime environment never contains pip or setuptools. psycopg[binary] brings its own libpq.
RUN /opt/build/bin/pip wheel --wheel-dir /wheels '.[postgres]' \
 && python -m venv --without-pip /opt/channel-monitor \
 && /opt/build/bin/pip --python /opt/channel-monitor/bin/python install --no-index \
      --find-links /wheels 'channel-monitor[postgres]' \
 && /opt/channel-monitor/bin/channel-monitor --help >/dev/null

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=""
ARG CREATED=""
LABEL org.opencontainers.image.title="channel-monitor" \
      org.opencontainers.image.description="Tells a public organisation which of its social media channels have gone quiet, as Prometheus metrics and alerts." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.source="https://github.com/channel-monitor/channel-monitor" \
      org.opencontainers.image.documentation="https://github.com/channel-monitor/channel-monitor#container" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# Every CHANNEL_MONITOR_* variable overrides the configuration file's [monitor] table.
# PYTHONDONTWRITEBYTECODE: the root filesystem may be read-only (bytecode is compiled at install).
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/channel-monitor/bin:$PATH \
    CHANNEL_MONITOR_CONFIG=/etc/channel-monitor/config.toml \
    CHANNEL_MONITOR_DATABASE=sqlite:////var/lib/channel-monitor/channel-monitor.db \
    CHANNEL_MONITOR_LISTEN=0.0.0.0:9184
# A fixed, unprivileged UID/GID (10001). The data directory is also group 0 and group-writable, so
# that platforms which run containers under an arbitrary UID in group 0 (OpenShift) can write it.
RUN groupadd --gid 10001 monitor \
 && useradd --no-log-init --uid 10001 --gid 10001 --no-create-home \
      --home-dir /var/lib/channel-monitor --shell /usr/sbin/nologin monitor \
 && mkdir -p /etc/channel-monitor /var/lib/channel-monitor \
 && chown 10001:0 /var/lib/channel-monitor \
 && chmod 0770 /var/lib/channel-monitor
COPY --from=build /opt/channel-monitor /opt/channel-monitor
COPY config.toml /etc/channel-monitor/config.toml
# Relative paths (a sqlite:/// URL, Python's and SQLite's last-resort temporary directory) land on
# the data volume, the one place that must be writable.
WORKDIR /var/lib/channel-monitor
VOLUME ["/var/lib/channel-monitor"]
USER 10001:10001
EXPOSE 9184
# No curl in the image: the check is Python (monitor/healthcheck.py) against /healthz on the port
# that CHANNEL_MONITOR_LISTEN names (the image sets it, and it overrides the configuration file);
# a wildcard address is checked on loopback. It tries HTTP, then HTTPS without checking the
# certificate, so it works whether a web configuration file turns TLS on or not (/healthz never
# asks for a password). Any failure (refused, timeout, non-2xx) exits 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-m", "monitor.healthcheck"]
# Exec form: the daemon is PID 1 and gets SIGTERM itself; it stops within about 5 s (polls in
# flight get 5 s), well inside Docker's default 10 s stop timeout. It starts no child processes,
# so there are no zombies to reap and no init is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["channel-monitor"]
CMD ["run"]
