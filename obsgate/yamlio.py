"""YAML loading that fails loudly: invalid YAML and duplicate keys name file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from obsgate.errors import InputError


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
