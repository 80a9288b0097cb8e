"""One gate run: inputs validated up front, the stack brought up on demand, torn down always (an interrupted
run too: whatever it created is removed by its labels, see ``GateRun.teardown``)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException
from testcontainers.core.exceptions import ContainerConnectException

from obsgate.bringup.cleanup import RunLock, Swept, hold, start_reaper, sweep, sweep_scratch
from obsgate.bringup.images import ImageChoice, parse_overrides, resolve
from obsgate.bringup.secrets import PUBLIC_URL, RunSecrets, generate
from obsgate.bringup.stack import Stack
from obsgate.bringup.target import credentials, validate
from obsgate.clients.webhook import WebhookReceiver
from obsgate.core import stop
from obsgate.core.causes import EXTERNAL, Cause, error_line
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.options import RunOptions, Target
from obsgate.core.policy import Policy, load_policy
from obsgate.core.results import CheckResult
from obsgate.stackfiles.compose import ComposeProject, load_compose


def engine_of(client: docker.DockerClient) -> dict[str, str] | None:
    """Which engine answers (Docker Engine, Podman ...) and its version: a Podman run must not read as a Docker
    one, their stats and image digests differ. None when the engine does not say."""
    try:
        answer = client.version()
    except (DockerException, OSError):
        return None
    component: dict[str, Any] = next(iter(answer.get("Components") or []), {})
    name = component.get("Name")            # Docker: "Engine" (its platform may name the edition); Podman: "Podman Engine"
    if name == "Engine":
        name = (answer.get("Platform") or {}).get("Name") or "Docker Engine"
    return {"name": str(name), "version": str(component.get("Version") or answer.get("Version", ""))} if name else None


def _git(path: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _with_error(choice: ImageChoice) -> str:
    """Why an image is unavailable with Docker's pull error: the run's record of it, needed by a check or not."""
    detail = choice.cause.detail if choice.cause is not None else ""
    return f"{choice.reason} ({detail})" if detail else choice.reason


@dataclass
class GateRun:
    """Everything one run owns. Built before any container starts, so bad input stops it early."""

    options: RunOptions
    policy: Policy
    project: ComposeProject
    secrets: RunSecrets
    overrides: dict[str, str]
    run_id: str
    started: dt.datetime
    results: list[CheckResult] = field(default_factory=list)
    images: dict[str, ImageChoice] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)   # seconds: bring_up, ready per service, teardown
    _stack: Stack | None = None
    _unavailable: Cause | None = None
    _client: docker.DockerClient | None = None
    webhook: WebhookReceiver | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    claim: RunLock | None = None      # held while the run lives: ``obsgate sweep`` leaves it alone
    engine: dict[str, str] | None = None   # the container engine the run used, once it used one

    @classmethod
    def prepare(cls, options: RunOptions) -> GateRun:
        """Validate policy, secrets, compose file and overrides; raises InputError on bad input."""
        run_id = os.environ.get("OBSGATE_RUN_ID") or uuid.uuid4().hex[:12]
        if not re.fullmatch(r"[a-z0-9]{4,32}", run_id):
            raise InputError("OBSGATE_RUN_ID", run_id, "invalid run id", "use 4-32 lowercase letters and digits")
        policy = load_policy(options.policy)
        if options.target is not None:
            validate(options.target)
        claim = hold(run_id)
        if claim is None:
            raise InputError("OBSGATE_RUN_ID", run_id, "a run with this id is running on this machine",
                             "leave OBSGATE_RUN_ID unset (a new id each run) or choose another")
        try:
            secrets = generate(run_id)
            env = {**os.environ, **secrets.env, "OBS_PUBLIC_URL": PUBLIC_URL}
            project = load_compose(options.compose, env)
            overrides = parse_overrides(options.images, list(project.services))
            if options.target is not None:
                secrets = credentials(secrets, options.target)
        except BaseException:
            sweep_scratch(run_id)   # the secrets, even those of a generate() a signal cut short
            claim.release()
            raise
        return cls(options, policy, project, secrets, overrides, run_id, dt.datetime.now(dt.UTC), claim=claim)

    @property
    def target(self) -> Target | None:
        """The deployment judged instead of the run's own stack (``--target``), or None."""
        return self.options.target

    def docker(self) -> docker.DockerClient:
        """A live Docker client, with Ryuk started where it runs (before the run creates anything);
        NotEvaluated (remembered for the run) when there is no engine or Ryuk cannot start."""
        if self._unavailable is not None:
            raise NotEvaluated(self._unavailable.text, self._unavailable)
        if self._client is None:
            try:
                client = docker.from_env()
                client.ping()
            except DockerException as exc:
                self._unavailable = Cause("docker", "Docker engine unavailable",
                                          "start Docker, or point DOCKER_HOST at a running engine", error_line(exc))
                raise NotEvaluated(self._unavailable.text, self._unavailable) from None
            try:
                start_reaper()
            except (DockerException, ContainerConnectException, OSError) as exc:
                self._unavailable = Cause("ryuk", "testcontainers' Ryuk could not start", "where it cannot run, set "
                                          "TESTCONTAINERS_RYUK_DISABLED=true: the gate removes what it made", error_line(exc))
                raise NotEvaluated(self._unavailable.text, self._unavailable) from None
            self._client, self.engine = client, engine_of(client)
        return self._client

    def image_choices(self) -> dict[str, ImageChoice]:
        """Each service's image (pin or override) and whether it can be had; resolved once."""
        if not self.images:
            pins = {n: s.image for n, s in self.project.services.items()}
            self.images = resolve(self.docker(), pins, self.overrides, self.options.pull)
        return self.images

    def stack(self) -> Stack:
        """The running stack, brought up on first use; NotEvaluated when Docker is unusable, or with a --target
        (the gate controls no container of a deployment it did not start)."""
        if self.target is not None:
            raise NotEvaluated(EXTERNAL.text, EXTERNAL)
        with self._lock:
            if self._stack is None:
                self._stack = Stack(self.project, self.run_id, self.image_choices(), self.docker())
                self._stack.before_services.append(self._start_webhook)
                self._stack.up()
            return self._stack

    def _start_webhook(self, stack: Stack) -> None:
        """Receive Alertmanager's Slack posts on the run network (Slack itself is never called)."""
        self.webhook = WebhookReceiver(stack.gateway_ip())
        self.secrets.set_slack_webhook_url(self.webhook.url(f"/slack/{uuid.uuid4().hex}"))

    def teardown(self) -> None:
        """Remove every container, network and volume of this run (its overlays' and one-offs' too, by the labels
        they carry), its secrets and scratch directories. Idempotent.

        Never cut short: a signal meanwhile only makes the run's other threads stop (obsgate.core.stop);
        their objects, even ones created while this runs, go by the same labels.
        """
        with stop.shielded(), self._lock:
            swept = Swept()
            if self._stack is not None:
                self.timings["bring_up"] = self._stack.up_s
                self.timings["ready"] = {h.name: h.ready_after_s for h in self._stack}
                started = time.monotonic()
                swept = self._stack.down()
                self.timings["teardown"] = time.monotonic() - started
                self._stack = None
            elif self._client is not None:      # one-offs, or a stack interrupted before it existed
                swept = sweep(self._client, self.run_id)
            if swept.errors:
                print(f"obs-gate teardown: {swept}", file=sys.stderr)
            if self.webhook is not None:
                self.webhook.close()
                self.webhook = None
            self.secrets.remove()
            sweep_scratch(self.run_id)
            if self.claim is not None:
                self.claim.release()

    def metadata(self, mode: str) -> dict[str, Any]:
        finished = dt.datetime.now(dt.UTC)
        stack_dir = self.project.path.parent
        status = _git(stack_dir, "status", "--porcelain", "--", ".")
        versions = {p: version(p) for p in ("pytest", "testcontainers", "httpx", "docker")}
        return {
            "run_id": self.run_id,
            "mode": mode,
            "started": self.started.isoformat(),
            "finished": finished.isoformat(),
            "duration_s": round((finished - self.started).total_seconds(), 3),
            "host": platform.node(),
            "python": platform.python_version(),
            "versions": versions,
            "engine": self.engine,
            # A target's runs are compared with the target's, never with runs on the gate's own copy.
            "stack_id": f"target:{self.target.url}" if self.target else f"{self.project.name}:{self.project.path}",
            "compose_file": str(self.project.path),
            "policy_file": str(self.options.policy),
            "stack_commit": _git(stack_dir, "rev-parse", "HEAD"),
            "stack_dirty": None if status is None else bool(status),
            "images": {s: {"ref": c.ref, "pinned": c.pinned, "digest": c.digest, "override": c.override,
                           "available": c.available, "reason": _with_error(c)} for s, c in self.images.items()},
            "overrides": dict(self.overrides),
            "pull": self.options.pull,
            "target": None if self.target is None else {"url": self.target.url, "external": True,
                                                        "ca_file": str(self.target.ca_file or "") or None,
                                                        "verify": not self.target.no_verify, "load": self.target.load},
            "timings_s": {"bring_up": None, "teardown": None, **self.timings},
        }
