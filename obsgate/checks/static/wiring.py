"""The stack's wiring across files: each link a config makes must land on something another file defines.

An address must name a compose service that shares a network with the client and a port
that service listens on according to its own config or command line; a file a config
opens must be mounted into that container; a directory a service writes its state to
must be on a writable, persistent mount. One finding per broken link, naming both ends.

Hosts: ``localhost`` and loopback addresses are the client itself; a single-label name can
only be resolved by Docker's embedded DNS, so it must be a compose service (else it is a
typo); dotted names and IP literals are outside the stack and not judged here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from obsgate.checks.static.references import Address, FileRef, WrittenDir
from obsgate.core.errors import InputError
from obsgate.core.findings import Finding, shown
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import ComposeProject, Mount, ServiceSpec, image_repository
from obsgate.stackfiles.grafana import GrafanaConf
from obsgate.stackfiles.mounts import flag_value, mounted_glob, mounted_path
from obsgate.stackfiles.nginx import NginxConf, listens

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")
WILDCARD = ("", "*", "0.0.0.0", "::", "[::]")
# --web.listen-address defaults, by image repository.
LISTEN_FLAGS = {"prometheus": ":9090", "alertmanager": ":9093"}
# Files every image has: a config may point at them without a mount.
IMAGE_FILES = ("/etc/ssl/certs/", "/etc/pki/", "/usr/share/ca-certificates/")


@dataclass(frozen=True)
class Listener:
    """A TCP port a service listens on, and where that is said."""

    port: int
    loopback: bool      # bound to a loopback address: only the service itself can connect
    where: str

    def __str__(self) -> str:
        return f"{self.port}{' on loopback only' if self.loopback else ''} ({self.where})"


def _split_listen(address: str, default_port: int) -> tuple[str, int | None]:
    """``0.0.0.0:9090`` / ``:9093`` / ``[::]:443`` / ``127.0.0.1:8081`` / ``80`` -> (host, port); "" = every address."""
    if address.isdigit():
        return "", int(address)
    host, sep, port = address.rpartition(":")
    if not sep or "]" in port:          # a host without a port: "localhost", "[::1]"
        host, port = address, ""
    host = host.strip("[]")
    try:
        number = int(port) if port else default_port
    except ValueError:
        return host, None
    return ("" if host in WILDCARD else host), number


def _listener(address: str, default_port: int, where: str) -> list[Listener]:
    host, port = _split_listen(address, default_port)
    return [] if port is None else [Listener(port, host in LOOPBACK_HOSTS, where)]


def loki_listeners(doc: YamlDoc) -> list[Listener]:
    """``server.http_listen_port`` (default 3100) on ``server.http_listen_address``."""
    port = doc.get("server.http_listen_port")
    where = (f"{doc.name}:{doc.line('server.http_listen_port')} server.http_listen_port" if port is not None
             else f"Loki's default; server.http_listen_port unset in {doc.name}")
    return _listener(f"{doc.get('server.http_listen_address') or ''}:{port or 3100}", 3100, where)


def flag_listeners(spec: ServiceSpec, compose: YamlDoc) -> list[Listener]:
    """Prometheus / Alertmanager: ``--web.listen-address`` in the compose command, else the default."""
    default = LISTEN_FLAGS[image_repository(spec.image)]
    address = flag_value(spec.command or (), ("--web.listen-address",), default)
    line = compose.line(f"services.{spec.name}.command")
    where = (f"{compose.name}:{line} services.{spec.name}.command --web.listen-address" if address != default
             else f"default --web.listen-address={default}")
    return _listener(address, int(default.rpartition(":")[2]), where)


def grafana_listeners(conf: GrafanaConf) -> list[Listener]:
    """``[server] http_port`` on ``http_addr`` (nothing for ``protocol = socket``)."""
    if conf.setting("server.protocol").value == "socket":
        return []
    port = conf.setting("server.http_port")
    return _listener(f"{conf.setting('server.http_addr').value}:{port.value}", 3000, port.where())


def nginx_listeners(conf: NginxConf) -> list[Listener]:
    """Every ``listen`` of every server (a server without one listens on *:80)."""
    out = []
    for server in conf.servers:
        for d in listens(server):
            if not d["args"][0].startswith("unix:"):
                out += _listener(d["args"][0], 80, f"{conf.name}:{d['line']} listen {' '.join(d['args'])}")
    return out


def compose_listeners(spec: ServiceSpec, compose: YamlDoc) -> list[Listener]:
    """For a program obs-gate does not read: the ports compose says it exposes."""
    ports = sorted({*spec.expose, *(p.container_port for p in spec.ports)})
    return [Listener(p, False, f"{compose.name} services.{spec.name}.expose/ports") for p in ports]


# --- judges ---------------------------------------------------------------------------


def _networks(spec: ServiceSpec, compose: YamlDoc) -> str:
    line = compose.line(f"services.{spec.name}.networks")
    return f"{spec.name} on {list(spec.networks)} ({compose.name}:{line} services.{spec.name}.networks)"


def _link_problem(a: Address, services: Mapping[str, ServiceSpec], listeners: Mapping[str, Sequence[Listener]],
                  compose: YamlDoc) -> tuple[str, str] | None:
    """(problem, fix) for one address, None when it lands on a listening service or is outside the stack."""
    host = a.host.lower()
    own = host in LOOPBACK_HOSTS
    if not own and host not in services:
        if "." in host or ":" in host:
            return None
        return (f"{a.text}: {host} is no compose service ({compose.name} defines {', '.join(sorted(services))})",
                "use the compose service name of the server it means")
    target = a.client if own else host
    if a.browser and not own:
        return (f"{a.text} is fetched by the user's browser (access: direct), which cannot resolve {host}: "
                "only containers on the stack network can", "use access: proxy (Grafana's server fetches it)")
    if not own and not set(services[a.client].networks) & set(services[target].networks):
        return (f"{a.text}: no shared network: {_networks(services[a.client], compose)}, "
                f"{_networks(services[target], compose)}", f"put {a.client} and {target} on a common network")
    heard = [listener for listener in listeners.get(target, []) if own or not listener.loopback]
    if a.port is not None and a.port in {listener.port for listener in heard}:
        return None
    said = "; ".join(map(str, listeners.get(target, []))) or "no port obs-gate can find (add expose)"
    return (f"{a.text}: {target} does not listen on {a.port if a.port is not None else 'that port'}"
            f"{'' if own else ' for other containers'}: it listens on {said}",
            f"point it at {target}'s port, or change the port {target} listens on in one place")


def unreachable(addresses: Sequence[Address], listeners: Mapping[str, Sequence[Listener]], project: ComposeProject,
                compose: YamlDoc) -> list[Finding]:
    """Every in-stack address names a service, on a shared network, at a port that service listens on."""
    out = []
    for a in addresses:
        found = _link_problem(a, project.services, listeners, compose)
        if found:
            out.append(Finding(a.where.file, a.where.key, a.where.line, *found))
    return out


def _mount_at(spec: ServiceSpec, path: str, compose: YamlDoc) -> tuple[Mount, str] | None:
    """The innermost mount covering ``path`` and its compose entry (``file:line key``)."""
    mount = spec.mount_over(path)
    if mount is None:
        return None
    key = f"services.{spec.name}.volumes[{spec.mounts.index(mount)}]"
    return mount, f"{compose.name}:{compose.line(key)} {key}"


def _file_problem(ref: FileRef, spec: ServiceSpec, compose: YamlDoc) -> tuple[str, str] | None:
    try:
        found: list[Path] = mounted_glob(spec, ref.path) if ref.glob else [mounted_path(spec, ref.path)]
    except InputError:
        found = []
        mount = _mount_at(spec, posixpath.dirname(ref.path) if ref.glob else ref.path, compose)
        if mount is not None and mount[0].kind == "volume":
            return (f"{ref.path} is on volume {mount[0].source} ({mount[1]}): whatever a container left there, "
                    "not a file the repository or the deploy's secrets provide", f"bind-mount the file at {ref.path}")
        if mount is None and ref.path.startswith(IMAGE_FILES):
            return None
    if ref.glob and not found:
        return (f"{ref.path} matches no file mounted into {spec.name}: it loads none and says nothing",
                "mount the directory holding them there, or fix the pattern")
    missing = [p for p in found if not p.exists()]
    if not found or missing:
        mount = _mount_at(spec, ref.path, compose)
        where = (f"{mount[1]} mounts {shown(Path(mount[0].source))} there, which has no such file" if mount
                 else "nothing is mounted there")
        return (f"{ref.path} is not in the {spec.name} container: {where}",
                f"mount the file at {ref.path} (a secret: from OBS_SECRETS_DIR), or point the config at the mounted one")
    return None


def unmounted(refs: Sequence[FileRef], project: ComposeProject, compose: YamlDoc) -> list[Finding]:
    """Every file a config opens (rule files, secrets, certificates) is mounted into that container."""
    out = []
    for ref in refs:
        found = _file_problem(ref, project.services[ref.service], compose)
        if found:
            out.append(Finding(ref.where.file, ref.where.key, ref.where.line, *found))
    return out


def _tmpfs_at(spec: ServiceSpec, path: PurePosixPath) -> str | None:
    """The innermost tmpfs (``path[:options]``) covering ``path``."""
    targets = [t.split(":")[0] for t in spec.tmpfs]
    return max((t for t in targets if path == PurePosixPath(t) or path.is_relative_to(t)), key=len, default=None)


def _write_problem(d: WrittenDir, spec: ServiceSpec, compose: YamlDoc) -> tuple[str, str] | None:
    mount = _mount_at(spec, d.path, compose)
    tmpfs = _tmpfs_at(spec, PurePosixPath(d.path))
    fix = f"mount a named volume (read-write) at {d.path} or a directory above it"
    if tmpfs is not None and (mount is None or len(tmpfs) > len(mount[0].target)):
        key = f"services.{spec.name}.tmpfs"
        return f"{d.path} is on tmpfs {tmpfs} ({compose.name}:{compose.line(key)} {key}): emptied at every restart", fix
    if mount is None:
        return f"{d.path} is on no mount: written into the container's own layer, lost when it is re-created", fix
    if mount[0].read_only:
        return f"{d.path} is on a read-only mount ({mount[1]}): {spec.name} cannot write its state", fix
    return None


def not_persistent(dirs: Sequence[WrittenDir], project: ComposeProject, compose: YamlDoc) -> list[Finding]:
    """Every directory a service writes its state to is on a writable mount that outlives the container."""
    out = []
    for d in dirs:
        found = _write_problem(d, project.services[d.service], compose)
        if found:
            out.append(Finding(d.where.file, d.where.key, d.where.line, *found))
    return out
