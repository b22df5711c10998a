# syntax=docker/dockerfile:1
# Build the wheel in one stage; install it into a slim runtime with no build tools.
FROM python:3.11.7-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install --no-cache-dir build==1.2.2 && python -m build --wheel --outdir /dist

FROM python:3.11.7-slim-bookworm
LABEL org.opencontainers.image.title="chatcanary" \
      org.opencontainers.image.description="Canary prober and Prometheus exporter for chat endpoints" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl \
    && useradd --system --uid 10001 --no-create-home chatcanary
USER 10001
EXPOSE 9477
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9477/-/healthy', timeout=2)"]
ENTRYPOINT ["chatcanary"]
CMD ["run", "-c", "/etc/chatcanary/config.yaml", "--listen", "0.0.0.0:9477"]
