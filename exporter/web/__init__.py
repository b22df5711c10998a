"""The exporter's HTTP side: /metrics, /probe, health, the operator page and its API."""

from exporter.web.app import make_app
from exporter.web.base import SERVICE

__all__ = ["SERVICE", "make_app"]
