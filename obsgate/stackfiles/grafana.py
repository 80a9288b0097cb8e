"""Grafana's settings and provisioning files as the compose grafana service gives them to it.

Grafana (10.x, official image) resolves a setting as: its built-in defaults, then the
``grafana.ini`` at ``GF_PATHS_CONFIG`` (the image's own file has every line commented
out, so only a mounted one counts), then environment variables ``GF_<SECTION>_<KEY>``
(section dots and dashes become ``_``), which win. The image itself sets the
``GF_PATHS_*`` variables, so ``[paths]`` in a grafana.ini has no effect unless compose
overrides them too. The image's entrypoint turns ``GF_X__FILE=path`` into ``GF_X`` with
the file's content. Provisioning is read from ``<paths.provisioning>/{datasources,dashboards}``
(``*.yml``, ``*.yaml``); a file dashboard provider reads every ``*.json`` below its
``options.path``. Static checks and the live checks both read Grafana's files here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable, Finding, shown
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import Mount, ServiceSpec
from obsgate.stackfiles.mounts import mounted_entries, mounted_path

# The official image's ENV (Dockerfile): lower precedence than compose's environment.
IMAGE_ENV = {
    "GF_PATHS_CONFIG": "/etc/grafana/grafana.ini",
    "GF_PATHS_DATA": "/var/lib/grafana",
    "GF_PATHS_HOME": "/usr/share/grafana",
    "GF_PATHS_LOGS": "/var/log/grafana",
    "GF_PATHS_PLUGINS": "/var/lib/grafana/plugins",
    "GF_PATHS_PROVISIONING": "/etc/grafana/provisioning",
}
# Grafana 10.2 conf/defaults.ini, for the settings the checks read.
DEFAULTS = {
    "security.admin_user": "admin",
    "security.admin_password": "admin",
    "security.disable_initial_admin_creation": "false",
    "security.secret_key": "SW2YcwTIb9zpOOhoPsMm",   # Grafana's published default
    "auth.anonymous.enabled": "false",
    "users.allow_sign_up": "false",
    "server.protocol": "http",
    "server.http_addr": "",
    "server.http_port": "3000",
    "server.domain": "localhost",
    "server.root_url": "%(protocol)s://%(domain)s:%(http_port)s/",
    "database.path": "grafana.db",
    "dataproxy.timeout": "30",     # seconds a datasource request may take unless its jsonData.timeout says
}
# go-ini's parseBool, which Grafana's MustBool uses (anything else: the default applies).
TRUE = ("1", "t", "T", "true", "TRUE", "True", "YES", "yes", "Yes", "y", "ON", "on", "On")
FALSE = ("0", "f", "F", "false", "FALSE", "False", "NO", "no", "No", "n", "OFF", "off", "Off")
_INI_SECTION = re.compile(r"^\[([^\]]+)\]\s*$")
_INI_KEY = re.compile(r"^([^=]+?)\s*=\s*(.*)$")
# Grafana expands these in grafana.ini values (setting/expanders.go); $__file{} reads a container file.
_ENV_REF = re.compile(r"\$__env\{(\w+)\}|\$\{(\w+)\}")
FILE_REF = re.compile(r"\$__file\{([^}]+)\}")


def env_name(setting: str) -> str:
    """``auth.anonymous.enabled`` -> ``GF_AUTH_ANONYMOUS_ENABLED`` (Grafana's envKey)."""
    section, _, key = setting.rpartition(".")
    return "GF_" + re.sub(r"[.-]", "_", f"{section}_{key}").upper()


def as_bool(text: str | None, default: str) -> bool:
    """A Grafana boolean as Grafana reads it: an unreadable value means the default."""
    return text in TRUE if text in TRUE + FALSE else default in TRUE


@dataclass(frozen=True)
class Setting:
    """One setting's effective value and where it comes from (``origin`` compose|ini|image|default)."""

    name: str
    value: str
    origin: str
    raw: str            # as written: compose before interpolation, the ini line's value
    file: str
    key: str
    line: int | None

    def finding(self, problem: str, fix: str) -> Finding:
        return Finding(self.file, self.key, self.line, problem, fix)

    def where(self) -> str:
        if self.origin == "default":
            return f"{self.name} unset (Grafana's default {self.value!r})"
        at = f"{self.file}:{self.line}" if self.line else self.file
        return f"{at} {self.key}"


@dataclass(frozen=True)
class ProvisioningFile:
    """A provisioning or dashboard file: its container path, host path, and parsed doc or why not."""

    container: str
    host: Path
    doc: YamlDoc | None
    error: Finding | None


def _unquote(value: str) -> str:
    """A go-ini value: in triple, double or back quotes verbatim, else cut at a ``#`` or ``;`` comment."""
    for quote in ('"""', '"', "`"):
        if len(value) >= 2 * len(quote) and value.startswith(quote) and value.endswith(quote):
            return value[len(quote):-len(quote)]
    return re.split(r"[#;]", value, maxsplit=1)[0].strip()


def _ini(path: Path, name: str) -> dict[str, tuple[str, int]]:
    """``section.key`` -> (value, line) of a grafana.ini as go-ini reads it (comments, quotes)."""
    out: dict[str, tuple[str, int]] = {}
    section = ""
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = text.strip()
        if not line or line[0] in ";#":
            continue
        if found := _INI_SECTION.match(line):
            section = found[1].strip()
            continue
        if not (found := _INI_KEY.match(line)):
            raise ConfigUnreadable(Finding(name, f"line {number}", number, f"not a key = value line: {line!r}",
                                           "write key = value under a [section]"))
        out[f"{section}.{found[1].strip()}" if section else found[1].strip()] = (_unquote(found[2].strip()), number)
    return out


class GrafanaConf:
    """Settings and provisioning of one compose grafana service.

    ``compose`` (the compose file as written) supplies lines and the uninterpolated values of
    the service's environment; without it, findings name the variable only.
    """

    def __init__(self, spec: ServiceSpec, compose: YamlDoc | None = None) -> None:
        self.spec = spec
        self.compose = compose
        self.env = {**IMAGE_ENV, **spec.environment}
        self._boards: dict[str, list[ProvisioningFile]] = {}

    # --- settings -------------------------------------------------------------------

    def _raw_environment(self) -> dict[str, tuple[str, str]]:
        """Variable -> (dotted compose key, value as written) of the service's environment."""
        block = f"services.{self.spec.name}.environment"
        raw = (self.compose.get(block) if self.compose else None) or {}
        if isinstance(raw, dict):
            return {str(k): (f"{block}.{k}", "" if v is None else str(v)) for k, v in raw.items()}
        return {str(item).partition("=")[0]: (f"{block}[{i}]", str(item).partition("=")[2]) for i, item in enumerate(raw)}

    def _at(self, key: str) -> tuple[str, int | None]:
        return (self.compose.name, self.compose.line(key)) if self.compose else ("compose file", None)

    def env_setting(self, var: str) -> Setting | None:
        """The compose (or image) environment variable ``var``; None when neither sets it."""
        if var not in self.env:
            return None
        if var not in self.spec.environment:
            return Setting(var, self.env[var], "image", self.env[var], "grafana image", f"ENV {var}", None)
        key, raw = self._raw_environment().get(var, (f"services.{self.spec.name}.environment", self.env[var]))
        file, line = self._at(key)
        return Setting(var, self.env[var], "compose", raw, file, key, line)

    @cached_property
    def ini_path(self) -> tuple[str, Path | None]:
        """(container path, host file or None when the image's own, all-default file is used)."""
        container = self.env["GF_PATHS_CONFIG"]
        try:
            host = mounted_path(self.spec, container)
        except InputError:
            return container, None
        return container, host if host.is_file() else None

    @cached_property
    def ini(self) -> dict[str, tuple[str, int]]:
        """The mounted grafana.ini's settings; ConfigUnreadable when it cannot be read."""
        host = self.ini_path[1]
        return _ini(host, shown(host)) if host else {}

    def setting(self, name: str) -> Setting:
        """``name`` (``section.key``) as Grafana resolves it: env over grafana.ini over defaults.

        An empty variable overrides nothing (Grafana applies only non-empty ones).
        """
        found = self.env_setting(env_name(name))
        if found is not None and found.value:
            return Setting(name, found.value, found.origin, found.raw, found.file, found.key, found.line)
        if name in self.ini:
            host = self.ini_path[1]
            assert host is not None
            raw, line = self.ini[name]
            return Setting(name, self.expand(raw), "ini", raw, shown(host), name, line)
        key = f"services.{self.spec.name}.environment"
        file, at = self._at(key)
        return Setting(name, DEFAULTS.get(name, ""), "default", "", file, key, at)

    def expand(self, value: str) -> str:
        """An ini value with ``$__env{VAR}`` / ``${VAR}`` replaced from the container's environment."""
        return _ENV_REF.sub(lambda m: self.env.get(m[1] or m[2], ""), value)

    def flag(self, name: str) -> bool:
        return as_bool(self.setting(name).value, DEFAULTS.get(name, "false"))

    def root_url(self) -> str:
        """``server.root_url`` with its ``%(name)s`` references to [server] settings expanded."""
        return re.sub(r"%\((\w+)\)s", lambda m: self.setting(f"server.{m[1]}").value, self.setting("server.root_url").value)

    def from_deploy(self, mount: Mount) -> bool:
        """Whether compose names the mount's source through a variable (supplied at deploy time, like
        ``${OBS_SECRETS_DIR}``) rather than as a path that ships with the compose file."""
        raw = (self.compose.get(f"services.{self.spec.name}.volumes") if self.compose else None) or []
        index = self.spec.mounts.index(mount)
        item = raw[index] if index < len(raw) else ""
        return "$" in str(item.get("source", "") if isinstance(item, dict) else item).partition(":")[0]

    # --- provisioning ---------------------------------------------------------------

    @property
    def provisioning_dir(self) -> str:
        return self.env["GF_PATHS_PROVISIONING"].rstrip("/")

    def provisioning_files(self, kind: str) -> list[ProvisioningFile]:
        """The ``*.yml``/``*.yaml`` files Grafana reads in ``<provisioning>/<kind>``, parsed or not."""
        directory = f"{self.provisioning_dir}/{kind}"
        try:
            entries = mounted_entries(self.spec, directory)
        except InputError:
            return []
        out = []
        for name in sorted(n for n in entries if n.endswith((".yml", ".yaml")) and entries[n].is_file()):
            host = entries[name]
            try:
                out.append(ProvisioningFile(f"{directory}/{name}", host, YamlDoc.load(host, shown(host)), None))
            except InputError as exc:
                out.append(ProvisioningFile(f"{directory}/{name}", host, None, Finding.of(exc)))
        return out

    @cached_property
    def datasource_files(self) -> list[ProvisioningFile]:
        return self.provisioning_files("datasources")

    @cached_property
    def dashboard_provider_files(self) -> list[ProvisioningFile]:
        return self.provisioning_files("dashboards")

    def dashboards(self, container_dir: str) -> list[ProvisioningFile]:
        """Every ``*.json`` below ``container_dir`` as the container sees it (bind mounts only), parsed once."""
        if container_dir not in self._boards:
            self._boards[container_dir] = self._read_dashboards(container_dir)
        return self._boards[container_dir]

    def _read_dashboards(self, container_dir: str) -> list[ProvisioningFile]:
        try:
            host = mounted_path(self.spec, container_dir)
        except InputError:
            return []
        if not host.is_dir():
            return []
        out = []
        for path in sorted(host.rglob("*.json")):
            container = f"{container_dir.rstrip('/')}/{path.relative_to(host).as_posix()}"
            try:
                board = YamlDoc.parse_json(path.read_text(encoding="utf-8"), shown(path))
                out.append(ProvisioningFile(container, path, board, None))
            except InputError as exc:
                out.append(ProvisioningFile(container, path, None, Finding.of(exc)))
        return out

    def entries(self, files: list[ProvisioningFile], list_key: str) -> list[tuple[YamlDoc, str, dict[str, Any]]]:
        """(doc, dotted key, item) of each mapping in ``list_key`` of the readable ``files``."""
        return [(f.doc, f"{list_key}[{i}]", item) for f in files if f.doc is not None and isinstance(f.doc.data, dict)
                for i, item in enumerate(f.doc.data.get(list_key) or []) if isinstance(item, dict)]

    def datasources(self) -> list[tuple[YamlDoc, str, dict[str, Any]]]:
        return self.entries(self.datasource_files, "datasources")

    def file_providers(self) -> list[tuple[YamlDoc, str, dict[str, Any]]]:
        """The dashboard providers of type file (the default type)."""
        return [e for e in self.entries(self.dashboard_provider_files, "providers") if e[2].get("type", "file") == "file"]


def datasource_timeout(item: dict[str, Any]) -> int | None:
    """A datasource's own ``jsonData.timeout`` in seconds; None when it has none and ``[dataproxy] timeout`` applies.

    As Grafana's DataSource.getTimeout reads it: a number, or digits in a string; 0 or less counts as none.
    """
    json_data = item.get("jsonData")
    raw = json_data.get("timeout") if isinstance(json_data, dict) else None
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, (int, float)):
        seconds = int(raw)
    elif isinstance(raw, str) and raw.strip().isdigit():
        seconds = int(raw.strip())
    else:
        return None
    return seconds if seconds > 0 else None


def provider_path(provider: dict[str, Any]) -> str | None:
    """A file provider's ``options.path`` (the container directory it reads), None when unset."""
    options = provider.get("options")
    path = options.get("path") if isinstance(options, dict) else None
    return str(path).rstrip("/") or "/" if path else None


def strict(files: list[ProvisioningFile]) -> list[ProvisioningFile]:
    """``files``, raising ConfigUnreadable for the first that cannot be read (for the live checks)."""
    for f in files:
        if f.error is not None:
            raise ConfigUnreadable(f.error)
    return files
