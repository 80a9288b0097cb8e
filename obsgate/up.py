"""``python -m obsgate up``: the gate's stack for a person (Locust's web UI, Grafana, curl) until Ctrl-C.

Brought up exactly as a gate run does (``GateRun``: same compose file, ``--image`` overrides,
pull policy and per-run secrets), then the gateway URL, the CA file and the push/read
credentials are printed -- as ``export`` lines for Locust and ``tests/load/locustfile.py``.
On Ctrl-C (or SIGTERM) everything the run created is removed: containers, networks, volumes,
the secrets directory and the env file; a second signal meanwhile does not cut that short.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import threading
from pathlib import Path

from obsgate.bringup.stack import ServiceHandle, State
from obsgate.clients import Gateway
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.options import PULL_POLICIES, RunOptions
from obsgate.core.stop import handle_signals, shielded
from obsgate.run import GateRun


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compose", type=Path, default=Path("stack/docker-compose.yml"), help="compose file")
    parser.add_argument("--policy", type=Path, default=Path("gate.yml"), help="gate policy (validated as the gate does)")
    parser.add_argument("--image", action="append", default=[], metavar="SERVICE=REF",
                        help="run SERVICE from image REF instead of the compose pin (repeatable); "
                             "also OBSGATE_IMAGE_<SERVICE>")
    parser.add_argument("--pull", choices=PULL_POLICIES, default="missing", help="pull absent images, or never")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="also write the export lines to this file (mode 0600; removed at teardown)")


def env_lines(gateway_url: str, ca_file: Path | None, push: tuple[str, str], read: tuple[str, str],
              http_url: str = "", loki_metrics_url: str | None = None) -> list[str]:
    """What Locust (``LOCUST_HOST``), the obs-gate load options and a gate run with ``--target`` read from the
    environment (``OBSGATE_HTTP_URL``: the plain-HTTP listener, for ``--target-http``).

    ``loki_metrics_url`` (Loki's own port on the run network) lets Locust's web UI show what Loki accepted.
    """
    values = {"LOCUST_HOST": gateway_url, "OBSGATE_HTTP_URL": http_url, "OBSGATE_CA_FILE": str(ca_file),
              "OBSGATE_PUSH_USER": push[0], "OBSGATE_PUSH_PASSWORD": push[1],
              "OBSGATE_READ_USER": read[0], "OBSGATE_READ_PASSWORD": read[1]}
    if loki_metrics_url:
        values["OBSGATE_LOKI_METRICS_URL"] = loki_metrics_url
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def _state(handle: ServiceHandle) -> str:
    if handle.state is State.READY:
        return f"ready after {handle.ready_after_s:.1f}s" if handle.ready_after_s is not None else "ready"
    return f"{handle.state.value}: {handle.reason.splitlines()[0] if handle.reason else ''}"


def main(args: argparse.Namespace, stop: threading.Event | None = None) -> int:
    """Bring the stack up, print how to reach it, wait for Ctrl-C (or ``stop``), tear down."""
    options = RunOptions(compose=args.compose, policy=args.policy, reports=Path("reports"),
                         images=tuple(args.image), pull=args.pull)
    try:
        run = GateRun.prepare(options)
    except InputError as exc:
        print(f"obs-gate up: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C and SIGTERM both tear down (SIGINT even when a shell started us with it ignored).
    main_thread = threading.current_thread() is threading.main_thread()
    restore = handle_signals(lambda name: f"\nobs-gate up: interrupted ({name}): stopping, removing run {run.run_id}") \
        if main_thread else None
    env_file: Path | None = args.env_file
    try:
        print(f"obs-gate up: run {run.run_id}: starting {', '.join(run.project.services)} ...", flush=True)
        stack = run.stack()
        for handle in stack:
            print(f"  {handle.name:<14} {handle.image.ref:<40} {_state(handle)}")
        nginx = stack["nginx"].require()
        gateway = Gateway(nginx, run.secrets)
        secrets = run.secrets
        loki = stack["loki"]
        metrics = loki.url(3100) + "/metrics" if loki.state is State.READY else None
        lines = env_lines(gateway.https_url(), secrets.ca_cert, secrets.push.pair, secrets.read.pair,
                          gateway.http_url(), metrics)
        print(f"\ngateway  {gateway.https_url()}  (TLS: verify with the CA file below; "
              f"HTTP {gateway.http_url()} redirects)")
        print(f"CA file  {secrets.ca_cert}")
        print(f"push     {secrets.push.user} / {secrets.push.password}   (POST /loki/api/v1/push)")
        print(f"read     {secrets.read.user} / {secrets.read.password}   (/loki/api/v1/query*, /prometheus/)")
        if metrics is not None:
            print(f"loki     {loki.url(3100)}  (directly on the run network, no auth; its counters: {metrics})")
        print("\nfor Locust (tests/load/locustfile.py), in another shell:")
        for line in lines:
            print(f"  {line}")
        if env_file is not None:
            env_file.write_text("\n".join(lines) + "\n")
            env_file.chmod(0o600)
            print(f"  (also in {env_file}: . {shlex.quote(str(env_file))})")
        print("\nrunning; Ctrl-C tears everything down", flush=True)
        (stop or threading.Event()).wait()
        return 0
    except KeyboardInterrupt:
        return 0
    except (NotEvaluated, AssertionError) as exc:
        why = exc.explained() if isinstance(exc, NotEvaluated) else exc
        print(f"obs-gate up: the stack is not usable: {why}", file=sys.stderr)
        return 1
    finally:
        with shielded():
            print(f"obs-gate up: tearing down run {run.run_id} ...", flush=True)
            run.teardown()
            if env_file is not None:
                env_file.unlink(missing_ok=True)
            if restore is not None:
                restore()
            print("obs-gate up: nothing left", flush=True)
