"""obs-gate: a pytest release gate for a self-hosted observability stack."""

__version__ = "0.1.0"
