"""The files a compose project mounts into its services, each read once by its reader, for the static checks.

A service's config is read where the service itself reads it: its command names the file
inside the container (``-config.file=/etc/loki/loki.yml``) and a bind mount maps that path to
a file in the repository, so a broken variant compose that mounts other files is judged the
same way as the production one. A file that cannot be read, or is not mounted at all, raises
ConfigUnreadable: the finding of the check that needed it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable, Finding, shown
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles import alertmanager, loki, nginx, prometheus
from obsgate.stackfiles.alertmanager import AlertmanagerConfig
from obsgate.stackfiles.compose import ComposeProject, ServiceSpec, image_version
from obsgate.stackfiles.grafana import GrafanaConf
from obsgate.stackfiles.mounts import flag_value, mounted_path
from obsgate.stackfiles.nginx import NginxConf
from obsgate.stackfiles.prometheus import PrometheusConfig

T = TypeVar("T")
# Where each program reads its config: the command-line flags that name it, and the image default.
CONFIG_LOCATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "loki": (loki.CONFIG_FLAGS, loki.DEFAULT_CONFIG),
    "prometheus": (prometheus.CONFIG_FLAGS, prometheus.DEFAULT_CONFIG),
    "alertmanager": (alertmanager.CONFIG_FLAGS, alertmanager.DEFAULT_CONFIG),
    "nginx": (nginx.CONFIG_FLAGS, nginx.DEFAULT_CONFIG),
}


def service_config(spec: ServiceSpec, compose: Path, flags: Iterable[str], default: str) -> tuple[str, Path]:
    """(container path, host path) of the config file ``spec``'s command points at.

    Raises ConfigUnreadable when the file is not bind-mounted from the host: the image's
    built-in file would be used, which is not the reviewed one.
    """
    container = flag_value(spec.command or (), flags, default)
    try:
        host = mounted_path(spec, container)
    except InputError:
        host = None
    if host is None or not host.is_file():
        raise ConfigUnreadable(Finding(shown(compose), f"services.{spec.name}.volumes", None,
                                       f"{container} (the config {spec.name} reads) is not mounted from a file in the repository",
                                       f"bind-mount the reviewed config file at {container}"))
    return container, host


def readable(read: Callable[[], T]) -> T:
    """What ``read`` returns; the InputError of a file it cannot read becomes that file's finding."""
    try:
        return read()
    except InputError as exc:
        raise ConfigUnreadable(Finding.of(exc)) from None


class ProjectFiles:
    """The config files of ``project``'s services as mounted, each parsed once (on first use) and kept."""

    def __init__(self, project: ComposeProject) -> None:
        self.project = project

    def spec(self, service: str) -> ServiceSpec:
        if service not in self.project.services:
            raise AssertionError(f"{shown(self.project.path)}: services.{service}: no such service (the policy needs it)")
        return self.project.services[service]

    def config(self, service: str) -> tuple[str, Path]:
        """(container path, host path) of ``service``'s config file; ConfigUnreadable if not mounted."""
        flags, default = CONFIG_LOCATIONS[service]
        return service_config(self.spec(service), self.project.path, flags, default)

    @cached_property
    def compose(self) -> YamlDoc:
        """The compose file as written (before interpolation), as the compose reader parsed it."""
        return self.project.doc

    @cached_property
    def loki(self) -> YamlDoc:
        host = self.config("loki")[1]
        return readable(lambda: YamlDoc.load(host, shown(host), "Loki config"))

    @property
    def loki_version(self) -> tuple[int, int, int] | None:
        """The Loki version the compose file pins (what production runs)."""
        return image_version(self.spec("loki").image)

    @cached_property
    def nginx(self) -> NginxConf:
        host = self.config("nginx")[1]
        return readable(lambda: NginxConf.load(host))

    @cached_property
    def prometheus(self) -> PrometheusConfig:
        host = self.config("prometheus")[1]
        return readable(lambda: PrometheusConfig.load(host, self.spec("prometheus")))

    @property
    def prometheus_doc(self) -> YamlDoc:
        """prometheus.yml with line numbers (``prometheus`` has the facts Prometheus derives from it)."""
        return self.prometheus.doc

    @cached_property
    def alert_rule_files(self) -> list[YamlDoc]:
        return [file.doc for file in readable(lambda: self.prometheus.rules)]

    @cached_property
    def alertmanager(self) -> YamlDoc:
        host = self.config("alertmanager")[1]
        return readable(lambda: AlertmanagerConfig.load(host)).doc

    @cached_property
    def grafana(self) -> GrafanaConf:
        return GrafanaConf(self.spec("grafana"), self.compose)
