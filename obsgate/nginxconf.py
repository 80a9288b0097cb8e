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

from obsgate.compose import ServiceSpec
from obsgate.errors import InputError
from obsgate.stackfiles import mounted_path

CONTAINER_PATH = "/etc/nginx/nginx.conf"
Directive = dict[str, Any]
_RATE = re.compile(r"^(\d+(?:\.\d+)?)r/([sm])$")


@dataclass(frozen=True)
class CorsAllowList:
    """``map $http_origin $cors_origin``: which Origin values get an Access-Control-Allow-Origin."""

    exact: tuple[str, ...]          # origins listed verbatim with a non-empty value
    patterns: tuple[str, ...]       # regex keys (~...) with a non-empty value
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
        for entry in block:
            key, value = entry["directive"], (entry["args"] or [""])[0]
            if key == "default":
                default = value
            elif key in ("hostnames", "volatile", "include"):
                continue
            elif value:
                (patterns if key.startswith("~") else exact).append(key)
        return CorsAllowList(tuple(exact), tuple(patterns), default)

    def location(self, match: str) -> Directive | None:
        """The ``location`` block whose arguments join to ``match`` (e.g. ``= /loki/api/v1/push``)."""
        return next((d for d in self.walk() if d["directive"] == "location" and " ".join(d["args"]) == match), None)

    def rate_limit(self, location_match: str) -> RateLimit | None:
        """The ``limit_req`` of a location, with its zone's rate; None when it has none."""
        location = self.location(location_match)
        if location is None:
            raise InputError(self.path, f"location {location_match}", "no such location",
                             "the check expects this location to exist")
        limit = next((d for d in location.get("block") or [] if d["directive"] == "limit_req"), None)
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
