"""The exporter's HTTP side: /metrics, /probe, health, the operator page and its API."""

from exporter.web.api import SERVICE
from exporter.web.app import make_app

__all__ = ["SERVICE", "make_app"]
