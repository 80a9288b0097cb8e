"""The one YAML loader: strict, parsed once, the line of every key kept.

``yaml.safe_load`` keeps the last of two equal keys without a word and forgets where each
value stood. Here the text is composed into nodes once; one walk over them records the line
of every dotted key (``a.b[0].c``) and rejects a key given twice in one mapping; the data is
then constructed from the same nodes. Every problem is one InputError naming the file, the
key and, structured, the line and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from yaml.constructor import SafeConstructor

from obsgate.core.errors import InputError
from obsgate.core.findings import Finding, shown

_MERGE = "tag:yaml.org,2002:merge"
# libyaml's composer where it is installed: a JSON document only wants its lines from it, and fast
# (its error messages say less than PyYAML's, so YAML documents keep the pure-Python one).
_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _invalid(name: str, exc: yaml.YAMLError) -> InputError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
    return InputError(name, "(document)", f"invalid YAML: {problem}", "fix the YAML syntax at that line", *where)


def _walk(node: yaml.Node, prefix: str, lines: dict[str, int], name: str, keys: SafeConstructor | None) -> None:
    """Record the line of every key below ``node``; with ``keys`` (the constructor), reject a repeated key."""
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:      # "<<: *anchor": the anchor's keys are walked where it stands
                continue
            dotted = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            mark = key_node.start_mark
            if keys is not None and isinstance(key_node, yaml.ScalarNode):
                key = keys.construct_object(key_node)    # equal as PyYAML sees it: 1 and 0x1, yes and true
                if key in seen:
                    raise InputError(name, dotted, f"duplicate key {key!r}", "keep one entry under that name",
                                     mark.line + 1, mark.column + 1)
                seen.add(key)
            lines[dotted] = mark.line + 1
            _walk(value_node, dotted, lines, name, keys)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            dotted = f"{prefix}[{i}]"
            lines[dotted] = item.start_mark.line + 1
            _walk(item, dotted, lines, name, keys)


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document that knows the line of every key (dotted, ``a.b[0].c``)."""

    name: str
    data: Any
    lines: dict[str, int]

    @classmethod
    def parse(cls, text: str, name: str) -> YamlDoc:
        """Parse ``text`` once; invalid YAML or a duplicate key is an InputError naming ``name`` and the line."""
        constructor = SafeConstructor()
        lines: dict[str, int] = {}
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            if node is None:
                return cls(name, None, lines)
            _walk(node, "", lines, name, constructor)
            data = constructor.construct_document(node)   # after the walk: merging rewrites the nodes
        except yaml.YAMLError as exc:
            raise _invalid(name, exc) from None
        return cls(name, data, lines)

    @classmethod
    def load(cls, path: Path, name: str | None = None, what: str = "config file") -> YamlDoc:
        """Read and parse ``path``; errors name it as ``name`` (default: as reports show it) and ``what`` it is."""
        shown_as = name or shown(path)
        if not path.is_file():
            raise InputError(shown_as, "(file)", f"{what} not found", f"create {path} or pass the right path")
        return cls.parse(path.read_text(encoding="utf-8"), shown_as)

    @classmethod
    def parse_json(cls, text: str, name: str) -> YamlDoc:
        """A JSON document: data as JSON reads it, lines from the YAML composer where it can read the text
        (JSON is YAML; lines are a convenience, the data is what counts)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(name, "(document)", f"invalid JSON: {exc.msg}", "fix the JSON at that line",
                             exc.lineno, exc.colno) from None
        lines: dict[str, int] = {}
        try:
            node = yaml.compose(text, Loader=_FAST)
        except yaml.YAMLError:
            node = None
        if node is not None:
            _walk(node, "", lines, name, None)
        return cls(name, data, lines)

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


@dataclass(frozen=True)
class YamlFile:
    """A YAML file on the host and its document, parsed once: what the reader of one such file holds."""

    path: Path
    doc: YamlDoc

    what: ClassVar[str] = "config file"     # how errors name the kind of file

    @classmethod
    def load(cls, path: Path) -> Self:
        return cls(path, YamlDoc.load(path, shown(path), cls.what))
