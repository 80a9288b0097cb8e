"""Alertmanager's route tree, resolved as Alertmanager resolves it, without starting it.

The budget arithmetic needs the ``group_wait`` an alert really gets: the one of the route
it lands on, inherited from the parents where the route does not set its own. Matching
follows Alertmanager (dispatch/route.go): children in order, the first match wins unless
it says ``continue``; no matching child means the parent itself. Matchers are the
``matchers`` strings (``=``, ``!=``, ``=~``, ``!~``, regexes anchored) and the legacy
``match`` / ``match_re`` maps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from obsgate.stackfiles.prometheus import prom_duration_s

# The alerts that page: the stack's route tree sends these to the on-call channel.
CRITICAL = {"severity": "critical"}
# Alertmanager's defaults (config/config.go DefaultRouteOpts).
DEFAULT_GROUP_WAIT_S = 30.0
_MATCHER = re.compile(r'^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$')


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def matches(self, labels: Mapping[str, str]) -> bool:
        have = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (have == self.value) == (self.op == "=")
        return bool(re.fullmatch(self.value, have)) == (self.op == "=~")


def parse_matcher(text: str) -> Matcher:
    """One ``matchers`` entry, e.g. ``severity="critical"`` (quotes optional, as Alertmanager allows)."""
    found = _MATCHER.match(text.strip().strip("{}"))
    if found is None:
        raise ValueError(f"not an Alertmanager matcher: {text!r}")
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return Matcher(name, op, value)


def _matchers(route: Mapping[str, Any]) -> list[Matcher]:
    found = [parse_matcher(str(m)) for m in route.get("matchers") or []]
    found += [Matcher(str(k), "=", str(v)) for k, v in (route.get("match") or {}).items()]
    found += [Matcher(str(k), "=~", str(v)) for k, v in (route.get("match_re") or {}).items()]
    return found


@dataclass(frozen=True)
class Route:
    """A route an alert lands on, with the options it inherits."""

    key: str                # dotted key in alertmanager.yml: route.routes[0]
    receiver: str
    group_wait_s: float
    group_wait_key: str     # where that group_wait is set (the route itself or a parent)

    @property
    def name(self) -> str:
        return f"{self.key} (receiver {self.receiver})"


def _resolve(node: Mapping[str, Any], key: str, parent: Route, labels: Mapping[str, str]) -> list[Route]:
    here = Route(key, str(node.get("receiver", parent.receiver)),
                 prom_duration_s(str(node["group_wait"])) if "group_wait" in node else parent.group_wait_s,
                 f"{key}.group_wait" if "group_wait" in node else parent.group_wait_key)
    found: list[Route] = []
    for i, child in enumerate(node.get("routes") or []):
        if all(m.matches(labels) for m in _matchers(child)):
            found += _resolve(child, f"{key}.routes[{i}]", here, labels)
            if not child.get("continue", False):
                break
    return found or [here]


def routes_for(config: Mapping[str, Any], labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert with ``labels`` lands on (more than one only through ``continue``)."""
    root = config.get("route") or {}
    default = Route("route", str(root.get("receiver", "")), DEFAULT_GROUP_WAIT_S, "route.group_wait")
    return _resolve(root, "route", default, labels)
