"""What each service's config points at: addresses it connects to, files it reads, directories it writes.

The client end of every link between files, with file, key and line, read from the
configs as the compose file mounts them. ``wiring`` judges whether the other end (a
compose service, its network and listening port, a mount) exists.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from obsgate.checks.static.compose import STATE_DIRS
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import ServiceSpec, image_repository
from obsgate.stackfiles.grafana import FILE_REF, GrafanaConf
from obsgate.stackfiles.mounts import flag_value
from obsgate.stackfiles.nginx import NginxConf, chains, children, set_value

DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "smtp": 25}
_URL_IN_TEXT = re.compile(r"\bhttps?://[^\s'\"|;]+")
# Alertmanager keys that name a server it connects to (receivers, global, http_config).
ALERTMANAGER_URL_KEYS = ("url", "api_url", "smarthost", "proxy_url", "slack_api_url", "smtp_smarthost", "opsgenie_api_url",
                         "victorops_api_url", "pagerduty_url", "wechat_api_url", "telegram_api_url", "webex_api_url")
# nginx directives naming a file it reads at start-up (paths relative to its prefix /etc/nginx).
NGINX_FILE_DIRECTIVES = ("ssl_certificate", "ssl_certificate_key", "ssl_trusted_certificate", "ssl_client_certificate",
                         "ssl_dhparam", "ssl_password_file", "ssl_crl", "auth_basic_user_file")
NGINX_PREFIX = "/etc/nginx"
# Loki keys naming a directory it writes (absolute values only; relative ones follow the working directory).
LOKI_WRITES = ("common.path_prefix", "common.storage.filesystem.chunks_directory",
               "common.storage.filesystem.rules_directory", "storage_config.filesystem.directory",
               "storage_config.tsdb_shipper.active_index_directory", "storage_config.tsdb_shipper.cache_location",
               "storage_config.boltdb_shipper.active_index_directory", "storage_config.boltdb_shipper.cache_location",
               "ingester.wal.dir", "compactor.working_directory", "ruler.rule_path", "ruler.wal.dir",
               "ruler.storage.local.directory")


@dataclass(frozen=True)
class Where:
    """A place in a file: what the finding names as this end of the link."""

    file: str
    key: str
    line: int | None

    def __str__(self) -> str:
        return f"{self.file}:{self.line} {self.key}" if self.line else f"{self.file} {self.key}"


@dataclass(frozen=True)
class Address:
    """An address ``client``'s config connects to."""

    client: str
    where: Where
    text: str               # as written
    scheme: str
    host: str
    port: int | None        # None: not a valid port
    browser: bool = False   # reached by the user's browser, not by the client container
    context: str = ""       # e.g. the nginx location it serves


@dataclass(frozen=True)
class FileRef:
    """A file (or glob) ``service`` reads at the container path ``path``."""

    service: str
    where: Where
    path: str
    glob: bool = False


@dataclass(frozen=True)
class WrittenDir:
    """A directory ``service`` writes its state to."""

    service: str
    where: Where
    path: str


def parse_address(text: str, scheme: str = "http") -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL or ``host:port``; None when it is no address (templates, variables, sockets)."""
    text = text.strip()
    if not text or "{{" in text or "$" in text or "unix:" in text:
        return None
    parts = urlsplit(text if "://" in text else f"{scheme}://{text}")
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return parts.scheme, parts.hostname, None
    return parts.scheme, parts.hostname, port if port is not None else DEFAULT_PORTS.get(parts.scheme)


def _address(client: str, where: Where, text: str, scheme: str = "http", **extra: Any) -> list[Address]:
    parsed = parse_address(text, scheme)
    return [Address(client, where, text, *parsed, **extra)] if parsed else []


def walk(value: Any, key: str = "") -> Iterator[tuple[str, str, Any]]:
    """(dotted key, key name, value) of every scalar in a parsed document."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from (walk(v, f"{key}.{k}" if key else str(k)) if isinstance(v, (dict, list))
                        else [(f"{key}.{k}" if key else str(k), str(k), v)])
    elif isinstance(value, list):
        name = key.rpartition(".")[2].split("[")[0]
        for i, v in enumerate(value):
            yield from walk(v, f"{key}[{i}]") if isinstance(v, (dict, list)) else [(f"{key}[{i}]", name, v)]


def _at(doc: YamlDoc, key: str) -> Where:
    return Where(doc.name, key, doc.line(key))


# --- addresses -----------------------------------------------------------------------


def grafana_addresses(conf: GrafanaConf) -> list[Address]:
    """Each provisioned datasource's url (``access: direct`` ones are fetched by the browser)."""
    return [a for doc, key, ds in conf.datasources() if ds.get("url")
            for a in _address(conf.spec.name, _at(doc, f"{key}.url"), conf.expand(str(ds["url"])),
                              browser=ds.get("access") == "direct")]


def prometheus_addresses(doc: YamlDoc, client: str) -> list[Address]:
    """Scrape targets (with their job's scheme), Alertmanagers, remote write/read endpoints."""
    out = []
    for section, list_key in (("scrape_configs", "static_configs"), ("alerting.alertmanagers", "static_configs")):
        for i, job in enumerate(doc.get(section) or []):
            for j, static in enumerate(job.get(list_key) or []):
                for k, target in enumerate(static.get("targets") or []):
                    key = f"{section}[{i}].{list_key}[{j}].targets[{k}]"
                    out += _address(client, _at(doc, key), str(target), str(job.get("scheme", "http")))
    for section in ("remote_write", "remote_read"):
        for i, endpoint in enumerate(doc.get(section) or []):
            out += _address(client, _at(doc, f"{section}[{i}].url"), str(endpoint.get("url", "")))
    return out


def alertmanager_addresses(doc: YamlDoc, client: str) -> list[Address]:
    """Every receiver and global endpoint (webhooks, Slack API, SMTP smarthosts, proxies)."""
    return [a for key, name, value in walk(doc.data) if name in ALERTMANAGER_URL_KEYS and isinstance(value, str)
            for a in _address(client, _at(doc, key), value, "smtp" if name.endswith("smarthost") else "http")]


def loki_addresses(doc: YamlDoc, client: str) -> list[Address]:
    """The ruler's Alertmanager URLs (comma-separated)."""
    urls = str(doc.get("ruler.alertmanager_url") or "")
    return [a for url in urls.split(",") if url.strip()
            for a in _address(client, _at(doc, "ruler.alertmanager_url"), url)]


def nginx_addresses(conf: NginxConf, client: str) -> list[Address]:
    """``proxy_pass`` / ``grpc_pass`` targets, through ``set`` variables and ``upstream`` blocks."""
    upstreams = {d["args"][0]: d for d in children(conf.http, "upstream")}
    out = []
    for chain in chains(conf.http, [conf.http]):
        directive = chain[-1]
        if directive["directive"] not in ("proxy_pass", "grpc_pass") or not directive["args"]:
            continue
        text = directive["args"][0]
        if text.startswith("$"):
            text = set_value(chain[:-1], text.split("/")[0]) or text
        location = next((" ".join(d["args"]) for d in reversed(chain) if d["directive"] == "location"), "")
        where = Where(conf.name, f"location {location}.{directive['directive']}", directive["line"])
        scheme = "grpc" if directive["directive"] == "grpc_pass" else "http"
        host = (parse_address(text, scheme) or ("", "", None))[1]
        if host in upstreams and "://" in text and urlsplit(text).port is None:
            for server in children(upstreams[host], "server"):
                out += _address(client, Where(conf.name, f"upstream {host}.server", server["line"]), server["args"][0],
                                scheme, context=location)
        else:
            out += _address(client, where, text, scheme, context=location)
    return out


def healthcheck_addresses(spec: ServiceSpec, compose: YamlDoc) -> list[Address]:
    """URLs in the service's compose healthcheck command (probed from inside the service)."""
    if spec.healthcheck is None:
        return []
    where = _at(compose, f"services.{spec.name}.healthcheck.test")
    return [a for url in _URL_IN_TEXT.findall(" ".join(spec.healthcheck.test)) for a in _address(spec.name, where, url)]


# --- files read -----------------------------------------------------------------------


def _relative_to(base: str, path: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))


def config_file_refs(doc: YamlDoc, service: str, container_config: str) -> list[FileRef]:
    """``*_file`` keys, ``rule_files`` / ``templates`` / ``file_sd_configs.files`` globs (relative to the config)."""
    base = posixpath.dirname(container_config)
    out = []
    for key, name, value in walk(doc.data):
        if not isinstance(value, str) or not value or "$" in value:
            continue
        if name.endswith("_file") or key == "runtime_config.file":
            out.append(FileRef(service, _at(doc, key), _relative_to(base, value)))
        elif name in ("rule_files", "templates", "files") and "[" in key.rpartition(".")[2]:
            out.append(FileRef(service, _at(doc, key), _relative_to(base, value), glob=any(c in value for c in "*?[")))
    return out


def nginx_file_refs(conf: NginxConf, service: str) -> list[FileRef]:
    """Certificates, keys and htpasswd files nginx opens (variables and ``data:`` values skipped)."""
    return [FileRef(service, Where(conf.name, " ".join([d["directive"], *d["args"]]), d["line"]),
                    _relative_to(NGINX_PREFIX, d["args"][0]))
            for chain in chains(conf.http, [conf.http]) for d in chain[-1:]
            if d["directive"] in NGINX_FILE_DIRECTIVES and d["args"] and d["args"][0] != "off"
            and "$" not in d["args"][0] and not d["args"][0].startswith("data:")]


def grafana_file_refs(conf: GrafanaConf) -> list[FileRef]:
    """``GF_*__FILE`` variables and ``$__file{path}`` in grafana.ini and provisioning files."""
    out = []
    for var in sorted(conf.spec.environment):
        setting = conf.env_setting(var)
        if var.endswith("__FILE") and setting is not None:
            out.append(FileRef(conf.spec.name, Where(setting.file, setting.key, setting.line), setting.value))
    host = conf.ini_path[1]
    for name, (value, line) in conf.ini.items():
        out += [FileRef(conf.spec.name, Where(str(host), name, line), p) for p in FILE_REF.findall(value)]
    for f in [*conf.datasource_files, *conf.dashboard_provider_files]:
        for key, _, value in walk(f.doc.data if f.doc else None):
            out += [FileRef(conf.spec.name, _at(f.doc, key), p) for p in FILE_REF.findall(str(value))] if f.doc else []
    return out


# --- directories written --------------------------------------------------------------


def loki_writes(doc: YamlDoc, service: str) -> list[WrittenDir]:
    return [WrittenDir(service, _at(doc, key), str(doc.get(key))) for key in LOKI_WRITES
            if isinstance(doc.get(key), str) and str(doc.get(key)).startswith("/")]


def flag_writes(spec: ServiceSpec, compose: YamlDoc) -> list[WrittenDir]:
    """Prometheus' TSDB, Alertmanager's storage: the command-line flag, else the image's directory."""
    state = STATE_DIRS.get(image_repository(spec.image))
    if state is None or state.flag is None:
        return []
    path = flag_value(spec.command or (), (state.flag,), state.default)
    return [WrittenDir(spec.name, _at(compose, f"services.{spec.name}.command"), path)]


def grafana_writes(conf: GrafanaConf) -> list[WrittenDir]:
    """Grafana's data directory (SQLite database, plugins, sessions) and an absolute database path."""
    out = []
    for setting, path in ((data := conf.setting("paths.data"), data.value),
                          (db := conf.setting("database.path"), posixpath.dirname(db.value))):
        if path.startswith("/"):
            out.append(WrittenDir(conf.spec.name, Where(setting.file, setting.key, setting.line), path))
    return out
