"""Read stack/docker-compose.yml into typed service specs: the gate's single source of truth.

Only the compose keys the harness really applies are accepted; anything else stops
the run before a container starts, naming file, key and fix. A gate that quietly
ignored ``cap_add`` or ``secrets`` would test a different stack than production runs.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path, PurePosixPath
from typing import Any

from obsgate.core.errors import InputError
from obsgate.core.findings import shown
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.interpolate import InterpolationError, interpolate

TOP_LEVEL_KEYS = {"name", "version", "services", "networks", "volumes"}
SERVICE_KEYS = {
    "image",
    "command",
    "entrypoint",
    "environment",
    "volumes",
    "ports",
    "expose",
    "healthcheck",
    "depends_on",
    "restart",
    "networks",
    "deploy",
    "user",
    "labels",
    "mem_limit",
    "read_only",
    "tmpfs",
    "cap_drop",
    "cap_add",
    "security_opt",
    "container_name",
    "stop_grace_period",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
DEPENDS_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART_POLICIES = {"no", "always", "on-failure", "unless-stopped"}
DEFAULT_NETWORK = "default"

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")
_TAG_VERSION = re.compile(r"^v?(\d+(?:\.\d+)+)")    # at least major.minor: a bare number may be a date
# Docker's byte values (compose spec "byte value"; docker-py parse_bytes): binary units, an optional trailing b.
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def memory_bytes(value: str | int) -> int:
    """A compose memory size (``2g``, ``512m``, ``1gb``, ``268435456``) in bytes, as Docker reads it (1g = 1 GiB)."""
    found = _BYTES.match(str(value).strip())
    if found is None:
        raise ValueError(f"not a byte value: {value!r}")
    return int(float(found[1]) * _BYTE_UNITS[found[2].lower()])


def image_version(ref: str) -> tuple[int, int, int] | None:
    """``grafana/loki:2.9.3`` -> (2, 9, 3); None when the tag is not a version."""
    tag = ref.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
    match = _VERSION.match(tag)
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def tag_version(ref: str) -> str | None:
    """The version an image's tag names, as many parts as it gives: ``prom/prometheus:v2.48.1`` -> ``2.48.1``,
    ``standin/prometheus:2.42.0-debian`` -> ``2.42.0``, ``nginx:1.25`` -> ``1.25``; None for a tag without
    one (``latest``, ``main``, a bare ``1`` or a date) or no tag at all (a digest only)."""
    tag = ref.split("@", 1)[0].rpartition("/")[2].partition(":")[2]
    match = _TAG_VERSION.match(tag)
    return match[1] if match else None


def image_repository(ref: str) -> str:
    """The image's name without registry, namespace and tag: ``prom/prometheus:v2`` -> prometheus."""
    return ref.split("@", 1)[0].rpartition("/")[2].partition(":")[0]


@dataclass(frozen=True)
class Healthcheck:
    """A compose healthcheck in exec form (``CMD-SHELL x`` becomes ``/bin/sh -c x``)."""

    test: tuple[str, ...]
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0

    @property
    def deadline_s(self) -> float:
        """How long compose itself would wait before calling the service unhealthy."""
        return self.start_period_s + self.interval_s * self.retries + self.timeout_s


@dataclass(frozen=True)
class Mount:
    kind: str  # "bind" | "volume"
    source: str  # absolute host path (bind) or compose volume name (volume)
    target: str
    read_only: bool


@dataclass(frozen=True)
class PortSpec:
    container_port: int
    protocol: str = "tcp"
    published: str | None = None
    host_ip: str | None = None


@dataclass(frozen=True)
class Dependency:
    service: str
    condition: str = "service_started"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str
    command: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    expose: tuple[int, ...] = ()
    healthcheck: Healthcheck | None = None
    depends_on: tuple[Dependency, ...] = ()
    restart: str | None = None
    networks: tuple[str, ...] = (DEFAULT_NETWORK,)
    mem_limit: str | None = None
    mem_reservation: str | None = None
    cpus: float | None = None
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    tmpfs: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    stop_grace_period_s: float | None = None

    def mount_over(self, path: str, kind: str | None = None) -> Mount | None:
        """The innermost mount (of ``kind``, if given) that ``path`` in the container lies in, or None."""
        inside = PurePosixPath(path)
        covering = [m for m in self.mounts if (kind is None or m.kind == kind) and inside.is_relative_to(m.target)]
        return max(covering, key=lambda m: len(PurePosixPath(m.target).parts), default=None)


@dataclass(frozen=True)
class ComposeProject:
    path: Path
    name: str
    services: Mapping[str, ServiceSpec]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]
    raw: Mapping[str, Any]  # the parsed file before interpolation, for static checks
    lines: Mapping[str, int] = field(default_factory=dict)     # of every key of ``raw``

    @property
    def doc(self) -> YamlDoc:
        """The file as written, with the line of every key: what the static checks judge and cite."""
        return YamlDoc(shown(self.path), self.raw, dict(self.lines))

    def start_levels(self) -> list[list[str]]:
        """Services grouped so each group depends only on earlier groups (start order)."""
        sorter = TopologicalSorter({n: {d.service for d in s.depends_on} for n, s in self.services.items()})
        sorter.prepare()
        levels: list[list[str]] = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            levels.append(ready)
            sorter.done(*ready)
        return levels


class _Reader:
    """Carries the file path so every error names it; one method per compose section."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path, self.env = path, env

    def fail(self, key: str, problem: str, fix: str) -> InputError:
        return InputError(self.path, key, problem, fix)

    def interp(self, value: Any, key: str) -> Any:
        """Interpolate every string inside ``value`` (keys are left alone, as compose does)."""
        if isinstance(value, str):
            try:
                return interpolate(value, self.env)
            except InterpolationError as exc:
                raise self.fail(key, str(exc), "export the variable or give it a default") from None
        if isinstance(value, list):
            return [self.interp(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: self.interp(v, f"{key}.{k}") for k, v in value.items()}
        return value

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {type(value).__name__}", "write it as key: value pairs")
        return value

    def duration(self, value: Any, key: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        text = str(value).strip()
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise self.fail(key, f"invalid duration {value!r}", "use compose durations such as 15s, 1m30s, 500ms")
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)

    def argv(self, value: Any, key: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        if isinstance(value, str):
            return tuple(shlex.split(value))
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v) for v in value)
        raise self.fail(key, "expected a string or a list of strings", 'write it as ["arg", ...]')

    def environment(self, value: Any, key: str) -> dict[str, str]:
        if value is None:
            return {}
        pairs: dict[str, Any] = {}
        if isinstance(value, list):
            for item in value:
                name, sep, val = str(item).partition("=")
                pairs[name] = val if sep else None
        elif isinstance(value, dict):
            pairs = value
        else:
            raise self.fail(key, "expected a mapping or a list of NAME=value", "write NAME: value pairs")
        out: dict[str, str] = {}
        for name, val in pairs.items():
            if val is None:  # "- NAME" passes the variable through from the environment
                if name not in self.env:
                    raise self.fail(f"{key}.{name}", f"{name} is passed through but not set", f"export {name}")
                val = self.env[name]
            out[str(name)] = "true" if val is True else "false" if val is False else str(val)
        return out

    def healthcheck(self, value: Any, key: str) -> Healthcheck | None:
        hc = self.mapping(value, key)
        unknown = set(hc) - HEALTHCHECK_KEYS
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", "unsupported healthcheck key", f"use only {sorted(HEALTHCHECK_KEYS)}")
        if not hc or hc.get("disable"):
            return None
        test = hc.get("test")
        if isinstance(test, str):
            argv: tuple[str, ...] = ("/bin/sh", "-c", test)
        elif isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL", "NONE"):
            if test[0] == "NONE":
                return None
            argv = ("/bin/sh", "-c", " ".join(map(str, test[1:]))) if test[0] == "CMD-SHELL" else tuple(map(str, test[1:]))
        else:
            raise self.fail(f"{key}.test", "missing or malformed test", 'use ["CMD-SHELL", "command"] or ["CMD", "argv", ...]')
        if not argv or not argv[-1]:
            raise self.fail(f"{key}.test", "empty healthcheck command", "give the command to run")
        retries = hc.get("retries", 3)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 1:
            raise self.fail(f"{key}.retries", f"invalid retries {retries!r}", "use a positive integer")
        return Healthcheck(
            test=argv,
            interval_s=self.duration(hc.get("interval", "30s"), f"{key}.interval"),
            timeout_s=self.duration(hc.get("timeout", "30s"), f"{key}.timeout"),
            retries=retries,
            start_period_s=self.duration(hc.get("start_period", "0s"), f"{key}.start_period"),
        )

    def mounts(self, value: Any, key: str, volumes: tuple[str, ...]) -> tuple[Mount, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, "expected a list", "write one mount per list item")
        out = []
        for i, item in enumerate(value):
            k = f"{key}[{i}]"
            if isinstance(item, str):
                parts = item.split(":")
                if len(parts) not in (2, 3):
                    raise self.fail(k, f"cannot parse mount {item!r}", "use source:target[:ro]")
                source, target = parts[0], parts[1]
                mode = parts[2] if len(parts) == 3 else "rw"
                if mode not in ("ro", "rw"):
                    raise self.fail(k, f"unsupported mount mode {mode!r}", "use ro or rw")
                read_only = mode == "ro"
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            elif isinstance(item, dict):
                kind, source, target = item.get("type", "volume"), str(item.get("source", "")), str(item.get("target", ""))
                read_only = bool(item.get("read_only", False))
                if kind not in ("bind", "volume") or not source or not target:
                    raise self.fail(k, f"unsupported mount {item!r}", "use type bind|volume with source and target")
            else:
                raise self.fail(k, "expected a string or a mapping", "use source:target[:ro]")
            if kind == "bind":
                host = (self.path.parent / Path(source).expanduser()).resolve()
                if not host.exists():
                    raise self.fail(
                        k, f"bind source {host} does not exist", "create the file or fix the path (relative to the compose file)"
                    )
                source = str(host)
            elif source not in volumes:
                raise self.fail(k, f"named volume {source!r} is not declared", f"add {source}: {{}} under top-level volumes")
            out.append(Mount(kind, source, target, read_only))
        return tuple(out)

    def ports(self, value: Any, key: str) -> tuple[PortSpec, ...]:
        if value is None:
            return ()
        out = []
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            k = f"{key}[{i}]"
            if isinstance(item, dict):
                target, protocol = item.get("target"), str(item.get("protocol", "tcp"))
                published = item.get("published")
                host_ip = item.get("host_ip")
            else:
                text, _, protocol = str(item).partition("/")
                protocol = protocol or "tcp"
                parts = text.rsplit(":", 2)
                target = parts[-1]
                published = parts[-2] if len(parts) >= 2 else None
                host_ip = parts[0] if len(parts) == 3 else None
            try:
                port = int(str(target))
            except ValueError:
                port = 0
            if not 1 <= port <= 65535:
                raise self.fail(k, f"cannot parse port {item!r}", "use [host_ip:]published:target[/protocol], ports 1-65535")
            out.append(PortSpec(port, protocol, str(published) if published not in (None, "") else None, host_ip or None))
        return tuple(out)

    def depends_on(self, value: Any, key: str) -> tuple[Dependency, ...]:
        if value is None:
            return ()
        if isinstance(value, list):
            return tuple(Dependency(str(v)) for v in value)
        out = []
        for name, spec in self.mapping(value, key).items():
            spec = self.mapping(spec, f"{key}.{name}")
            if set(spec) - {"condition"}:
                raise self.fail(
                    f"{key}.{name}.{sorted(set(spec) - {'condition'})[0]}",
                    "depends_on key not supported by obs-gate",
                    "use only condition",
                )
            condition = spec.get("condition", "service_started")
            if condition not in DEPENDS_CONDITIONS:
                raise self.fail(
                    f"{key}.{name}.condition", f"unknown condition {condition!r}", f"use one of {sorted(DEPENDS_CONDITIONS)}"
                )
            out.append(Dependency(str(name), condition))
        return tuple(out)

    def deploy(self, value: Any, key: str) -> tuple[str | None, str | None, float | None]:
        deploy = self.mapping(value, key)
        if set(deploy) - {"resources"}:
            raise self.fail(
                f"{key}.{sorted(set(deploy) - {'resources'})[0]}", "unsupported deploy key", "only deploy.resources is applied"
            )
        resources = self.mapping(deploy.get("resources"), f"{key}.resources")
        limits = self.mapping(resources.get("limits"), f"{key}.resources.limits")
        reservations = self.mapping(resources.get("reservations"), f"{key}.resources.reservations")
        for section, allowed, data in (("limits", {"memory", "cpus"}, limits), ("reservations", {"memory"}, reservations)):
            extra = set(data) - allowed
            if extra:
                raise self.fail(
                    f"{key}.resources.{section}.{sorted(extra)[0]}", "unsupported resource key", f"use {sorted(allowed)}"
                )
        cpus = limits.get("cpus")
        return (
            None if limits.get("memory") is None else str(limits["memory"]),
            None if reservations.get("memory") is None else str(reservations["memory"]),
            None if cpus is None else float(cpus),
        )

    def byte_value(self, value: Any, key: str) -> str:
        try:
            memory_bytes(value)
        except ValueError:
            raise self.fail(key, f"invalid memory size {value!r}", "use a byte value such as 512m or 2g") from None
        return str(value)

    def mem_limit(self, value: Any, deployed: str | None, key: str) -> str | None:
        """``mem_limit`` (the service-level form) or ``deploy.resources.limits.memory``; both must agree, as compose demands."""
        if deployed is not None:
            deployed = self.byte_value(deployed, f"{key}.deploy.resources.limits.memory")
        if value is None:
            return deployed
        given = self.byte_value(value, f"{key}.mem_limit")
        if deployed is not None and memory_bytes(given) != memory_bytes(deployed):
            raise self.fail(f"{key}.mem_limit", f"mem_limit {given} differs from deploy.resources.limits.memory {deployed}",
                            "keep one of them (deploy.resources.limits.memory)")
        return given

    def service(self, name: str, raw: Any, volumes: tuple[str, ...], networks: tuple[str, ...]) -> ServiceSpec:
        key = f"services.{name}"
        svc = self.mapping(raw, key)
        unknown = set(svc) - SERVICE_KEYS
        if unknown:
            bad = sorted(unknown)[0]
            raise self.fail(
                f"{key}.{bad}",
                "compose key not supported by obs-gate",
                f"remove it or extend obsgate/compose.py; supported: {', '.join(sorted(SERVICE_KEYS))}",
            )
        svc = self.interp(svc, key)
        image = svc.get("image")
        if not isinstance(image, str) or not image:
            raise self.fail(f"{key}.image", "no image", "every service needs an image (build: is not supported)")
        restart = svc.get("restart")
        if restart is False:  # YAML reads an unquoted `restart: no` as false
            restart = "no"
        if restart is not None and str(restart).split(":")[0] not in RESTART_POLICIES:
            raise self.fail(f"{key}.restart", f"unknown restart policy {restart!r}", f"use one of {sorted(RESTART_POLICIES)}")
        svc_networks = svc.get("networks") or [DEFAULT_NETWORK]
        svc_networks = list(svc_networks) if isinstance(svc_networks, (list, dict)) else [svc_networks]
        for net in svc_networks:
            if net != DEFAULT_NETWORK and net not in networks:
                raise self.fail(
                    f"{key}.networks", f"network {net!r} is not declared", f"add {net}: {{}} under top-level networks"
                )
        mem_limit, mem_reservation, cpus = self.deploy(svc.get("deploy"), f"{key}.deploy")
        mem_limit = self.mem_limit(svc.get("mem_limit"), mem_limit, key)
        expose = []
        for i, port in enumerate(svc.get("expose") or []):
            try:
                expose.append(int(str(port).split("/")[0]))
            except ValueError:
                raise self.fail(f"{key}.expose[{i}]", f"invalid port {port!r}", "use a port number") from None
        grace = svc.get("stop_grace_period")
        return ServiceSpec(
            name=name,
            image=image,
            command=self.argv(svc.get("command"), f"{key}.command"),
            entrypoint=self.argv(svc.get("entrypoint"), f"{key}.entrypoint"),
            environment=self.environment(svc.get("environment"), f"{key}.environment"),
            mounts=self.mounts(svc.get("volumes"), f"{key}.volumes", volumes),
            ports=self.ports(svc.get("ports"), f"{key}.ports"),
            expose=tuple(expose),
            healthcheck=self.healthcheck(svc.get("healthcheck"), f"{key}.healthcheck"),
            depends_on=self.depends_on(svc.get("depends_on"), f"{key}.depends_on"),
            restart=None if restart is None else str(restart),
            networks=tuple(str(n) for n in svc_networks),
            mem_limit=mem_limit,
            mem_reservation=mem_reservation,
            cpus=cpus,
            user=None if svc.get("user") is None else str(svc["user"]),
            labels=self.environment(svc.get("labels"), f"{key}.labels"),
            read_only=bool(svc.get("read_only", False)),
            tmpfs=tuple(str(t) for t in (svc.get("tmpfs") or [])),
            cap_drop=tuple(str(c) for c in (svc.get("cap_drop") or [])),
            cap_add=tuple(str(c) for c in (svc.get("cap_add") or [])),
            security_opt=tuple(str(s) for s in (svc.get("security_opt") or [])),
            stop_grace_period_s=None if grace is None else self.duration(grace, f"{key}.stop_grace_period"),
        )


def load_compose(path: Path, env: Mapping[str, str]) -> ComposeProject:
    """Parse and validate ``path`` with ``env`` for interpolation; raise InputError on any problem."""
    reader = _Reader(path, env)
    source = YamlDoc.load(path, str(path), "compose file")
    doc = reader.mapping(source.data, "(top level)")
    unknown = {k for k in set(doc) - TOP_LEVEL_KEYS if not str(k).startswith("x-")}
    if unknown:
        raise reader.fail(
            sorted(unknown)[0],
            "top-level key not supported by obs-gate",
            f"use only {sorted(TOP_LEVEL_KEYS)} (and x- extensions)",
        )
    services_raw = reader.mapping(doc.get("services"), "services")
    if not services_raw:
        raise reader.fail("services", "no services defined", "declare the stack's services")
    volumes = tuple(str(v) for v in reader.mapping(doc.get("volumes"), "volumes"))
    networks = tuple(str(n) for n in reader.mapping(doc.get("networks"), "networks"))
    services = {str(n): reader.service(str(n), s, volumes, networks) for n, s in services_raw.items()}
    for svc in services.values():
        for dep in svc.depends_on:
            if dep.service not in services:
                raise reader.fail(
                    f"services.{svc.name}.depends_on.{dep.service}",
                    "depends on an undefined service",
                    f"define {dep.service} or remove the dependency",
                )
            if dep.condition == "service_healthy" and services[dep.service].healthcheck is None:
                raise reader.fail(
                    f"services.{svc.name}.depends_on.{dep.service}.condition",
                    f"service_healthy but {dep.service} has no healthcheck",
                    f"add a healthcheck to {dep.service}",
                )
    used_networks = {n for s in services.values() for n in s.networks}
    project = ComposeProject(
        path=path.resolve(),
        name=str(doc.get("name") or path.resolve().parent.name),
        services=services,
        networks=tuple(sorted(used_networks)),
        volumes=volumes,
        raw=doc,
        lines=source.lines,
    )
    try:
        project.start_levels()
    except CycleError as exc:
        cycle = " -> ".join(exc.args[1])
        raise reader.fail("services.*.depends_on", f"dependency cycle {cycle}", "break the cycle") from None
    return project
