"""chatcanary: canary prober and Prometheus exporter for chat endpoints."""

__version__ = "0.1.0"
