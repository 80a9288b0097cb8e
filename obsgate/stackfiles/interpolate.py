"""Compose-style variable interpolation, stricter than compose where it matters.

Supported: ``$$`` (a literal ``$``), ``$VAR``, ``${VAR}``, ``${VAR:-default}``,
``${VAR-default}``, ``${VAR:?message}``, ``${VAR?message}``, ``${VAR:+alt}``, ``${VAR+alt}``.
Unlike compose, a bare ``${VAR}`` that is unset is an error rather than an empty
string: a blank password or path is how a release goes wrong quietly. A default may
hold ``$VAR`` but not a nested ``${...}``, which is rejected rather than misread.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bad>\{[^}]*\}?))"
)


class InterpolationError(ValueError):
    """A variable reference that cannot be resolved; the message says which and why."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Substitute variables in ``text`` from ``env``; raise InterpolationError when one can't be."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["bad"] is not None:
            raise InterpolationError(f"malformed variable reference '${match['bad']}'")
        name = match["bare"] or match["name"]
        op, arg = match["op"], match["arg"] or ""
        if "${" in arg:
            raise InterpolationError(f"nested variable reference in ${{{name}{op}{arg}}} is not supported")
        if "$" in arg:
            arg = interpolate(arg, env)
        value = env.get(name)
        unset_or_empty = value is None or (value == "" and op is not None and op.startswith(":"))
        if op in ("-", ":-"):
            return arg if (value is None if op == "-" else unset_or_empty) else str(value)
        if op in ("?", ":?"):
            if value is None if op == "?" else unset_or_empty:
                raise InterpolationError(f"required variable {name} is not set: {arg or 'no message'}")
            return str(value)
        if op in ("+", ":+"):
            return "" if (value is None if op == "+" else unset_or_empty) else arg
        if value is None:
            raise InterpolationError(
                f"variable {name} is not set (use ${{{name}:-default}} for an optional value)"
            )
        return value

    return _TOKEN.sub(substitute, text)
