"""No literal secrets in the config files the services mount from the repository."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from obsgate.core.findings import Finding
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import ComposeProject

YAML_SUFFIXES = (".yml", ".yaml")
SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_?key|routing_key|service_key|slack_api_url)$", re.I)
# Grafana provisioning expands $VAR, ${VAR}, $__env{VAR} and $__file{path}: references, not literals.
REFERENCE = re.compile(r"^\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[^}]+\}|__(?:env|file)\{[^}]+\})$")


def repo_config_files(project: ComposeProject) -> list[Path]:
    """YAML files the services bind-mount from inside the repository (secrets dirs excluded)."""
    root = project.path.parent
    files: set[Path] = set()
    for spec in project.services.values():
        for mount in spec.mounts:
            source = Path(mount.source)
            if mount.kind != "bind" or not source.is_relative_to(root):
                continue
            candidates = source.rglob("*") if source.is_dir() else [source]
            files.update(p for p in candidates if p.is_file() and p.suffix in YAML_SUFFIXES)
    return sorted(files)


def _walk(value: Any, key: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every scalar in a parsed document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{key}.{k}" if key else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{key}[{i}]")
    else:
        yield key, value


def config_secrets(doc: YamlDoc) -> list[Finding]:
    """Secret-named keys must hold a reference (``*_file`` key, ``$VAR``), never the secret itself."""
    out = []
    for dotted, value in _walk(doc.data, ""):
        name = dotted.rpartition(".")[2].split("[")[0]
        in_slack = ".slack_configs[" in f".{dotted}"
        secret = SECRET_KEY.search(name) or (in_slack and name == "api_url")
        if not secret or not isinstance(value, str) or not value.strip() or REFERENCE.match(value.strip()):
            continue
        out.append(
            doc.finding(
                dotted,
                f"{name} holds a literal secret ({len(value)} characters) in a committed file",
                f"use {name}_file (or the program's file/env reference) pointing at a secret mounted at deploy time",
            )
        )
    return out
