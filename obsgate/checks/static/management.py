"""The settings that switch management APIs on, judged with what nginx.conf routes to them.

A switch that is on is a finding only where nginx hands one of the endpoints it opens to its service
(``NginxConf.gateway_routes``: a URI that reaches the service, not one nginx answers itself); on but
reachable only on the stack's network it is an operator's tool. Endpoints no setting turns off
(Loki's flush, shutdown, config and ring pages, all of Alertmanager's) are a finding wherever nginx
routes them. The endpoints are obsgate.checks.edge.management's catalogue; the live audit asks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from obsgate.checks.edge.management import ALERTMANAGER, CATALOGUE, LOKI, PROMETHEUS, Endpoint
from obsgate.core.findings import Finding
from obsgate.stackfiles import loki
from obsgate.stackfiles.mounts import bool_flag
from obsgate.stackfiles.nginx import GatewayRoute
from obsgate.stackfiles.project import ProjectFiles

# Prometheus' switches (kingpin booleans) -> the catalogued paths each one opens.
PROMETHEUS_FLAGS = {
    "web.enable-admin-api": ("/api/v1/admin/tsdb/",),
    "web.enable-lifecycle": ("/-/reload", "/-/quit"),
    "web.enable-remote-write-receiver": ("/api/v1/write",),
}
FEATURE_FLAG, REMOTE_WRITE_FEATURE = "--enable-feature", "remote-write-receiver"   # Prometheus < 2.33 spelling
LOKI_DELETE_PATHS = ("/loki/api/v1/delete", "/loki/api/admin/delete", "/loki/api/v1/cache/generation_numbers")
LOKI_RULER_PATHS = ("/loki/api/v1/rules",)


@dataclass(frozen=True)
class Switch:
    """A setting that opens some of a service's management endpoints, where it is written, and whether it is on."""

    service: str
    setting: str            # as written, e.g. --web.enable-lifecycle
    file: str
    key: str
    line: int | None
    on: bool
    paths: tuple[str, ...]  # catalogued paths it opens (prefixes)
    fix: str

    def opens(self, endpoint: Endpoint) -> bool:
        return endpoint.service == self.service and endpoint.path.startswith(self.paths)


def prometheus_switches(files: ProjectFiles) -> list[Switch]:
    """Prometheus' command-line switches in the compose file."""
    spec, compose = files.spec(PROMETHEUS), files.compose
    argv = list(spec.command or ())
    out = []
    for name, paths in PROMETHEUS_FLAGS.items():
        on, at = bool_flag(argv, name)
        if name == "web.enable-remote-write-receiver" and not on:
            at = next((i for i, a in enumerate(argv) if a.startswith(FEATURE_FLAG)
                       and REMOTE_WRITE_FEATURE in a.partition("=")[2].split(",")), None)
            on = at is not None
        key = f"services.{PROMETHEUS}.command" + (f"[{at}]" if at is not None else "")
        out.append(Switch(PROMETHEUS, f"--{name}", compose.name, key, compose.line(key), on, paths,
                          f"drop --{name} (an operator uses it on the internal network), or refuse these paths "
                          "in nginx.conf (location ~ ... { return 403; })"))
    return out


def loki_switches(files: ProjectFiles) -> list[Switch]:
    """Loki's delete API (on with compactor.retention_enabled unless limits_config.deletion_mode is disabled)
    and its ruler API (ruler.enable_api)."""
    doc = files.loki
    retention = loki.value(doc, "compactor.retention_enabled") is True
    mode = str(loki.value(doc, "limits_config.deletion_mode"))
    deletes = Switch(LOKI, f"compactor.retention_enabled: {str(retention).lower()} with deletion_mode {mode}",
                     doc.name, "compactor.retention_enabled", doc.line("compactor.retention_enabled"),
                     retention and mode != "disabled", LOKI_DELETE_PATHS,
                     "refuse /loki/api/v1/delete in nginx.conf, or set limits_config.deletion_mode: disabled")
    ruler = loki.value(doc, "ruler.enable_api") is True
    rules = Switch(LOKI, f"ruler.enable_api: {str(ruler).lower()}", doc.name, "ruler.enable_api",
                   doc.line("ruler.enable_api"), ruler, LOKI_RULER_PATHS,
                   "ruler.enable_api: false, or refuse /loki/api/v1/rules in nginx.conf")
    return [deletes, rules]


def _routes(files: ProjectFiles, endpoint: Endpoint) -> list[GatewayRoute]:
    """The gateway routes nginx proxies to ``endpoint``'s service as its path (not those it answers itself)."""
    return [r for r in files.nginx.gateway_routes(endpoint.service, endpoint.path) if r.upstream.host]


def _shown(route: GatewayRoute) -> str:
    return f"{route.uri} (location {route.upstream.location})"


def _services(files: ProjectFiles, wanted: Sequence[str]) -> list[str]:
    return [s for s in wanted if s in files.project.services]


def exposed(files: ProjectFiles, catalogue: Sequence[Endpoint] = CATALOGUE) -> list[Finding]:
    """A switched-on management API that nginx routes to, and any switchless one nginx routes to."""
    readers: dict[str, Callable[[ProjectFiles], list[Switch]]] = {PROMETHEUS: prometheus_switches, LOKI: loki_switches}
    switches = [s for service in _services(files, list(readers)) for s in readers[service](files)]
    out = []
    for switch in switches:
        opened = [e for e in catalogue if switch.opens(e)]
        routed = [f"{e} at {_shown(r)}" for e in opened for r in _routes(files, e)]
        if switch.on and routed:
            names = ", ".join(dict.fromkeys(str(e) for e in opened))
            out.append(Finding(switch.file, switch.key, switch.line,
                               f"{switch.setting} switches on {switch.service}'s {names}, and nginx.conf routes "
                               f"{'; '.join(routed)} to it", switch.fix))
    switchless = [e for e in catalogue if e.service in _services(files, (LOKI, ALERTMANAGER))
                  and not any(s.opens(e) for s in switches)]
    for endpoint in switchless:
        for route in _routes(files, endpoint):
            out.append(files.nginx.finding(files.nginx.location(route.upstream.location),
                                           f"location {route.upstream.location}",
                                           f"routes {route.uri} to {endpoint.service}'s {endpoint} ({endpoint.does}), "
                                           "which no setting turns off",
                                           f"route only the paths clients need (an allow-list), or refuse {endpoint.path} "
                                           "with return 403"))
    return out
