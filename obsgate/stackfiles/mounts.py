"""Where a service's files are: the host file behind a container path, as the compose file mounts it,
and the flags of its command (which name the files it reads).

The readers of each config file (``nginx``, ``loki``, ``prometheus``, ``alertmanager``,
``grafana``) find the files the containers really get through these.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ServiceSpec


def mounted_path(spec: ServiceSpec, container_path: str) -> Path:
    """The host path behind ``container_path`` in ``spec``'s bind mounts (the file, or inside a mounted dir)."""
    path = container_path.rstrip("/")
    mount = spec.mount_over(path, "bind")
    if mount is None:
        raise InputError(spec.name, "volumes", f"nothing is bind-mounted at {container_path}",
                         f"mount the file the service reads at {container_path}")
    rest = path[len(mount.target.rstrip("/")):].lstrip("/")
    return Path(mount.source) / rest if rest else Path(mount.source)


def flag_value(argv: Sequence[str], names: Iterable[str], default: str) -> str:
    """The value of a ``-flag=v`` / ``--flag v`` style option in ``argv``, else ``default``."""
    wanted = tuple(names)
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in wanted:
            if eq:
                return value
            if i + 1 < len(argv):
                return argv[i + 1]
    return default


def bool_flag(argv: Sequence[str], name: str) -> tuple[bool, int | None]:
    """Whether the boolean flag ``--name`` (Prometheus' kingpin style) is on in ``argv``, and the index of the
    argument that decides it (None: absent, off). ``--name`` and ``--name=true`` turn it on, ``--no-name`` and
    ``--name=false`` off; the last one given wins."""
    state: tuple[bool, int | None] = (False, None)
    for i, arg in enumerate(argv):
        flag_name, eq, value = arg.partition("=")
        if flag_name in (f"--{name}", f"-{name}"):
            state = ((value.lower() in ("true", "1")) if eq else True, i)
        elif flag_name in (f"--no-{name}", f"-no-{name}"):
            state = (False, i)
    return state


@dataclass(frozen=True)
class GivenFlag:
    """A flag the service's command really gives: its value and the argument it stands at (to cite it; None
    when a running program reported it)."""

    value: str
    index: int | None


def given_flag(spec: ServiceSpec, name: str) -> GivenFlag | None:
    """Flag ``name`` (``-name``/``--name``, ``=v`` or `` v``) as the command gives it; None when absent, so a
    reader can tell the program's default from a value someone chose. The last one wins, as in the Go flag parsers."""
    argv = spec.command or ()
    found = None
    for i, arg in enumerate(argv):
        key, eq, value = arg.partition("=")
        if key in (f"--{name}", f"-{name}"):
            if eq:
                found = GivenFlag(value, i)
            elif i + 1 < len(argv):
                found = GivenFlag(argv[i + 1], i)
    return found


def flag(spec: ServiceSpec, name: str, default: str) -> str:
    """The value of flag ``name`` (``-name``/``--name``, ``=v`` or `` v``) in the service's command."""
    return flag_value(spec.command or (), (f"--{name}", f"-{name}"), default)


def mounted_entries(spec: ServiceSpec, directory: str) -> dict[str, Path]:
    """What ``spec`` sees in container ``directory``: name -> host path, for the entries the host provides.

    The host directory behind a bind mount covering ``directory``, plus (over it) every file or
    directory bind-mounted on its own directly inside it. Raises InputError when neither exists.
    """
    directory = posixpath.normpath(directory)
    names: set[str] = set()
    try:
        host = mounted_path(spec, directory)
    except InputError:
        host = None
    if host is not None and host.is_dir():
        names.update(p.name for p in host.iterdir())
    singles = {posixpath.basename(target) for m in spec.mounts if m.kind == "bind"
               for target in [posixpath.normpath(m.target)] if posixpath.dirname(target) == directory}
    if host is None and not singles:
        mounted_path(spec, directory)       # raises: nothing is mounted at or in the directory
    entries = {name: mounted_path(spec, posixpath.join(directory, name)) for name in names | singles}
    return {name: path for name, path in entries.items() if path.exists()}


def mounted_glob(spec: ServiceSpec, pattern: str) -> list[Path]:
    """The host files a container glob (wildcards in its last element only) matches, as Go's filepath.Glob would."""
    directory, name = posixpath.split(posixpath.normpath(pattern))
    entries = mounted_entries(spec, directory)
    return [entries[n] for n in sorted(entries) if _glob_match(n, name)]


def _glob_match(name: str, pattern: str) -> bool:
    """Go's filepath.Match for one path element (``[^...]`` negates as ``[!...]`` does)."""
    return fnmatch.fnmatchcase(name, pattern.replace("[^", "[!"))
