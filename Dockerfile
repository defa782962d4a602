# syntax=docker/dockerfile:1
# channel-monitor: wheels are built in the first stage, the runtime stage only installs them.

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY connectors ./connectors
RUN python -m venv /opt/channel-monitor \
 && /opt/channel-monitor/bin/pip install --upgrade pip wheel \
 && /opt/channel-monitor/bin/pip wheel --wheel-dir /wheels '.[postgres]'

FROM python:3.11-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="channel-monitor" \
      org.opencontainers.image.description="Tells a public organisation which of its social media channels have gone quiet, as Prometheus metrics and alerts." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.source="https://github.com/channel-monitor/channel-monitor"
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 \
    PATH=/opt/channel-monitor/bin:$PATH \
    CHANNEL_MONITOR_CONFIG=/etc/channel-monitor/config.toml \
    CHANNEL_MONITOR_DATABASE=sqlite:////var/lib/channel-monitor/channel-monitor.db \
    CHANNEL_MONITOR_LISTEN=0.0.0.0:9184
COPY --from=build /wheels /wheels
RUN python -m venv /opt/channel-monitor \
 && /opt/channel-monitor/bin/pip install --no-index --find-links /wheels channel-monitor psycopg \
 && rm -rf /wheels \
 && groupadd --system --gid 10001 monitor \
 && useradd --system --uid 10001 --gid monitor --home-dir /var/lib/channel-monitor --shell /usr/sbin/nologin monitor \
 && mkdir -p /etc/channel-monitor /var/lib/channel-monitor \
 && chown monitor:monitor /var/lib/channel-monitor
COPY config.toml /etc/channel-monitor/config.toml
USER 10001:10001
VOLUME ["/var/lib/channel-monitor"]
EXPOSE 9184
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os,sys,urllib.request; h,_,p=os.environ.get('CHANNEL_MONITOR_LISTEN','0.0.0.0:9184').rpartition(':'); h='127.0.0.1' if h in ('','0.0.0.0','[::]') else h.strip('[]'); sys.exit(0 if urllib.request.urlopen(f'http://{h}:{p}/healthz', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["channel-monitor"]
CMD ["run"]
