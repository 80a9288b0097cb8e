"""Loads the obs-gate plugin: options, gate-check rules, fixtures, scoring, reports."""

pytest_plugins = ("obsgate.gate.plugin",)
