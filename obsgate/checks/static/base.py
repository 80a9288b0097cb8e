"""What the static checks share beyond the readers of obsgate.stackfiles: commands and persistent directories."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from obsgate.stackfiles.compose import ServiceSpec


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
