"""YAML loading that fails loudly: invalid YAML and duplicate keys name file and line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable, Finding


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML keeps the last one silently)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":   # "<<: *anchor": construct_mapping merges it
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_yaml(path: Path, what: str) -> Any:
    """Parse ``path``; ``what`` names the document in errors (e.g. "compose file")."""
    if not path.is_file():
        raise InputError(path, "(file)", f"{what} not found", f"create {path} or pass the right path")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(unknown line)"
        raise InputError(
            path, where, f"invalid YAML: {exc.problem or exc}", "fix the YAML syntax there"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(path, "(file)", f"invalid YAML: {exc}", "fix the YAML syntax") from None


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
