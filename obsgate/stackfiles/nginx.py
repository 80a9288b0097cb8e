"""Facts read from the nginx.conf the compose file mounts, parsed with crossplane.

Checks take the CORS allow-list and the push rate limit from here instead of
repeating them, so a change to nginx.conf changes what the gate expects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crossplane

from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import mounted_path

CONTAINER_PATH = "/etc/nginx/nginx.conf"
Directive = dict[str, Any]
_RATE = re.compile(r"^(\d+(?:\.\d+)?)r/([sm])$")


@dataclass(frozen=True)
class CorsAllowList:
    """``map $http_origin $cors_origin``: which Origin values get an Access-Control-Allow-Origin."""

    exact: tuple[str, ...]          # origins listed verbatim with a non-empty value
    patterns: tuple[str, ...]       # regex keys (~...) and, after ``hostnames``, wildcard masks
                                    # (*.x.example, .x.example, x.example.*), with a non-empty value
    default: str                    # the value for every unlisted origin ("" = no header)


@dataclass(frozen=True)
class RateLimit:
    zone: str
    rate_per_s: float
    burst: int
    nodelay: bool


@dataclass(frozen=True)
class NginxConf:
    path: Path
    parsed: tuple[Directive, ...]

    @classmethod
    def load(cls, path: Path) -> NginxConf:
        payload = crossplane.parse(str(path), single=True, comments=False)
        if payload["status"] != "ok":
            errors = "; ".join(f"line {e.get('line')}: {e.get('error')}" for e in payload["errors"])
            raise InputError(path, "nginx.conf", f"crossplane cannot parse it: {errors}", "fix the syntax")
        return cls(path, tuple(payload["config"][0]["parsed"]))

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> NginxConf:
        """The nginx.conf that ``spec`` (the compose nginx service) mounts."""
        return cls.load(mounted_path(spec, CONTAINER_PATH))

    def walk(self, block: tuple[Directive, ...] | list[Directive] | None = None) -> Iterator[Directive]:
        """Every directive, depth first."""
        for directive in self.parsed if block is None else block:
            yield directive
            yield from self.walk(directive.get("block") or [])

    def _http(self) -> list[Directive]:
        return next((d.get("block") or [] for d in self.parsed if d["directive"] == "http"), [])

    def cors_allow_list(self, variable: str = "$cors_origin") -> CorsAllowList:
        """The allow-list map feeding ``variable`` from ``$http_origin``."""
        block = next((d.get("block") or [] for d in self._http()
                      if d["directive"] == "map" and d["args"] == ["$http_origin", variable]), None)
        if block is None:
            raise InputError(self.path, f"map $http_origin {variable}", "no such map block",
                             "define the CORS allow-list as `map $http_origin $cors_origin { ... }`")
        exact: list[str] = []
        patterns: list[str] = []
        default = ""
        hostnames = False           # nginx applies `hostnames` to the entries after it only
        for entry in block:
            key, args = entry["directive"], entry["args"]
            if not args and key in ("hostnames", "volatile"):
                hostnames = hostnames or key == "hostnames"
                continue
            if key == "include":
                continue
            value = (args or [""])[0]
            if key == "default":
                default = value
                continue
            if not value:
                continue
            if key.startswith("~"):
                patterns.append(key)
                continue
            literal = key[1:] if key.startswith("\\") else key     # `\default` escapes a keyword
            kind = _hostname_key_kind(literal) if hostnames else "exact"
            if kind == "invalid":
                raise InputError(self.path, f"map $http_origin {variable}.{key}",
                                 "invalid hostname or wildcard: nginx refuses to start",
                                 "use *.example.com, .example.com or www.example.* (or a ~regex)")
            (patterns if kind == "mask" else exact).append(literal)
        return CorsAllowList(tuple(exact), tuple(patterns), default)

    def location(self, match: str) -> Directive | None:
        """The ``location`` block matching ``match`` (e.g. ``= /loki/api/v1/push``).

        Modifier and path are compared as nginx reads them, so ``location =/x`` and
        ``location = /x`` are the same location, and ``=/x`` may be asked for as ``= /x``.
        """
        wanted = _match_key(match)
        return next((d for d in self.walk() if d["directive"] == "location" and _location_args_key(d["args"]) == wanted),
                    None)

    def _enclosing(self, target: Directive) -> list[Directive]:
        """The blocks around ``target``, innermost first (e.g. location, server, http)."""
        def search(block: list[Directive], outer: list[Directive]) -> list[Directive] | None:
            for directive in block:
                if directive is target:
                    return outer
                found = search(directive.get("block") or [], [directive, *outer])
                if found is not None:
                    return found
            return None
        return search(list(self.parsed), []) or []

    def rate_limit(self, location_match: str) -> RateLimit | None:
        """The ``limit_req`` in effect in a location, with its zone's rate; None when it has none.

        As nginx merges it (ngx_http_limit_req_merge_conf): a level without ``limit_req`` of its
        own inherits the previous level's, location from enclosing location, server, then http.
        """
        location = self.location(location_match)
        if location is None:
            raise InputError(self.path, f"location {location_match}", "no such location",
                             "the check expects this location to exist")
        levels = [location, *(b for b in self._enclosing(location) if b["directive"] in ("location", "server", "http"))]
        limit = next((d for level in levels for d in level.get("block") or [] if d["directive"] == "limit_req"), None)
        if limit is None:
            return None
        opts = dict(a.split("=", 1) if "=" in a else (a, "") for a in limit["args"])
        zone = opts.get("zone", "")
        zone_def = next((d for d in self._http() if d["directive"] == "limit_req_zone"
                         and any(a.partition(":")[0] == f"zone={zone}" for a in d["args"])), None)
        if zone_def is None:
            raise InputError(self.path, f"limit_req zone={zone}", "no limit_req_zone defines this zone",
                             "define it in the http block")
        rate = next((a.split("=", 1)[1] for a in zone_def["args"] if a.startswith("rate=")), "")
        found = _RATE.match(rate)
        if found is None:
            raise InputError(self.path, f"limit_req_zone {zone}", f"unreadable rate {rate!r}", "use e.g. rate=50r/s")
        per_s = float(found.group(1)) / (60.0 if found.group(2) == "m" else 1.0)
        return RateLimit(zone, per_s, int(opts.get("burst", "0")), "nodelay" in opts)


_MODIFIERS = ("=", "^~", "~", "~*")


def _split_modifier(name: str) -> tuple[str, str]:
    """(modifier, path) of a one-argument location, as ngx_http_core_location reads ``=/x``, ``^~/x``, ``~*x``."""
    for modifier in ("=", "^~", "~*", "~"):
        if name.startswith(modifier):
            return modifier, name[len(modifier):]
    return "", name


def _location_args_key(args: list[str]) -> tuple[str, str]:
    if len(args) == 2 and args[0] in _MODIFIERS:
        return args[0], args[1]
    return _split_modifier(" ".join(args))


def _match_key(match: str) -> tuple[str, str]:
    head, sep, rest = match.strip().partition(" ")
    if sep and head in _MODIFIERS:
        return head, rest.lstrip()
    return _split_modifier(match.strip())


def _hostname_key_kind(key: str) -> str:
    """How ``map ... { hostnames; }`` hashes a key (ngx_hash_add_key with NGX_HASH_WILDCARD_KEY).

    "mask" for ``*.example.com``, ``.example.com`` and ``www.example.*`` (they admit whole families
    of values), "invalid" for keys nginx rejects ("invalid hostname or wildcard"), else "exact".
    """
    if key.count("*") > 1 or ".." in key:
        return "invalid"
    if (len(key) > 1 and key.startswith(".")) or (len(key) > 2 and (key.startswith("*.") or key.endswith(".*"))):
        return "mask"
    return "invalid" if "*" in key else "exact"
