"""Policy checks on the compose file as written (before interpolation, so defaults are visible)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from obsgate.checks.static.base import argv_of
from obsgate.core.findings import Finding
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import image_repository
from obsgate.stackfiles.mounts import flag_value

EDGE_SERVICE = "nginx"  # the one service clients reach; everything else stays on the stack network
LOOPBACK = ("127.0.0.1", "::1", "[::1]", "localhost")
RESTART_OK = ("always", "unless-stopped", "on-failure")
# Semver-like tag with all three numbers (a trailing variant such as -alpine is allowed).
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-_.+][A-Za-z0-9_.+-]+)?$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|WEBHOOK|CREDENTIAL", re.I)
REQUIRED_VAR = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:?\?[^}]*\}$")
DEFAULTED_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-[^}]*\}")
NAMED_VOLUME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class StateDir:
    """Where an image keeps its state: a default, optionally moved by a flag or a variable."""

    default: str
    flag: str | None = None
    env: str | None = None


# By image repository. None: stateless. Loki's own directories are checked in detail by
# the Loki checks (compactor, WAL); here only the root of its state.
STATE_DIRS: dict[str, StateDir | None] = {
    "loki": StateDir("/loki"),
    "prometheus": StateDir("/prometheus", flag="--storage.tsdb.path"),
    "alertmanager": StateDir("/alertmanager", flag="--storage.path"),
    "grafana": StateDir("/var/lib/grafana", env="GF_PATHS_DATA"),
    "uptime-kuma": StateDir("/app/data"),
    "nginx": None,
}


def _services(doc: YamlDoc) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, svc in (doc.get("services") or {}).items():
        yield str(name), svc if isinstance(svc, dict) else {}


def _environment(svc: dict[str, Any]) -> Iterator[tuple[str, str | None, str]]:
    """(name, value, dotted key suffix) of each variable, list or mapping form."""
    env = svc.get("environment") or {}
    if isinstance(env, dict):
        for name, value in env.items():
            yield str(name), None if value is None else str(value), f"environment.{name}"
    else:
        for i, item in enumerate(env):
            name, eq, value = str(item).partition("=")
            yield name, value if eq else None, f"environment[{i}]"


def image_pins(doc: YamlDoc) -> list[Finding]:
    """Every image names an exact version (x.y.z tag) or a digest; never latest or x / x.y."""
    out = []
    for name, svc in _services(doc):
        key = f"services.{name}.image"
        ref = str(svc.get("image", ""))
        if DIGEST.search(ref):
            continue
        repo_tag = ref.rpartition("/")[2]
        tag = repo_tag.partition(":")[2]
        if "$" in ref:
            problem = f"image {ref} takes its version from a variable"
        elif not tag or tag == "latest":
            problem = f"image {ref} floats on latest"
        elif not EXACT_TAG.match(tag):
            problem = f"image {ref}: tag {tag!r} is not an exact version (floats over releases)"
        else:
            continue
        out.append(
            doc.finding(key, problem, f"pin an exact x.y.z tag (optionally @sha256 digest), e.g. {image_repository(ref)}:<x.y.z>")
        )
    return out


def secrets(doc: YamlDoc) -> list[Finding]:
    """Secret variables come from the environment as ${VAR:?...}: no literals, no fallbacks."""
    out = []
    for name, svc in _services(doc):
        for var, value, suffix in _environment(svc):
            if not SECRET_NAME.search(var) or var.upper().endswith("_FILE"):
                continue
            key = f"services.{name}.{suffix}"
            fix = f"use {var}: ${{SOME_VAR:?set SOME_VAR}} so a missing secret stops the deploy"
            if value is None or value == "":
                out.append(doc.finding(key, f"{var} is empty (the program falls back to its built-in default)", fix))
            elif REQUIRED_VAR.match(value):
                continue
            elif DEFAULTED_VAR.search(value):
                out.append(
                    doc.finding(
                        key,
                        f"{var} has a default fallback in ${{VAR:-...}}: a deploy without the secret silently uses a known value",
                        fix,
                    )
                )
            elif "$" in value:
                out.append(doc.finding(key, f"{var} is an optional variable (unset becomes empty)", fix))
            else:
                out.append(doc.finding(key, f"{var} is a literal ({len(value)} characters) committed in the compose file", fix))
    return out


def healthchecks(doc: YamlDoc) -> list[Finding]:
    """Every service has a healthcheck that is not disabled."""
    out = []
    for name, svc in _services(doc):
        hc = svc.get("healthcheck")
        test = hc.get("test") if isinstance(hc, dict) else None
        disabled = isinstance(hc, dict) and (hc.get("disable") is True or test in (["NONE"], "NONE"))
        if hc is None or disabled or not test:
            out.append(
                doc.finding(
                    f"services.{name}.healthcheck",
                    "no healthcheck: 'running' is all anyone can tell about it",
                    "add a healthcheck probing the service's readiness endpoint",
                )
            )
    return out


def restart_policies(doc: YamlDoc) -> list[Finding]:
    """Every service restarts after a crash or a host reboot."""
    out = []
    for name, svc in _services(doc):
        policy = str(svc.get("restart", "no")).split(":")[0]
        if policy not in RESTART_OK:
            out.append(
                doc.finding(
                    f"services.{name}.restart", f"restart policy {policy!r}: a crash stays down", "set restart: unless-stopped"
                )
            )
    return out


def _mount_targets(svc: dict[str, Any], volumes: set[str]) -> list[tuple[str, bool]]:
    """(target, persistent) of each mount: named volumes and writable binds persist."""
    out = []
    for item in svc.get("volumes") or []:
        if isinstance(item, dict):
            source, target = str(item.get("source", "")), str(item.get("target", ""))
            read_only = bool(item.get("read_only", False))
        else:
            parts = str(item).split(":")
            if len(parts) < 2:
                continue
            source, target, read_only = parts[0], parts[1], len(parts) > 2 and parts[2] == "ro"
        named = bool(NAMED_VOLUME.match(source)) and source in volumes
        out.append((target, named or not read_only))
    return out


def _state_dir(svc: dict[str, Any], state: StateDir) -> str:
    if state.flag:
        return flag_value(argv_of(svc.get("command")), (state.flag,), state.default)
    if state.env:
        return dict((n, v) for n, v, _ in _environment(svc)).get(state.env) or state.default
    return state.default


def state_volumes(doc: YamlDoc) -> list[Finding]:
    """Every stateful service keeps its data directory on a volume (survives re-creation)."""
    out = []
    volumes = {str(v) for v in (doc.get("volumes") or {})}
    for name, svc in _services(doc):
        repo = image_repository(str(svc.get("image", "")))
        key = f"services.{name}.volumes"
        if repo not in STATE_DIRS:
            out.append(
                doc.finding(
                    key,
                    f"obs-gate does not know where {repo} keeps its state",
                    f"mount a named volume at its data directory and add {repo} to obsgate/staticcheck/compose.py STATE_DIRS",
                )
            )
            continue
        state = STATE_DIRS[repo]
        if state is None:
            continue
        data_dir = PurePosixPath(_state_dir(svc, state))
        persistent = [PurePosixPath(t) for t, keep in _mount_targets(svc, volumes) if keep]
        if not any(data_dir == p or data_dir.is_relative_to(p) for p in persistent):
            out.append(
                doc.finding(
                    key,
                    f"{data_dir} (where {repo} keeps its data) is not on a volume: re-creating the container loses it",
                    f"mount a named volume at {data_dir}",
                )
            )
    return out


def _host_ip(item: Any) -> str | None:
    if isinstance(item, dict):
        return None if item.get("host_ip") is None else str(item["host_ip"])
    text = str(item).partition("/")[0]
    if text.startswith("["):  # [::1]:8080:80
        return text[: text.index("]") + 1]
    parts = text.split(":")
    return parts[0] if len(parts) == 3 else None


def published_ports(doc: YamlDoc) -> list[Finding]:
    """Only the edge proxy publishes ports for clients; any other port is loopback-bound at most."""
    out = []
    for name, svc in _services(doc):
        if name == EDGE_SERVICE:
            continue
        for i, item in enumerate(svc.get("ports") or []):
            host_ip = _host_ip(item)
            if host_ip in LOOPBACK:
                continue
            out.append(
                doc.finding(
                    f"services.{name}.ports[{i}]",
                    f"{name} publishes {item!s} on {host_ip or 'every interface'}: reachable without the "
                    f"proxy's TLS and authentication",
                    f"remove the port (use expose) and reach {name} through {EDGE_SERVICE}, or bind it to 127.0.0.1",
                )
            )
    return out
