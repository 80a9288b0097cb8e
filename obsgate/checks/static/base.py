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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from obsgate.bringup.compose import ServiceSpec
from obsgate.checks.stackfiles import flag_value, mounted_path
from obsgate.errors import InputError
from obsgate.yamlio import load_yaml

_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Finding:
    """One policy violation: where it is (file, dotted key, line) and how to fix it."""

    file: str
    key: str
    line: int | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.problem} (fix: {self.fix})"


class ConfigUnreadable(Exception):
    """A config file that cannot be checked at all; carries the finding that says why."""

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        super().__init__(str(finding))


def _line_map(node: yaml.Node, prefix: str, out: dict[str, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out[key] = key_node.start_mark.line + 1
            _line_map(value_node, key, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            key = f"{prefix}[{i}]"
            out[key] = item.start_mark.line + 1
            _line_map(item, key, out)


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document that knows the line of every key (dotted, ``a.b[0].c``)."""

    name: str
    data: Any
    lines: dict[str, int]

    @classmethod
    def parse(cls, text: str, name: str) -> YamlDoc:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigUnreadable(
                Finding(name, "(document)", line, f"invalid YAML: {problem}", "fix the YAML syntax at that line")
            ) from None
        lines: dict[str, int] = {}
        if node is not None:
            _line_map(node, "", lines)
        return cls(name, data, lines)

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> YamlDoc:
        """Read ``path``; invalid YAML or a duplicate key raises ConfigUnreadable."""
        shown = name or str(path)
        try:
            load_yaml(path, "config file")  # rejects duplicate keys, which safe_load keeps silently
        except InputError as exc:
            line = re.match(r"line (\d+)", exc.key)
            raise ConfigUnreadable(Finding(shown, "(document)", int(line[1]) if line else None, exc.problem, exc.fix)) from None
        return cls.parse(path.read_text(encoding="utf-8"), shown)

    def get(self, dotted: str, default: Any = None) -> Any:
        """The value at ``a.b.c`` (mappings only), or ``default`` when any part is absent."""
        value = self.data
        for part in dotted.split("."):
            if not isinstance(value, dict) or part not in value:
                return default
            value = value[part]
        return value

    def line(self, dotted: str) -> int | None:
        """The line of ``dotted`` or of its nearest present parent."""
        key = dotted
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key.rpartition(".")[0]
        return None

    def finding(self, dotted: str, problem: str, fix: str) -> Finding:
        return Finding(self.name, dotted, self.line(dotted), problem, fix)


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


def shown(path: Path) -> str:
    """A path as reports show it: relative to the working directory when inside it."""
    resolved = path.resolve()
    return str(resolved.relative_to(Path.cwd())) if resolved.is_relative_to(Path.cwd()) else str(resolved)


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
