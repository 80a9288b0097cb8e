"""nginx.conf as nginx reads it, parsed once with crossplane: the one reader of the file.

The static judgements (obsgate.checks.static.nginx) and the live edge checks read it here:
the servers and what they listen on, the location nginx picks for a URI, the directives a
block inherits, the CORS allow-list and the push rate limit, so a change to nginx.conf
changes what the gate expects. Includes are not followed (``nginx -t`` judges those).

A location is chosen as nginx documents it (ngx_http_core_find_location): an exact ``=``
match wins; else the longest prefix, whose nested locations are searched next; then,
unless that prefix is ``^~``, the regex locations (``~``, ``~*``) in config order, the first
match winning with its own nested locations. A modifier may stand apart (``= /x``) or be
attached (``=/x``, ``^~/x``, ``~*\\.php$``): nginx reads both the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import crossplane

from obsgate.core.errors import InputError
from obsgate.core.findings import Finding, shown
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import flag_value, mounted_path

CONFIG_FLAGS = ("-c",)
DEFAULT_CONFIG = "/etc/nginx/nginx.conf"
LOOPBACK = ("127.0.0.1", "[::1]", "localhost")
# In the order ngx_http_core_location tries them on an attached modifier.
MODIFIERS = ("=", "^~", "~*", "~")
Directive = dict[str, Any]
Chain = list[Directive]
_RATE = re.compile(r"^(\d+(?:\.\d+)?)r/([sm])$")
_CAPTURE = re.compile(r"\$(?:(\d)|\{(\d)\})")
# ngx_parse_time: units largest first, each at most once, optionally spaced; a bare number is seconds.
_TIME_UNITS = {"y": 31536000.0, "M": 2592000.0, "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
               "ms": 0.001}
_TIME_PART = re.compile(r"\s*(\d+)(ms|[yMwdhms])?")
# nginx's own value of the proxy timeouts when no block sets them (ngx_http_proxy_module).
PROXY_TIMEOUT_DEFAULT = "60s"


@dataclass(frozen=True)
class CorsAllowList:
    """``map $http_origin $cors_origin``: which Origin values get an Access-Control-Allow-Origin."""

    exact: tuple[str, ...]          # origins listed verbatim with a non-empty value
    patterns: tuple[str, ...]       # regex keys (~...) and, after ``hostnames``, wildcard masks
                                    # (*.x.example, .x.example, x.example.*), with a non-empty value
    default: str                    # the value for every unlisted origin ("" = no header)


@dataclass(frozen=True)
class Upstream:
    """What nginx does with a request URI: proxies it to ``host`` as ``uri``, or answers ``returns`` itself."""

    location: str       # the location that serves it, as written (e.g. "/prometheus/", "~ ^/loki/...")
    host: str = ""      # the proxied host ("" when nginx answers itself)
    uri: str = ""       # the URI the upstream is asked for
    returns: str = ""   # the code of the location's own ``return`` ("" when proxied)


@dataclass(frozen=True)
class GatewayRoute:
    """A URI clients send to the gateway and what nginx does with it."""

    uri: str
    upstream: Upstream


@dataclass(frozen=True)
class RateLimit:
    zone: str
    rate_per_s: float
    burst: int
    nodelay: bool


def time_s(text: str) -> float:
    """An nginx time (``30s``, ``1h 30m``, ``500ms``, a bare ``75`` = seconds) in seconds, as ngx_parse_time reads it.

    Units ``y M w d h m s ms``, largest first and each once; only the last part may omit its unit.
    """
    total, pos, order = 0.0, 0, list(_TIME_UNITS)
    last = -1
    while pos < len(text.rstrip()):
        found = _TIME_PART.match(text, pos)
        if found is None:
            raise ValueError(f"not an nginx time: {text!r}")
        unit = found[2] or "s"
        rank = order.index(unit)
        if rank <= last or (found[2] is None and found.end() < len(text.rstrip())):
            raise ValueError(f"not an nginx time: {text!r}")
        total += int(found[1]) * _TIME_UNITS[unit]
        last, pos = rank, found.end()
    if last < 0:
        raise ValueError(f"not an nginx time: {text!r}")
    return total


def describe(block: Directive) -> str:
    """A block as findings name it: ``http``, ``server(443 ssl http2 default_server)``, ``location = /x``."""
    if block["directive"] == "server":
        return "server(" + ", ".join(" ".join(d["args"]) for d in listens(block)) + ")"
    return " ".join([block["directive"], *block["args"]])


def setting_of(chain: Sequence[Directive], name: str) -> tuple[Directive, Directive] | None:
    """(block, directive) of the innermost block in ``chain`` that sets ``name``; None when none does."""
    for block in reversed(chain):
        found = children(block, name)
        if found:
            return block, found[-1]
    return None


def children(block: Directive, name: str) -> list[Directive]:
    """The directives ``name`` directly inside ``block``."""
    return [d for d in block.get("block") or [] if d["directive"] == name]


def chains(block: Directive, chain: Chain) -> Iterator[Chain]:
    """Every directive below ``block``, depth first, with the blocks around it: ``[*chain, ..., directive]``."""
    for child in block.get("block") or []:
        yield [*chain, child]
        yield from chains(child, [*chain, child])


def effective(chain: Sequence[Directive], name: str) -> list[Directive]:
    """``name`` as nginx applies it at the end of ``chain``: the innermost block that sets it.

    An array directive such as ``add_header`` or ``limit_req``, or a scalar such as ``auth_basic``,
    comes from the innermost block that sets it at all: a location with one ``add_header`` of its
    own drops every header of its server.
    """
    for block in reversed(chain):
        found = children(block, name)
        if found:
            return found
    return []


def location_match(location: Directive) -> tuple[str, str]:
    """(modifier, path or regex) of a ``location``, as nginx reads ``= /x`` and ``=/x`` alike ("" = prefix)."""
    args = location["args"]
    if len(args) == 2 and args[0] in MODIFIERS:
        return args[0], args[1]
    return _split_modifier(" ".join(args))


def _split_modifier(name: str) -> tuple[str, str]:
    for modifier in MODIFIERS:
        if name.startswith(modifier):
            return modifier, name[len(modifier):]
    return "", name


def _regex_match(modifier: str, pattern: str, uri: str) -> bool:
    try:
        return re.search(pattern, uri, re.I if modifier == "~*" else 0) is not None
    except re.error:
        return False


def _find(block: Directive, uri: str) -> tuple[Chain, bool]:
    """(location chain under ``block``, whether nginx stops there: an exact or a regex match)."""
    locations = [(d, *location_match(d)) for d in children(block, "location")]
    exact = next((d for d, modifier, path in locations if modifier == "=" and path == uri), None)
    if exact is not None:
        return [exact], True
    prefixes = [(d, modifier, path) for d, modifier, path in locations
                if modifier in ("", "^~") and not path.startswith("@") and uri.startswith(path)]
    longest = max(prefixes, key=lambda e: len(e[2]), default=None)
    chain: Chain = []
    if longest is not None:
        nested, final = _find(longest[0], uri)
        chain = [longest[0], *nested]
        if final or longest[1] == "^~":
            return chain, final
    for d, modifier, pattern in locations:
        if modifier in ("~", "~*") and _regex_match(modifier, pattern, uri):
            return [d, *_find(d, uri)[0]], True
    return chain, False


def select_location(block: Directive, uri: str) -> Chain:
    """The location chain nginx picks for ``uri`` under ``block`` (a server or a location), outermost first."""
    return _find(block, uri)[0]


def set_value(chain: Sequence[Directive], variable: str) -> str | None:
    """The value ``set $variable ...`` gives in the innermost block of ``chain`` that sets it."""
    for block in reversed(chain):
        found = [d for d in children(block, "set") if d["args"][:1] == [variable]]
        if found:
            return str(found[-1]["args"][1])
    return None


def _expand(replacement: str, found: re.Match[str]) -> str:
    """A ``rewrite`` replacement with its ``$1`` / ``${1}`` captures filled in (an unmatched group is empty)."""
    groups = (found.group(0), *found.groups())
    return _CAPTURE.sub(lambda c: groups[int(c.group(1) or c.group(2))] or "", replacement)


def _rewritten(location: Directive, uri: str) -> tuple[str, bool]:
    """(URI after the location's ``rewrite`` directives, whether one applied), as the rewrite phase runs them."""
    changed = False
    for rewrite in children(location, "rewrite"):
        regex, replacement, *flag = rewrite["args"]
        found = re.search(regex, uri)
        if found is None:
            continue
        uri = _expand(replacement, found).partition("?")[0]
        changed = True
        if flag and flag[0] in ("break", "last"):
            break
    return uri, changed


def upstream_of(http: Directive, server: Directive, uri: str) -> Upstream | None:
    """Where ``server`` sends ``uri`` (the location's own ``return``, else its ``proxy_pass``); None when neither.

    As nginx does it: ``rewrite`` in the location first (``$1`` captures); a ``proxy_pass`` given through a
    ``set`` variable forwards the URI unchanged (or its own URI part as is); a literal one with a URI part
    replaces the part of the request the (prefix) location matched. ``if`` blocks are not followed: what
    depends on the method or a header is for the live checks to see.
    """
    chain = select_location(server, uri)
    if not chain:
        return None
    location = chain[-1]
    where = " ".join(location["args"])
    returns = children(location, "return")
    if returns:
        return Upstream(where, returns=returns[0]["args"][0])
    proxies = children(location, "proxy_pass")
    if not proxies:
        return None
    target = proxies[0]["args"][0]
    by_variable = target.startswith("$")
    if by_variable:
        variable = re.match(r"\$\w+", target)
        value = set_value([http, server, *chain], variable.group(0)) if variable else None
        if value is None:
            return None
        target = value + target[len(variable.group(0)) if variable else 0:]
    parts = urlsplit(target if "://" in target else f"http://{target}")
    path, rewritten = _rewritten(location, uri)
    modifier, match = location_match(location)
    if parts.path and by_variable:
        path = parts.path
    elif parts.path and not rewritten and modifier in ("", "^~"):
        path = parts.path + uri[len(match):]
    return Upstream(where, parts.hostname or "", path)


def listens(server: Directive) -> list[Directive]:
    """A server's ``listen`` directives; a server without one listens on *:80 (said at the server)."""
    return children(server, "listen") or [{"directive": "listen", "args": ["80"], "line": server["line"]}]


def _listen(server: Directive) -> list[tuple[str, bool]]:
    """(host, ssl) per listen."""
    out = []
    for d in listens(server):
        address = d["args"][0]
        host = address.rpartition(":")[0] if ":" in address and not address.startswith("unix:") else "*"
        out.append((host or "*", "ssl" in d["args"][1:]))
    return out


def is_public(server: Directive) -> bool:
    """Listens on some address other than loopback."""
    return any(host not in LOOPBACK for host, _ in _listen(server))


def is_https(server: Directive) -> bool:
    return any(ssl for _, ssl in _listen(server)) or any(d["args"] == ["on"] for d in children(server, "ssl"))


@dataclass(frozen=True)
class NginxConf:
    """One nginx.conf: ``name`` is the file as findings and errors show it."""

    path: Path
    name: str
    parsed: tuple[Directive, ...]
    http: Directive

    @classmethod
    def load(cls, path: Path, name: str | None = None) -> NginxConf:
        """Parse ``path`` once; a syntax error or a missing http block is an InputError with its line."""
        shown_as = name or shown(path)
        payload = crossplane.parse(str(path), single=True, comments=False, check_ctx=True, check_args=False)
        if payload["errors"]:
            error = payload["errors"][0]
            raise InputError(shown_as, "(document)", f"cannot parse: {error['error']}",
                             "fix the syntax (nginx -t shows the same)", error.get("line"))
        parsed = tuple(payload["config"][0]["parsed"])
        http = next((d for d in parsed if d["directive"] == "http"), None)
        if http is None:
            raise InputError(shown_as, "http", "no http block", "add the http { ... } block")
        return cls(path, shown_as, parsed, http)

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> NginxConf:
        """The nginx.conf that ``spec`` (the compose nginx service) reads: ``-c``, else the image's path."""
        return cls.load(mounted_path(spec, flag_value(spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)))

    def walk(self, block: Sequence[Directive] | None = None) -> Iterator[Directive]:
        """Every directive, depth first."""
        for directive in self.parsed if block is None else block:
            yield directive
            yield from self.walk(directive.get("block") or [])

    def chain_to(self, target: Directive) -> Chain:
        """The blocks from the top of the file down to ``target``, which is last."""
        for top in self.parsed:
            for chain in [[top], *chains(top, [top])]:
                if chain[-1] is target:
                    return chain
        raise ValueError(f"not a directive of {self.name}")

    @property
    def servers(self) -> list[Directive]:
        return children(self.http, "server")

    def public_https(self) -> list[Directive]:
        return [s for s in self.servers if is_public(s) and is_https(s)]

    def route(self, server: Directive, uri: str) -> Chain:
        """http, ``server`` and the location chain nginx serves ``uri`` with (only the two when none)."""
        return [self.http, server, *select_location(server, uri)]

    def upstream(self, server: Directive, uri: str) -> Upstream | None:
        """What ``server`` does with ``uri``: proxies it (host, URI), answers it itself, or neither (None)."""
        return upstream_of(self.http, server, uri)

    def proxy_prefixes(self, server: Directive, host: str) -> list[str]:
        """The URI prefixes of ``server``'s locations that proxy to ``host``, led by "" (exact and regex locations
        pass the URI as the client sent it); none when no location proxies to ``host``."""
        prefixes: list[str] = []
        for chain in chains(server, [self.http, server]):
            if chain[-1]["directive"] != "proxy_pass" or chain[-2]["directive"] != "location":
                continue
            target = chain[-1]["args"][0]
            if target.startswith("$"):
                target = set_value(chain[:-1], target.split("/")[0]) or ""
            if urlsplit(target if "://" in target else f"http://{target}").hostname != host:
                continue
            modifier, match = location_match(chain[-2])
            prefix = match.rstrip("/") if modifier in ("", "^~") else ""
            prefixes += [p for p in dict.fromkeys(["", prefix]) if p not in prefixes]
        return prefixes

    def gateway_routes(self, host: str, path: str) -> list[GatewayRoute]:
        """The URIs clients may send to a public HTTPS server that nginx proxies to ``host`` as ``path``, or answers
        itself (its ``return``): found under the prefixes of every location that proxies to ``host``, each one
        checked by routing it as nginx would. A URI nginx hands to another upstream is not one of them."""
        routes: list[GatewayRoute] = []
        for server in self.public_https():
            for prefix in self.proxy_prefixes(server, host):
                uri = prefix + path
                upstream = self.upstream(server, uri)
                if upstream is None or any(r.uri == uri for r in routes):
                    continue
                if upstream.returns or (upstream.host == host and upstream.uri == path):
                    routes.append(GatewayRoute(uri, upstream))
        return routes

    def location(self, match: str) -> Directive | None:
        """The ``location`` block written as ``match`` (e.g. ``= /loki/api/v1/push``), in any server.

        Modifier and path are compared as nginx reads them, so ``location =/x`` and
        ``location = /x`` are the same location, and ``=/x`` may be asked for as ``= /x``.
        """
        head, sep, rest = match.strip().partition(" ")
        wanted = (head, rest.lstrip()) if sep and head in MODIFIERS else _split_modifier(match.strip())
        return next((d for d in self.walk() if d["directive"] == "location" and location_match(d) == wanted), None)

    def finding(self, at: Directive | None, key: str, problem: str, fix: str) -> Finding:
        return Finding(self.name, key, at["line"] if at else None, problem, fix)

    def origin_maps(self) -> dict[str, Directive]:
        """``map $http_origin $variable`` blocks, by the variable they set."""
        return {d["args"][1]: d for d in children(self.http, "map") if len(d["args"]) == 2 and d["args"][0] == "$http_origin"}

    def cors_allow_list(self, variable: str = "$cors_origin") -> CorsAllowList:
        """The allow-list map feeding ``variable`` from ``$http_origin``."""
        found = self.origin_maps().get(variable)
        if found is None:
            raise InputError(self.name, f"map $http_origin {variable}", "no such map block",
                             "define the CORS allow-list as `map $http_origin $cors_origin { ... }`")
        exact: list[str] = []
        patterns: list[str] = []
        default = ""
        hostnames = False           # nginx applies `hostnames` to the entries after it only
        for entry in found.get("block") or []:
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
                raise InputError(self.name, f"map $http_origin {variable}.{key}",
                                 "invalid hostname or wildcard: nginx refuses to start",
                                 "use *.example.com, .example.com or www.example.* (or a ~regex)", entry["line"])
            (patterns if kind == "mask" else exact).append(literal)
        return CorsAllowList(tuple(exact), tuple(patterns), default)

    def limit_zones(self) -> dict[str, Directive]:
        """``limit_req_zone`` definitions by zone name (the first one of a name counts)."""
        zones: dict[str, Directive] = {}
        for d in children(self.http, "limit_req_zone"):
            for arg in d["args"]:
                if arg.startswith("zone="):
                    zones.setdefault(arg.split("=", 1)[1].split(":")[0], d)
        return zones

    def rate_limit(self, location_match: str) -> RateLimit | None:
        """The ``limit_req`` in effect in a location, with its zone's rate; None when it has none.

        As nginx merges it (ngx_http_limit_req_merge_conf): a level without ``limit_req`` of its
        own inherits the previous level's, location from enclosing location, server, then http.
        """
        location = self.location(location_match)
        if location is None:
            raise InputError(self.name, f"location {location_match}", "no such location",
                             "the check expects this location to exist")
        limits = effective(self.chain_to(location), "limit_req")
        if not limits:
            return None
        opts = dict(a.split("=", 1) if "=" in a else (a, "") for a in limits[0]["args"])
        zone = opts.get("zone", "")
        zone_def = self.limit_zones().get(zone)
        if zone_def is None:
            raise InputError(self.name, f"limit_req zone={zone}", "no limit_req_zone defines this zone",
                             "define it in the http block", limits[0]["line"])
        rate = next((a.split("=", 1)[1] for a in zone_def["args"] if a.startswith("rate=")), "")
        found = _RATE.match(rate)
        if found is None:
            raise InputError(self.name, f"limit_req_zone {zone}", f"unreadable rate {rate!r}", "use e.g. rate=50r/s",
                             zone_def["line"])
        per_s = float(found.group(1)) / (60.0 if found.group(2) == "m" else 1.0)
        return RateLimit(zone, per_s, int(opts.get("burst", "0")), "nodelay" in opts)


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
