#!/usr/bin/env bash
# Installs the Debian packages the integration tests run for real (Prometheus, promtool,
# Alertmanager, headless Chromium for the operator page, openssl for a TLS certificate,
# docker-compose to check the compose stack),
# PostgreSQL 15 for the store's tests (each starts a throwaway cluster),
# and blackbox_exporter, which `make bench` measures chatcanary against.
# As root it uses apt-get; otherwise it names what to install and fails.
set -euo pipefail
need=()
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# docker-compose parses deploy/compose (`config`) without a Docker engine.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
[ ${#need[@]} -eq 0 ] && exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
    echo "chatcanary: the tests need these Debian packages: ${need[*]}" >&2
    echo "  install them with: sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
fi
echo "installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
