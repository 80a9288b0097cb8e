"""What every static check shares: the Finding, YAML with line numbers, and the compose mounts.

A check reads a service's config where the service itself reads it: the compose command
names the file inside the container (``-config.file=/etc/loki/loki.yml``) and a bind
mount maps that path to a file in the repository. A broken variant compose that mounts
other files is therefore checked the same way as the production one.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable, Finding, shown
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import flag_value, mounted_path

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def image_version(ref: str) -> tuple[int, int, int] | None:
    """``grafana/loki:2.9.3`` -> (2, 9, 3); None when the tag is not a version."""
    tag = ref.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
    match = _VERSION.match(tag)
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def image_repository(ref: str) -> str:
    """The image's name without registry, namespace and tag: ``prom/prometheus:v2`` -> prometheus."""
    return ref.split("@", 1)[0].rpartition("/")[2].partition(":")[0]


def argv_of(value: Any) -> list[str]:
    """A compose command as an argv list (string form split like a shell)."""
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def persistent_dirs(spec: ServiceSpec) -> list[PurePosixPath]:
    """Container directories that outlive the container: named volumes and writable binds."""
    return [PurePosixPath(m.target) for m in spec.mounts if m.kind == "volume" or not m.read_only]


def on_persistent(path: str, persistent: Sequence[PurePosixPath]) -> bool:
    target = PurePosixPath(path)
    return any(target == p or target.is_relative_to(p) for p in persistent)


def service_config(spec: ServiceSpec, compose: Path, flags: Iterable[str], default: str) -> tuple[str, Path]:
    """(container path, host path) of the config file ``spec``'s command points at.

    Raises ConfigUnreadable when the file is not bind-mounted from the host: the image's
    built-in file would be used, which is not the reviewed one.
    """
    container = flag_value(argv_of(spec.command), flags, default)
    try:
        host = mounted_path(spec, container)
    except InputError:
        host = None
    if host is None or not host.is_file():
        raise ConfigUnreadable(
            Finding(
                shown(compose),
                f"services.{spec.name}.volumes",
                None,
                f"{container} (the config {spec.name} reads) is not mounted from a file in the repository",
                f"bind-mount the reviewed config file at {container}",
            )
        )
    return container, host
