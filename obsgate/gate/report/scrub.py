"""Secret scrubbing: data is scrubbed before rendering, files once more after writing.

Scrubbing the data first matters because rendering may escape or truncate a secret into
a form a byte search no longer finds; the final pass over files catches what others
wrote into the run directory (junit.xml, logs).
"""

from __future__ import annotations

import dataclasses
import html
import json
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter strings would mangle ordinary text

T = TypeVar("T")


def secret_forms(secrets: Sequence[str]) -> list[str]:
    """Every form a secret may take in a file (raw, JSON, HTML/XML, URL), longest first."""
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        forms |= {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            html.escape(secret, quote=True),
            html.escape(secret, quote=False),
            xml_escape(secret, {'"': "&quot;"}),  # XML attributes (junit.xml)
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
        }
    return sorted(forms, key=lambda f: (-len(f), f))


def scrub_text(text: str, forms: Sequence[str]) -> str:
    for form in forms:
        text = text.replace(form, MASK)
    return text


def scrub_value(value: T, forms: Sequence[str]) -> T:
    """A copy of `value` with every string (dict keys and dataclass fields too) scrubbed."""
    if not forms:
        return value
    return cast(T, _scrub(value, forms))


def _scrub(value: Any, forms: Sequence[str]) -> Any:
    if isinstance(value, Enum):  # str-valued enums are labels, not data
        return value
    if isinstance(value, str):
        return scrub_text(value, forms)
    if isinstance(value, dict):
        return {_scrub(k, forms): _scrub(v, forms) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v, forms) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _scrub(getattr(value, f.name), forms)
                   for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value


def scrub_tree(directory: Path, forms: Sequence[str]) -> None:
    """Mask secrets in every regular file under `directory`, whoever wrote it."""
    patterns = [form.encode("utf-8") for form in forms]
    if not patterns:
        return
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        cleaned = data
        for pattern in patterns:
            cleaned = cleaned.replace(pattern, MASK.encode())
        if cleaned != data:
            path.write_bytes(cleaned)
