"""The load generator's settings: Locust's ``--host`` plus custom arguments, each with an env var.

Registered on Locust's parser by ``add_arguments`` (they show in ``locust --help`` and, except
secrets' values, in the web UI's start form) and turned into one validated ``LoadOptions`` by
``from_namespace``: bad input is one ``OptionError`` naming the option, before any user spawns.
"""

from __future__ import annotations

import argparse
import math
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from obsgate.load import shapes
from obsgate.load.payloads import Cardinality, LineSizes, PayloadOptions

PUSH_PATH = "/loki/api/v1/push"
QUERY_PATH = "/loki/api/v1/query_range"
ENV_PREFIX = "OBSGATE_"
EXIT_BAD_INPUT = 2          # a load run stopped on bad input (Locust's exit code)


class OptionError(ValueError):
    """A load option that makes no sense; the message names the option and the fix."""


@dataclass(frozen=True)
class Argument:
    flag: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


ARGUMENTS = (
    Argument("--push-user", str, "", "basic-auth user for pushes (through nginx); empty: no auth (Loki directly)"),
    Argument("--push-password", str, "", "its password", secret=True),
    Argument("--read-user", str, "", "basic-auth user for the query user's LogQL queries"),
    Argument("--read-password", str, "", "its password", secret=True),
    Argument("--ca-file", str, "", "CA certificate (PEM) to verify an https --host against; empty: system CAs"),
    Argument("--run-tag", str, "", "value of the gate_run label on every pushed stream (default: random), "
             "to count this run's lines afterwards"),
    Argument("--lines-per-request", int, 1000, "log lines in one push"),
    Argument("--streams-per-request", int, 10, "streams in one push (lines are split evenly)"),
    Argument("--protobuf-ratio", float, 0.5, "share of pushes in protobuf+snappy (the rest JSON)"),
    Argument("--stores", int, 100, "stores (location label values)"),
    Argument("--terminals", int, 4, "terminals per store (terminal label values)"),
    Argument("--levels", int, 4, "log levels used (1-4: info, warn, error, debug)"),
    Argument("--line-bytes-min", int, 200, "shortest log line, bytes"),
    Argument("--line-bytes-mean", int, 1024, "mean log line size, bytes (triangular distribution)"),
    Argument("--line-bytes-max", int, 2048, "longest log line, bytes"),
    Argument("--stack-trace-ratio", float, 0.02, "share of error lines that are raw multi-line stack traces"),
    Argument("--variants", int, 4, "distinct bodies per user and format, cycled"),
    Argument("--user-rps", float, 1.0, "pushes per second each push user makes (shapes convert rates to users)"),
    Argument("--shape", str, "profile", "load shape: profile (seed warm-up/sustained/spike), step (step-up to "
             "saturation) or soak", choices=shapes.SHAPES),
    Argument("--profile-scale", float, 1.0, "profile: multiply every phase's duration (0.1 runs it in a tenth)"),
    Argument("--profile-rate-scale", float, 0.1, "profile: multiply every phase's push rate (0.1 x the seed's "
             "10/100/200 req/s in pushes of 1000 lines = 1k/10k/20k lines/s: the seed's target and burst)"),
    Argument("--step-start-rps", float, 2.0, "step: first step's pushes/s"),
    Argument("--step-rps", float, 2.0, "step: pushes/s added per step"),
    Argument("--step-s", float, 30.0, "step: seconds per step"),
    Argument("--step-max-rps", float, 40.0, "step: last step's pushes/s"),
    Argument("--soak-rps", float, 10.0, "soak: pushes/s"),
    Argument("--soak-s", float, 4 * 3600.0, "soak: seconds"),
    Argument("--max-run-s", float, 0.0, "hard cap on the run's length, seconds (0: the shape's length + 10%%)"),
    Argument("--query-interval-s", float, 2.0, "seconds between the query user's LogQL queries (0: no query user)"),
    Argument("--loki-metrics-url", str, "", "Loki's own /metrics (obsgate up prints it): the lines/s Loki accepted, "
             "in the web UI's obs-gate tab and the summary; empty: not shown"),
)


def add_arguments(parser: Any) -> None:
    """Register every argument on Locust's parser (``@events.init_command_line_parser``)."""
    for a in ARGUMENTS:
        extra: dict[str, Any] = {"include_in_web_ui": True}
        if a.secret:
            extra["is_secret"] = True
        if a.choices:
            extra["choices"] = list(a.choices)
        parser.add_argument(a.flag, type=a.kind, default=a.default, env_var=a.env,
                           help=f"{a.help} [env {a.env}]", **extra)


def defaults() -> argparse.Namespace:
    """Every argument at its default (or its env var), as Locust would parse an empty command line."""
    values = {}
    for a in ARGUMENTS:
        raw = os.environ.get(a.env)
        values[a.dest] = a.default if raw is None else a.kind(raw)
    return argparse.Namespace(host=None, **values)


@dataclass(frozen=True)
class LoadOptions:
    """Validated settings of one load run (what every push user and the shape read)."""

    host: str
    push_auth: tuple[str, str] | None
    read_auth: tuple[str, str] | None
    ca_file: Path | None
    run_tag: str
    payload: PayloadOptions
    user_rps: float
    plan: shapes.Plan
    query_interval_s: float
    loki_metrics_url: str = ""

    @property
    def tls(self) -> bool:
        return self.host.startswith("https://")


def _auth(user: str, password: str, flag: str) -> tuple[str, str] | None:
    if bool(user) != bool(password):
        missing = "password" if user else "user"
        raise OptionError(f"--{flag}-{missing} missing: give both --{flag}-user and --{flag}-password, or neither")
    return (user, password) if user else None


def _host(host: str | None) -> str:
    if not host:
        raise OptionError("no target: pass --host (nginx: https://127.0.0.1:PORT, or Loki: http://HOST:3100)")
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"--host {host!r} is not an http(s) URL (e.g. https://127.0.0.1:8443)")
    if parts.path.rstrip("/"):
        raise OptionError(f"--host {host!r} has a path: give the base URL, the push path {PUSH_PATH} is added")
    return host.rstrip("/")


def _metrics_url(url: str) -> str:
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.hostname):
        raise OptionError(f"--loki-metrics-url {url!r} is not an http(s) URL (e.g. what obsgate up exports as "
                          "OBSGATE_LOKI_METRICS_URL: Loki's port 3100 on the run network, /metrics)")
    return url


def plan_from(ns: argparse.Namespace) -> shapes.Plan:
    """The shape's phases from the shape arguments; OptionError on ones that make no sense."""
    cap = ns.max_run_s if ns.max_run_s else None
    if cap is not None and (not math.isfinite(cap) or cap < 0):
        raise OptionError(f"--max-run-s must be >= 0, got {ns.max_run_s}")
    try:
        if ns.shape == "profile":
            return shapes.seed_profile(ns.profile_scale, ns.profile_rate_scale, cap)
        if ns.shape == "step":
            return shapes.step_up(ns.step_start_rps, ns.step_rps, ns.step_s, ns.step_max_rps, cap)
        if ns.shape == "soak":
            return shapes.soak(ns.soak_rps, ns.soak_s, hard_cap_s=cap)
    except ValueError as exc:
        raise OptionError(f"--shape {ns.shape}: {exc}") from None
    raise OptionError(f"--shape must be one of {', '.join(shapes.SHAPES)}, got {ns.shape!r}")


def from_namespace(ns: argparse.Namespace, plan: shapes.Plan | None = None) -> LoadOptions:
    """Validate parsed arguments into LoadOptions (``plan`` given: a programmatic run's own shape)."""
    host = _host(getattr(ns, "host", None))
    ca = Path(ns.ca_file) if ns.ca_file else None
    if ca is not None and not ca.is_file():
        raise OptionError(f"--ca-file {ca}: no such file")
    if ca is not None and not host.startswith("https://"):
        raise OptionError(f"--ca-file given but --host {host} is not https")
    payload = PayloadOptions(
        lines_per_request=ns.lines_per_request, streams_per_request=ns.streams_per_request,
        protobuf_ratio=ns.protobuf_ratio,
        cardinality=Cardinality(stores=ns.stores, terminals=ns.terminals, levels=ns.levels),
        sizes=LineSizes(ns.line_bytes_min, ns.line_bytes_max, ns.line_bytes_mean),
        stack_trace_ratio=ns.stack_trace_ratio, variants=ns.variants)
    try:
        payload.validate()
    except ValueError as exc:
        raise OptionError(f"payload options: {exc}") from None
    if not math.isfinite(ns.user_rps) or ns.user_rps <= 0:
        raise OptionError(f"--user-rps must be > 0, got {ns.user_rps}")
    if not math.isfinite(ns.query_interval_s) or ns.query_interval_s < 0:
        raise OptionError(f"--query-interval-s must be >= 0, got {ns.query_interval_s}")
    return LoadOptions(
        host=host,
        push_auth=_auth(ns.push_user, ns.push_password, "push"),
        read_auth=_auth(ns.read_user, ns.read_password, "read"),
        ca_file=ca,
        run_tag=ns.run_tag or f"locust-{uuid.uuid4().hex[:10]}",
        payload=payload,
        user_rps=ns.user_rps,
        plan=plan if plan is not None else plan_from(ns),
        query_interval_s=ns.query_interval_s,
        loki_metrics_url=_metrics_url(ns.loki_metrics_url),
    )
