"""Timeout chains along every request path nginx proxies: the innermost timeout fires first.

A proxy that gives up before the service behind it answers with a bare 504 where the service
would have said why (Loki's "query timed out", Prometheus' "query timed out in expression
evaluation"). So on each path every pair (inner, outer) must hold inner < outer, strictly: equal
values race. The pairs per path, and why each is there, are in docs/timeouts.md:

- push ``= /loki/api/v1/push``: Loki's ingester client ``remote_timeout`` (its own push error) <
  Loki's ``http_server_write_timeout`` and < nginx ``proxy_read_timeout``; and the body, which
  nginx sends in many writes, is Loki's to time out: ``http_server_read_timeout`` < nginx ``proxy_send_timeout``.
- read API: Loki's query timeout < ``http_server_write_timeout`` < nginx ``proxy_read_timeout``.
- tail (websocket): Loki pings every second, so nginx ``proxy_read_timeout`` must outlast the ping.
- Prometheus: ``--query.timeout`` < nginx ``proxy_read_timeout``.
- Grafana: a datasource's query timeout upstream < Grafana's datasource timeout
  (``jsonData.timeout``, else ``[dataproxy] timeout``) < nginx ``proxy_read_timeout``.

Values come from the readers in obsgate.stackfiles (nginx inheritance, Loki, Prometheus' command,
Grafana's settings); an unset one is the pinned version's documented default, named as such.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from obsgate.checks.static.files import require_none
from obsgate.core.errors import NotEvaluated
from obsgate.core.findings import Finding
from obsgate.core.policy import format_number
from obsgate.core.recorder import GateRecorder
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles import loki
from obsgate.stackfiles.grafana import DEFAULTS, datasource_timeout
from obsgate.stackfiles.nginx import PROXY_TIMEOUT_DEFAULT, Chain, Directive, NginxConf, describe, setting_of, time_s
from obsgate.stackfiles.project import ProjectFiles
from obsgate.stackfiles.prometheus import QUERY_TIMEOUT_DEFAULT, prom_duration_s

PUSH_URI = "/loki/api/v1/push"
READ_URIS = ("/loki/api/v1/query", "/loki/api/v1/query_range", "/loki/api/v1/labels", "/loki/api/v1/series")
TAIL_URI = "/loki/api/v1/tail"
PROMETHEUS_URI = "/prometheus/api/v1/query_range"
GRAFANA_URI = "/api/ds/query"       # where Grafana 10's panels send every datasource query
NGINX_DEFAULT = f"nginx default {PROXY_TIMEOUT_DEFAULT} (ngx_http_proxy_module)"
LOKI_DEFAULT = "Loki default {} (configuration reference)"
PROMETHEUS_DEFAULT = f"Prometheus default {QUERY_TIMEOUT_DEFAULT} (--query.timeout)"
GRAFANA_DEFAULT = "Grafana default {}s (conf/defaults.ini [dataproxy] timeout)"


@dataclass(frozen=True)
class Running:
    """What the running services report in place of their files: Loki's ``GET /config`` (every value explicit,
    flags included) and Prometheus' ``GET /api/v1/status/flags``."""

    loki: YamlDoc
    prometheus_flags: Mapping[str, str]
    prometheus_source: str = "GET /api/v1/status/flags of prometheus"


@dataclass(frozen=True)
class Timeout:
    """One timeout on a path: its value, and where it is set (``default`` names the default used instead)."""

    name: str               # e.g. "nginx proxy_read_timeout", "Loki server.http_server_write_timeout"
    seconds: float
    raw: str
    file: str
    key: str
    line: int | None
    default: str = ""

    def shown(self) -> str:
        value = self.raw if self.raw == f"{format_number(self.seconds)}s" else f"{self.raw} (= {format_number(self.seconds)}s)"
        at = f"{self.file}:{self.line}" if self.line else self.file
        where = f"unset at {at} {self.key}: {self.default}" if self.default else f"{at} {self.key}"
        if not self.file:
            where = self.default            # built into the program, set nowhere
        return f"{self.name} {value} ({where})"


@dataclass(frozen=True)
class Link:
    """``inner`` must fire before ``outer``; ``why`` says what the user gets otherwise."""

    inner: Timeout
    outer: Timeout
    why: str


@dataclass(frozen=True)
class RequestPath:
    """A proxied request path and the ordered pairs of timeouts along it."""

    name: str
    links: tuple[Link, ...]

    def shown(self) -> list[str]:
        return [f"{self.name}: {link.inner.shown()} < {link.outer.shown()}" for link in self.links]


def _seconds(parse: Callable[[str], float], doc_name: str, key: str, raw: str, line: int | None, refuses: str) -> float:
    """``raw`` in seconds; a value that is no duration is not evaluated: the program refuses to start with it,
    which check ``refuses`` says."""
    try:
        return parse(raw)
    except ValueError:
        raise NotEvaluated(f"{doc_name}:{line or ''} {key}: {raw!r} is not a duration (see {refuses})") from None


# --- the timeouts, each from its file's reader ------------------------------------------------


def nginx_timeout(conf: NginxConf, route: Chain, name: str) -> Timeout:
    """``name`` as nginx applies it at the end of ``route`` (inherited from server or http), else nginx's default."""
    found = setting_of(route, name)
    if found is None:
        location = route[-1]
        return Timeout(f"nginx {name}", time_s(PROXY_TIMEOUT_DEFAULT), PROXY_TIMEOUT_DEFAULT, conf.name,
                       f"{describe(location)} {name}", location["line"], NGINX_DEFAULT)
    block, directive = found
    raw = " ".join(directive["args"])
    seconds = _seconds(time_s, conf.name, name, raw, directive["line"], "test_nginx_accepts_its_config")
    return Timeout(f"nginx {name}", seconds, raw, conf.name, f"{describe(block)} {name}", directive["line"])


def loki_timeout(doc: YamlDoc, key: str) -> Timeout:
    """Loki's ``key``: the file's value, else Loki's documented default."""
    raw = doc.get(key)
    if raw is None:
        default = str(loki.DEFAULTS[key])
        return Timeout(f"Loki {key}", loki.seconds(default), default, doc.name, key, None, LOKI_DEFAULT.format(default))
    seconds = _seconds(loki.seconds, doc.name, key, str(raw), doc.line(key), "test_loki_accepts_its_config")
    return Timeout(f"Loki {key}", seconds, str(raw), doc.name, key, doc.line(key))


def _loki(files: ProjectFiles, running: Running | None) -> YamlDoc:
    return running.loki if running is not None else files.loki


def loki_query_timeout(files: ProjectFiles, running: Running | None = None) -> Timeout:
    """What bounds a LogQL query in the pinned Loki (2.x: a 1m per-tenant timeout means the engine's)."""
    doc = _loki(files, running)
    key = loki.query_timeout_key(doc, files.loki_version)
    found = loki_timeout(doc, key)
    if key != "limits_config.query_timeout":
        return Timeout(f"{found.name} (2.x: limits_config.query_timeout of 1m counts as unset)", found.seconds,
                       found.raw, found.file, found.key, found.line, found.default)
    return found


def tail_ping() -> Timeout:
    return Timeout("Loki tail websocket ping interval", loki.seconds(loki.TAIL_PING), loki.TAIL_PING, "", "", None,
                   "built into Loki: pkg/querier/http.go wsPingPeriod")


def prometheus_query_timeout(files: ProjectFiles, running: Running | None = None) -> Timeout:
    """``--query.timeout`` from the prometheus service's command (else Prometheus' 2m), or as it runs."""
    if running is not None:
        runs = running.prometheus_flags.get("query.timeout", QUERY_TIMEOUT_DEFAULT)
        seconds = _seconds(prom_duration_s, running.prometheus_source, "query.timeout", runs, None,
                           "test_prometheus_is_ready")
        return Timeout("Prometheus --query.timeout", seconds, runs, running.prometheus_source, "query.timeout", None)
    raw = files.prometheus.query_timeout
    key, compose = "services.prometheus.command", files.compose
    if raw is None:
        return Timeout("Prometheus --query.timeout", prom_duration_s(QUERY_TIMEOUT_DEFAULT), QUERY_TIMEOUT_DEFAULT,
                       compose.name, key, compose.line(key), PROMETHEUS_DEFAULT)
    seconds = _seconds(prom_duration_s, compose.name, f"{key} --query.timeout", raw, compose.line(key),
                       "test_prometheus_is_ready")
    return Timeout("Prometheus --query.timeout", seconds, raw, compose.name, key, compose.line(key))


def grafana_timeout(files: ProjectFiles, doc: YamlDoc, key: str, item: dict) -> Timeout:
    """How long Grafana waits for datasource ``item``: its ``jsonData.timeout``, else ``[dataproxy] timeout``."""
    name = f"Grafana datasource {item.get('name')!r}"
    own = datasource_timeout(item)
    if own is not None:
        at = f"{key}.jsonData.timeout"
        return Timeout(f"{name} jsonData.timeout", float(own), f"{own}s", doc.name, at, doc.line(at))
    setting = files.grafana.setting("dataproxy.timeout")
    # Grafana reads it with MustInt(30): a value that is no integer leaves the default.
    seconds = float(setting.value) if setting.value.strip().isdigit() else float(DEFAULTS["dataproxy.timeout"])
    if setting.origin == "default":
        return Timeout(f"{name} via [dataproxy] timeout", seconds, f"{setting.value}s", doc.name, f"{key}.jsonData.timeout",
                       doc.line(key), GRAFANA_DEFAULT.format(setting.value))
    return Timeout(f"{name} via [dataproxy] timeout", seconds, f"{setting.value}s", setting.file, setting.key, setting.line)


# --- the paths ---------------------------------------------------------------------------------


def _routes(files: ProjectFiles, upstream: str, uris: tuple[str, ...]) -> list[tuple[str, Chain]]:
    """(URIs, route) per distinct location of every public HTTPS server that proxies ``uris`` to ``upstream``."""
    if "nginx" not in files.project.services or upstream not in files.project.services:
        return []
    conf = files.nginx
    grouped: dict[int, tuple[list[str], Chain]] = {}
    for server in conf.public_https():
        for uri in uris:
            route = conf.route(server, uri)
            if len(route) > 2 and _proxies(route[-1]):
                grouped.setdefault(id(route[-1]), ([], route))[0].append(uri)
    return [(", ".join(found), route) for found, route in grouped.values()]


def _proxies(location: Directive) -> bool:
    """Passes requests upstream: a ``proxy_pass`` and no ``return`` of its own (that ends the request first)."""
    names = {d["directive"] for d in location.get("block") or []}
    return "proxy_pass" in names and "return" not in names


def _at(route: Chain) -> str:
    return f"{describe(route[1])} {describe(route[-1])}"


def push_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """The push: Loki's own push deadline first; the body Loki's to time out, not nginx's."""
    out, doc = [], _loki(files, running)
    for uris, route in _routes(files, "loki", (PUSH_URI,)):
        own = loki_timeout(doc, "ingester_client.remote_timeout")
        cut = loki_timeout(doc, "server.http_server_write_timeout")
        body = loki_timeout(doc, "server.http_server_read_timeout")
        read, send = (nginx_timeout(files.nginx, route, n) for n in ("proxy_read_timeout", "proxy_send_timeout"))
        out.append(RequestPath(f"push path {uris} ({_at(route)})", (
            Link(own, cut, "Loki's server cuts the push with an empty reply before its own push error"),
            Link(own, read, "nginx answers 504 before Loki's own push error arrives"),
            Link(body, send, "nginx gives up sending a large body (504) where Loki would have refused it itself"))))
    return out


def read_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """The read API: the query timeout first, then Loki's server, then nginx."""
    out = []
    for uris, route in _routes(files, "loki", READ_URIS):
        query = loki_query_timeout(files, running)
        cut = loki_timeout(_loki(files, running), "server.http_server_write_timeout")
        read = nginx_timeout(files.nginx, route, "proxy_read_timeout")
        out.append(RequestPath(f"read path {uris} ({_at(route)})", (
            Link(query, cut, "Loki's server cuts a slow query with an empty reply instead of its timeout error"),
            Link(cut, read, "nginx answers 504 while Loki may still answer"))))
    return out


def tail_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """The live tail: a websocket nginx keeps while Loki's pings keep arriving."""
    return [RequestPath(f"tail path {uris} ({_at(route)})", (
        Link(tail_ping(), nginx_timeout(files.nginx, route, "proxy_read_timeout"),
             "nginx closes a healthy live tail between two of Loki's pings"),))
            for uris, route in _routes(files, "loki", (TAIL_URI,))]


def prometheus_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """Prometheus: its query timeout first (its web server has no write timeout to sit between)."""
    return [RequestPath(f"Prometheus path {uris} ({_at(route)})", (
        Link(prometheus_query_timeout(files, running), nginx_timeout(files.nginx, route, "proxy_read_timeout"),
             "nginx answers 504 before Prometheus' own query timeout error"),))
            for uris, route in _routes(files, "prometheus", (PROMETHEUS_URI,))]


def grafana_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """Grafana: per datasource, the upstream's query timeout < Grafana's datasource timeout < nginx.

    Not evaluated while a provisioning file cannot be read: Grafana does not start with it, and
    that is test_grafana_provisioning_files_parse's finding.
    """
    routes = _routes(files, "grafana", (GRAFANA_URI,))
    if not routes:
        return []
    unreadable = [f.error for f in files.grafana.datasource_files + files.grafana.dashboard_provider_files if f.error]
    if unreadable:
        raise NotEvaluated(f"{unreadable[0].file} cannot be read, so Grafana does not start "
                           "(see test_grafana_provisioning_files_parse)")
    upstreams: dict[str, Callable[[], Timeout]] = {"loki": lambda: loki_query_timeout(files, running),
                                                   "prometheus": lambda: prometheus_query_timeout(files, running)}
    out = []
    for uris, route in routes:
        read = nginx_timeout(files.nginx, route, "proxy_read_timeout")
        for doc, key, item in files.grafana.datasources():
            waits = grafana_timeout(files, doc, key, item)
            kind = str(item.get("type", ""))
            links = [Link(waits, read, "nginx answers 504 while Grafana still waits for the datasource")]
            if kind in upstreams and kind in files.project.services:
                links.insert(0, Link(upstreams[kind](), waits,
                                     f"Grafana gives up before {kind.title()}'s own timeout error reaches the panel"))
            out.append(RequestPath(f"Grafana path {uris} -> datasource {item.get('name')!r} ({_at(route)})",
                                   tuple(links)))
    return out


def contradictions(paths: list[RequestPath]) -> list[Finding]:
    """A finding for each pair whose outer timeout fires before (or with) the inner one, at the outer's setting."""
    out = []
    for path in paths:
        for link in path.links:
            inner, outer = link.inner, link.outer
            if outer.seconds > inner.seconds:
                continue
            when = "before" if outer.seconds < inner.seconds else "together with"
            out.append(Finding(outer.file, outer.key, outer.line,
                               f"{path.name}: {outer.shown()} fires {when} {inner.shown()}: {link.why}",
                               f"raise {outer.name} above {format_number(inner.seconds)}s "
                               f"(or lower {inner.name} below {format_number(outer.seconds)}s)"))
    return out


def all_paths(files: ProjectFiles, running: Running | None = None) -> list[RequestPath]:
    """Every proxied path, as the files say or (with ``running``) as the services run."""
    return [*push_paths(files, running), *read_paths(files, running), *tail_paths(files, running),
            *prometheus_paths(files, running), *grafana_paths(files, running)]


def require_in_order(paths: list[RequestPath], gate: GateRecorder) -> None:
    """Record every path's pairs as evidence; fail with a finding per pair out of order."""
    gate.evidence["chains"] = [line for path in paths for line in path.shown()]
    require_none(contradictions(paths), gate)
