"""nginx.conf policy: HTTPS only, TLS >= 1.2, cipher suites, headers, CORS, auth, rate limit.

The file is read by obsgate.stackfiles.nginx, which also knows how nginx inherits directives
(an ``add_header`` of a location's own drops every header of its server) and which location
serves a URI (exact, longest prefix, ``^~``, regex); the judgements are here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from obsgate.checks.tlsprofile import MOZILLA_INTERMEDIATE, UNKNOWN, Weakness, by_weakness, weakness_of_name
from obsgate.clients.tlsprobe import OPENSSL, suites_of
from obsgate.core.findings import Finding
from obsgate.stackfiles.nginx import (
    Chain,
    Directive,
    NginxConf,
    chains,
    children,
    effective,
    is_https,
    is_public,
    select_location,
)

PUSH_PATH = "/loki/api/v1/push"
PROTECTED_PATHS = (PUSH_PATH, "/loki/api/v1/query", "/loki/api/v1/query_range", "/prometheus/api/v1/query")
MODERN_TLS = MOZILLA_INTERMEDIATE.versions
# ngx_http_ssl_module's ssl_ciphers default: it still enables static-RSA and CBC suites.
NGINX_DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5"
REDIRECT_CODES = ("301", "302", "307", "308")
HSTS, NOSNIFF = "strict-transport-security", "x-content-type-options"


def _describe(server: Directive) -> str:
    return "server(" + ", ".join(" ".join(d["args"]) for d in children(server, "listen")) + ")"


def _location_key(chain: Chain) -> str:
    return " > ".join(f"location {' '.join(d['args'])}" for d in chain if d["directive"] == "location")


def _walk_blocks(block: Directive, chain: Chain) -> Iterator[Chain]:
    """Every location and ``if`` block below ``block``, as chains from ``chain`` down."""
    return (c for c in chains(block, chain) if c[-1]["directive"] in ("location", "if"))


def _redirects_to_https(block: Directive) -> bool:
    return any(
        len(d["args"]) >= 2 and d["args"][0] in REDIRECT_CODES and d["args"][1].startswith("https://")
        for d in children(block, "return")
    )


def https_redirect(conf: NginxConf) -> list[Finding]:
    """Every public plain-HTTP server answers only with a redirect to HTTPS."""
    plain = [s for s in conf.servers if is_public(s) and not is_https(s)]
    if not conf.public_https():
        return [conf.finding(conf.http, "http", "no public HTTPS server", "add a server with listen 443 ssl")]
    if not plain:
        return [
            conf.finding(
                conf.http,
                "http",
                "no plain-HTTP server: http:// clients get no redirect to HTTPS",
                "add server { listen 80; return 301 https://$host$request_uri; }",
            )
        ]
    out = []
    for server in plain:
        chain = select_location(server, "/")
        if _redirects_to_https(server) or (chain and _redirects_to_https(chain[-1])):
            continue
        out.append(
            conf.finding(
                server,
                _describe(server),
                "plain HTTP is served, not redirected to HTTPS",
                "return 301 https://$host$request_uri; in this server",
            )
        )
    return out


def tls_protocols(conf: NginxConf) -> list[Finding]:
    """HTTPS servers allow TLS 1.2 and 1.3 only, explicitly (defaults differ between versions)."""
    out = []
    for server in conf.public_https():
        found = effective([conf.http, server], "ssl_protocols")
        if not found:
            out.append(
                conf.finding(
                    server,
                    f"{_describe(server)}.ssl_protocols",
                    "not set: nginx 1.22's default still enables TLSv1 and TLSv1.1",
                    "ssl_protocols TLSv1.2 TLSv1.3;",
                )
            )
            continue
        old = [p for p in found[-1]["args"] if p not in MODERN_TLS]
        if old:
            out.append(
                conf.finding(
                    found[-1], f"{_describe(server)}.ssl_protocols", f"allows {', '.join(old)}", "ssl_protocols TLSv1.2 TLSv1.3;"
                )
            )
    return out


def _below_tls13(conf: NginxConf, server: Directive) -> bool:
    """Whether a protocol older than TLS 1.3 is on: only those take their suites from ssl_ciphers."""
    found = effective([conf.http, server], "ssl_protocols")
    return not found or any(p != "TLSv1.3" for p in found[-1]["args"])


def _named_but_absent(cipher_string: str) -> Iterator[tuple[Weakness, str]]:
    """Suite names (and aliases) of ``cipher_string`` that select nothing in this OpenSSL, with the
    weakness their name reads as: OpenSSL drops them silently, nginx's own OpenSSL may not."""
    for token in re.split(r"[:, ]+", cipher_string):
        if not token or token.startswith(("!", "-", "+", "@")):
            continue
        try:
            suites_of(token)
        except ValueError:
            yield weakness_of_name(token), f"{token} (none in this OpenSSL)"


def tls_ciphers(conf: NginxConf) -> list[Finding]:
    """HTTPS servers enable only the profile's TLS 1.2 suites and leave their order to the client.

    The cipher string is expanded by this Python's OpenSSL (the call nginx makes with it); names
    it does not know (RC4, 3DES and EXPORT suites are gone from OpenSSL 3) are judged by name.
    """
    profile = MOZILLA_INTERMEDIATE
    fix = f"ssl_ciphers {profile.cipher_string}; ({profile.name} {profile.version}, {profile.source})"
    out = []
    for server in conf.public_https():
        key = f"{_describe(server)}.ssl_ciphers"
        if _below_tls13(conf, server):
            found = effective([conf.http, server], "ssl_ciphers")
            value = " ".join(found[-1]["args"]) if found else NGINX_DEFAULT_CIPHERS
            at = found[-1] if found else server
            said = "" if found else f"not set, so nginx's default {NGINX_DEFAULT_CIPHERS} "
            try:
                kinds = by_weakness(suites_of(value), _named_but_absent(value))
            except ValueError as exc:
                kinds = {}
                out.append(conf.finding(at, key, f"{said}{value!r}: {exc}: nginx refuses to start", fix))
            for kind, names in kinds.items():
                what = f"selects nothing in {OPENSSL}" if kind is UNKNOWN else f"enables {kind} suites"
                out.append(conf.finding(at, key, f"{said}{what}: {', '.join(names)} ({kind.why})", fix))
        prefer = effective([conf.http, server], "ssl_prefer_server_ciphers")
        if prefer and prefer[-1]["args"] == ["on"] and not profile.server_preferred_order:
            out.append(conf.finding(
                prefer[-1], f"{_describe(server)}.ssl_prefer_server_ciphers",
                f"on, where {profile.name} leaves the choice to the client: every suite it lists is strong, "
                "and a client without AES hardware picks ChaCha20", "ssl_prefer_server_ciphers off;"))
    return out


def _headers(chain: Chain) -> dict[str, Directive]:
    return {d["args"][0].lower(): d for d in effective(chain, "add_header") if d["args"]}


def security_headers(conf: NginxConf) -> list[Finding]:
    """Every HTTPS response carries HSTS and nosniff, also where a location sets headers of its own."""
    out = []
    for server in conf.public_https():
        blocks = [[conf.http, server]] + [c for c in _walk_blocks(server, [conf.http, server]) if children(c[-1], "add_header")]
        for chain in blocks:
            headers = _headers(chain)
            missing = [
                h
                for h in (HSTS, NOSNIFF)
                if h not in headers
                or headers[h]["args"][-1] != "always"
                or (h == NOSNIFF and headers[h]["args"][1].lower() != "nosniff")
            ]
            if missing:
                where = _location_key(chain) or "server"
                out.append(
                    conf.finding(
                        chain[-1],
                        f"{_describe(server)} > {where}.add_header",
                        f"responses here lack {' and '.join(missing)} (with always): "
                        "a block with its own add_header inherits none from its server",
                        "repeat add_header Strict-Transport-Security ... always; and "
                        "add_header X-Content-Type-Options nosniff always; in this block",
                    )
                )
    return out


def _all_headers(conf: NginxConf, name: str) -> Iterator[Directive]:
    blocks = [conf.http] + [b for s in conf.servers for b in [s, *(c[-1] for c in _walk_blocks(s, [s]))]]
    for block in blocks:
        yield from (d for d in children(block, "add_header") if d["args"] and d["args"][0].lower() == name)


def cors_allow_list(conf: NginxConf) -> list[Finding]:
    """Access-Control-Allow-Origin is an echo of listed origins only: never *, never any origin."""
    out = []
    maps = conf.origin_maps()
    fix = 'map $http_origin $cors_origin { default ""; "https://app.example" $http_origin; } and send $cors_origin'
    for header in _all_headers(conf, "access-control-allow-origin"):
        origin = header["args"][1] if len(header["args"]) > 1 else ""
        key = "add_header Access-Control-Allow-Origin"
        if origin.strip("'\"") == "*":
            out.append(conf.finding(header, key, "allows every origin (*) instead of an allow-list", fix))
        elif origin == "$http_origin":
            out.append(conf.finding(header, key, "echoes any Origin: every site may read the responses", fix))
        elif origin in maps:
            for entry in maps[origin]["block"]:
                echoes = entry["args"] == ["$http_origin"]
                pattern = entry["directive"]
                if echoes and pattern == "default":
                    out.append(conf.finding(entry, f"map {origin}.default", "echoes any Origin by default", fix))
                elif echoes and pattern.startswith("~") and not (pattern.lstrip("~*").startswith("^") and pattern.endswith("$")):
                    out.append(
                        conf.finding(
                            entry,
                            f"map {origin}.{pattern}",
                            "unanchored regex also admits look-alike origins (https://x.example.evil.com)",
                            "list exact origins or anchor ^...$",
                        )
                    )
    return out


def cors_always(conf: NginxConf) -> list[Finding]:
    """CORS headers carry ``always``: errors (401, 413, 429, 5xx) must reach browser code too."""
    return [
        conf.finding(
            d,
            f"add_header {d['args'][0]}",
            "without always: error responses lose it and the browser hides the real status",
            f"add_header {d['args'][0]} ... always;",
        )
        for name in (
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
            "access-control-allow-headers",
        )
        for d in _all_headers(conf, name)
        if d["args"][-1] != "always"
    ]


def cors_authorization(conf: NginxConf) -> list[Finding]:
    """Where push answers CORS, the preflight allows the Authorization header push requires."""
    out = []
    for server in conf.public_https():
        chain = conf.route(server, PUSH_PATH)
        own = [c for c in _walk_blocks(chain[-1], chain) if children(c[-1], "add_header")]
        blocks = [chain, *own] if len(chain) > 2 else []
        for block_chain in blocks:
            headers = _headers(block_chain)
            if "access-control-allow-origin" not in headers:
                continue
            allowed = headers.get("access-control-allow-headers")
            names = [] if allowed is None else [h.strip().lower() for h in allowed["args"][1].split(",")]
            if "authorization" not in names:
                out.append(
                    conf.finding(
                        allowed or block_chain[-1],
                        f"{_describe(server)} > {_location_key(block_chain)}.Access-Control-Allow-Headers",
                        "preflight does not allow Authorization: browsers cannot send the push credential",
                        "add Authorization to Access-Control-Allow-Headers",
                    )
                )
    return out


def _refused(chain: Chain) -> bool:
    last = chain[-1]
    return last["directive"] == "location" and any(
        d["args"] and d["args"][0].isdigit() and int(d["args"][0]) >= 400 for d in children(last, "return")
    )


def auth(conf: NginxConf, paths: Sequence[str] = PROTECTED_PATHS) -> list[Finding]:
    """Push, query and Prometheus need credentials (basic auth or auth_request) on every public server."""
    out = []
    for server in conf.public_https():
        for path in paths:
            chain = conf.route(server, path)
            if len(chain) == 2 or _refused(chain):
                continue  # not served at all
            early = [d for d in children(chain[-1], "return") if d["args"] and not d["args"][0].startswith(("4", "5"))]
            if early:
                out.append(
                    conf.finding(
                        early[0],
                        f"{_describe(server)} > {_location_key(chain)}",
                        f"{path} is answered by `return {' '.join(early[0]['args'])}` in the rewrite "
                        "phase, before authentication runs",
                        "authenticate before answering, or answer only inside if ($request_method = OPTIONS)",
                    )
                )
                continue
            basic = effective(chain, "auth_basic")
            has_basic = bool(basic) and basic[-1]["args"] != ["off"] and bool(effective(chain, "auth_basic_user_file"))
            if has_basic or effective(chain, "auth_request"):
                continue
            out.append(
                conf.finding(
                    chain[-1],
                    f"{_describe(server)} > {_location_key(chain)}",
                    f"{path} is served without authentication",
                    'auth_basic "..."; auth_basic_user_file /etc/nginx/secrets/htpasswd-...; in this location',
                )
            )
    return out


def push_rate_limit(conf: NginxConf) -> list[Finding]:
    """The push location is rate-limited with a zone that exists."""
    zones = set(conf.limit_zones())
    out = []
    for server in conf.public_https():
        chain = conf.route(server, PUSH_PATH)
        where = f"{_describe(server)} > {_location_key(chain) or 'server'}"
        limits = effective(chain, "limit_req")
        used = {a.split("=", 1)[1] for d in limits for a in d["args"] if a.startswith("zone=")}
        if len(chain) == 2:
            out.append(conf.finding(server, where, f"no location serves {PUSH_PATH}", f"add location = {PUSH_PATH}"))
        elif not used:
            out.append(
                conf.finding(
                    chain[-1],
                    f"{where}.limit_req",
                    "push is not rate-limited: one client in an error loop can flood Loki",
                    "limit_req zone=loki_push burst=... nodelay; with a limit_req_zone in http",
                )
            )
        elif used - zones:
            out.append(
                conf.finding(
                    limits[0],
                    f"{where}.limit_req",
                    f"zone {', '.join(sorted(used - zones))} is not defined",
                    "declare it with limit_req_zone in http",
                )
            )
    return out
