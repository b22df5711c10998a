# syntax=docker/dockerfile:1
# chatcanary's image. The first stage builds the wheel and installs it, with its
# dependencies, into a virtualenv; the runtime stage copies that virtualenv into the same
# slim Python, without build tools, and runs it as a non-root user.
#
#   docker build --build-arg VERSION="$(python3 -c 'import exporter; print(exporter.__version__)')" -t chatcanary .
#   docker run -v "$PWD/config.yaml:/etc/chatcanary/config.yaml:ro" -v chatcanary-data:/var/lib/chatcanary -p 9477:9477 chatcanary
#
# tests/integration/test_package.py repeats these steps outside Docker (build the wheel
# from this build context, install it into a clean virtualenv, run ENTRYPOINT + CMD and
# the HEALTHCHECK against the simulator).
#
# The image installs no extras: it runs the exporter. `chatcanary dashboards` (which
# regenerates the committed grafana/dashboards/ JSON) needs `chatcanary[dashboards]`.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir build==1.2.2
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY exporter ./exporter
RUN python -m build --wheel --outdir /dist \
    && python -m venv /opt/chatcanary \
    && /opt/chatcanary/bin/pip install --no-cache-dir /dist/chatcanary-*.whl

FROM ${PYTHON_IMAGE}
ARG VERSION=unknown
LABEL org.opencontainers.image.title="chatcanary" \
      org.opencontainers.image.description="Canary prober and Prometheus exporter for chat (LLM) endpoints" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/chatcanary/chatcanary" \
      org.opencontainers.image.documentation="https://github.com/chatcanary/chatcanary#deploy"
# The store's SQLite file (chatcanary.db) lives in the data directory, owned by the
# runtime user; mount a volume there to keep runs and feedback across restarts.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin chatcanary \
    && install -d -m 0750 -o 10001 -g 10001 /var/lib/chatcanary
COPY --from=build /opt/chatcanary /opt/chatcanary
# CHATCANARY_DATA_DIR: the store's SQLite file; mount a volume there to keep it.
# MALLOC_ARENA_MAX: two glibc arenas, as `run` otherwise sets through ctypes (0.3 MB).
ENV PATH=/opt/chatcanary/bin:$PATH \
    CHATCANARY_DATA_DIR=/var/lib/chatcanary \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
VOLUME /var/lib/chatcanary
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 9477
# The plain-HTTP listener of CMD; with --web.config.file (TLS) or another --listen, override it.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9477/-/healthy', timeout=2)"]
ENTRYPOINT ["chatcanary"]
# Mount the config at /etc/chatcanary/config.yaml (a file, or a ConfigMap in Kubernetes).
CMD ["run", "-c", "/etc/chatcanary/config.yaml", "--listen", "0.0.0.0:9477", "--log-format", "json"]
