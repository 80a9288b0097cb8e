"""Run gate checks in a child pytest against deliberately broken stack variants.

A variant is stack/docker-compose.yml with one mutation, written to a temp dir with
its relative bind mounts made absolute; the child run gets this run's image overrides.
A self-test whose child could not evaluate its check (no Loki or Grafana image, as in CI)
skips with the reason (``failed_or_skip``); the run's summary then lists every such proof
and the gate checks it leaves unproven on this machine, in one section at the end.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from docker.errors import BuildError, DockerException, ImageNotFound

from obsgate.bringup.cleanup import LABEL_RUN
from obsgate.core.wait import poll
from obsgate.run import GateRun
from tests.unit.test_every_check_is_proven import gate_checks, proving_tests

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stack"
Compose = dict[str, Any]


def _absolute_binds(doc: Compose) -> Compose:
    for svc in doc["services"].values():
        svc["volumes"] = [
            str(STACK / v[2:].partition(":")[0]) + ":" + v.partition(":")[2]
            if isinstance(v, str) and v.startswith("./") else v
            for v in svc.get("volumes", [])
        ]
    return doc


@dataclass
class ChildRun:
    returncode: int
    output: str
    checks: dict[str, dict[str, Any]]
    failure_causes: list[dict[str, Any]]
    bring_up_s: float               # the child's stack bring-up, charged to the first check that asked for it
    metadata: dict[str, Any]        # gate.json's metadata (run id, target, images ...)

    def outcome(self, check_id: str) -> str:
        assert check_id in self.checks, f"child run reported no {check_id}:\n{self.output[-3000:]}"
        return str(self.checks[check_id]["outcome"])

    def reason(self, check_id: str) -> str:
        return str(self.checks[check_id]["reason"])


@pytest.fixture
def variant(tmp_path: Path) -> Callable[[Callable[[Compose], None]], Path]:
    """Write a mutated copy of the production compose file; returns its path."""

    def make(mutate: Callable[[Compose], None]) -> Path:
        doc = _absolute_binds(yaml.safe_load((STACK / "docker-compose.yml").read_text()))
        mutate(doc)
        path = tmp_path / "variant" / "docker-compose.yml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return make


@pytest.fixture
def child_gate(pytestconfig: pytest.Config, tmp_path: Path) -> Callable[..., ChildRun]:
    """Run selected gate checks in a child pytest with this run's image overrides."""

    def run(*selection: str, compose: Path | None = None, extra: tuple[str, ...] = (),
            env: Mapping[str, str] | None = None) -> ChildRun:
        reports = tmp_path / "reports"
        args = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", *selection,
                "--reports-dir", str(reports), "--pull", pytestconfig.getoption("pull"), *extra]
        services = yaml.safe_load((compose or STACK / "docker-compose.yml").read_text())["services"]
        for image in pytestconfig.getoption("image"):
            if image.partition("=")[0] in services:
                args += ["--image", image]
        if compose is not None:
            args += ["--compose", str(compose)]
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, **(env or {})})
        gate = reports / "latest" / "gate.json"
        document = json.loads(gate.read_text()) if gate.exists() else {}
        checks = {c["check_id"]: c for c in document.get("checks", [])}
        timings = document.get("metadata", {}).get("timings_s") or {}
        return ChildRun(proc.returncode, proc.stdout + proc.stderr, checks, document.get("failure_causes", []),
                        timings.get("bring_up") or 0.0, document.get("metadata", {}))

    return run


UP_READY_S = 300.0     # obsgate up: images resolved, every service healthy (about 60 s here)
UP_DOWN_S = 120.0      # its teardown after SIGINT


@dataclass(frozen=True)
class Served:
    """A stack brought up by ``python -m obsgate up``, as an SRE would: what it exported, and the arguments a
    gate run judging it with ``--target`` takes."""

    env: dict[str, str]
    unavailable: tuple[str, ...] = ()    # services obsgate up could not start here (no image), as it printed them

    def require(self, *services: str) -> None:
        """Skip the self-test where the served stack lacks one of ``services`` (a good stack it is not, then)."""
        missing = [s for s in services if s in self.unavailable]
        if missing:
            pytest.skip(f"obsgate up could not start {', '.join(missing)} here (no image): the served stack is not "
                        "the good one these proofs need")

    @property
    def target_args(self) -> tuple[str, ...]:
        return ("--target", self.env["LOCUST_HOST"], "--target-ca", self.env["OBSGATE_CA_FILE"],
                "--target-http", self.env["OBSGATE_HTTP_URL"])


def _exports(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of an env file, as a shell would read them."""
    found = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        found[name] = shlex.split(value)[0] if value else ""
    return found


@pytest.fixture(scope="module")
def served_stack(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The gate's stack up under ``obsgate up`` (this run's images) for the module's tests, then Ctrl-C'd (its
    teardown removes everything); the self-test skips, with ``obsgate up``'s words, where it cannot come up."""
    work = tmp_path_factory.mktemp("served")
    env_file, log = work / "up.env", work / "up.log"
    args = [sys.executable, "-m", "obsgate", "up", "--env-file", str(env_file), "--pull", pytestconfig.getoption("pull"),
            *(a for image in pytestconfig.getoption("image") for a in ("--image", image))]
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        poll(lambda: (env_file.exists() and env_file.read_text().endswith("\n")) or proc.poll() is not None,
             timeout_s=UP_READY_S,
             what="obsgate up to write its env file", evidence=lambda: log.read_text()[-2000:])
        if proc.poll() is not None:
            pytest.skip(f"obsgate up could not bring the stack up: {log.read_text()[-600:]}")
        unavailable = tuple(line.split()[0] for line in log.read_text().splitlines()
                            if line.startswith("  ") and " unavailable: " in line)
        yield Served(_exports(env_file), unavailable)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(UP_DOWN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def only(*services: str) -> Callable[[Compose], None]:
    """A mutation keeping just ``services`` (without depends_on): a child run starts only those."""

    def keep(doc: Compose) -> None:
        doc["services"] = {n: s for n, s in doc["services"].items() if n in services}
        for svc in doc["services"].values():
            svc.pop("depends_on", None)
    return keep


def failed_or_skip(run: ChildRun, check: str) -> str:
    """The check's failure reason; skip this self-test if the child could not evaluate it."""
    if run.checks.get(check, {}).get("outcome") == "not_evaluated":
        pytest.skip(f"{check} not evaluated here: {run.reason(check)}")
    assert run.outcome(check) == "failed", run.output[-3000:]
    return run.reason(check)


def _target(volume: str) -> str:
    parts = volume.split(":")
    return parts[-2] if parts[-1] in ("ro", "rw") else parts[-1]


def mount(service: str, target: str, source: Path | str) -> Callable[[Compose], None]:
    """Mutation: bind ``source`` at ``target`` in ``service`` instead of what the stack mounts there."""

    def mutate(doc: Compose) -> None:
        svc = doc["services"][service]
        svc["volumes"] = [v for v in svc["volumes"] if not isinstance(v, str) or _target(v) != target]
        svc["volumes"].append(f"{source}:{target}:ro")

    return mutate


def reasons(run: ChildRun, *checks: str) -> dict[str, str]:
    """Each check's failure reason (see failed_or_skip), in the order given."""
    return {check: failed_or_skip(run, check) for check in checks}


def passed_or_skip(run: ChildRun, check: str) -> None:
    """Assert the check passed; skip this self-test if the child could not evaluate it."""
    if run.checks.get(check, {}).get("outcome") == "not_evaluated":
        pytest.skip(f"{check} not evaluated here: {run.reason(check)}")
    assert run.outcome(check) == "passed", f"{run.reason(check)}\n{run.output[-3000:]}"


NGINX_CONF = "/etc/nginx/nginx.conf"
PUSH_LOCATION = "location = /loki/api/v1/push {"


@pytest.fixture
def readable(tmp_path: Path) -> Iterator[Path]:
    """A directory the containers' users can read (pytest's tmp_path is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="obsgate-selftest-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nginx_conf(directory: Path, *edits: tuple[str, str]) -> Path:
    """The production nginx.conf with each (old, new) edit applied; every ``old`` must occur."""
    text = (STACK / "nginx" / "nginx.conf").read_text()
    for old, new in edits:
        assert old in text, f"variant edit does not apply any more: {old!r}"
        text = text.replace(old, new)
    path = directory / "nginx.conf"
    path.write_text(text)
    path.chmod(0o644)
    return path


def push_block() -> str:
    """The production push location's block, for edits confined to it."""
    text = (STACK / "nginx" / "nginx.conf").read_text()
    start = text.index(PUSH_LOCATION)
    return text[start:text.index("\n        }\n", start)]


def with_nginx(conf: Path, *services: str, more: Callable[[Compose], None] | None = None) -> Callable[[Compose], None]:
    def mutate(doc: Compose) -> None:
        only("nginx", *services)(doc)
        mount("nginx", NGINX_CONF, conf)(doc)
        if more is not None:
            more(doc)
    return mutate


def edit_push_location(old: str, new: str) -> tuple[str, str]:
    """An edit of one line inside the push location only."""
    block = push_block()
    assert old in block, f"push location has no {old!r}"
    return block, block.replace(old, new)


@contextmanager
def built_image(gate_run: GateRun, tag: str, dockerfile: str, what: str) -> Iterator[str]:
    """``tag`` built from just ``dockerfile`` (its files come FROM images present), labelled with the run,
    removed on exit; the self-test skips if it cannot be built."""
    client = gate_run.docker()
    try:
        client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, labels={LABEL_RUN: gate_run.run_id},
                            pull=False, rm=True, forcerm=True)
    except (BuildError, DockerException) as exc:
        pytest.skip(f"cannot build {what}: {exc}")
    try:
        yield tag
    finally:
        try:
            client.images.remove(tag, force=True)
        except ImageNotFound:
            pass


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    """The Docker engine the self-tests look at directly (leftovers, labels); not evaluated without one."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"not evaluated: Docker engine unavailable: {exc}")
    yield client
    client.close()


NOT_RUN_TITLE = "obs-gate self-tests: proofs not run here"


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def proofs_not_run(reports: list[pytest.TestReport]) -> list[str]:
    """One line per skipped self-test: its id, why, and the gate checks it proves failing elsewhere."""
    names = [c.name for c in gate_checks(ROOT)]
    lines = []
    for report in reports:
        path, _, test = report.nodeid.partition("::")
        if not path.startswith("tests/selftest/"):
            continue
        proves = proving_tests(ROOT / path, names, ROOT).get(f"{path}::{test.partition('[')[0]}", set())
        checks = f" (proves {', '.join(sorted(proves))})" if proves else ""
        lines.append(f"{report.nodeid} — {_skip_reason(report)}{checks}")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The proofs a machine without an image (Loki, Grafana) could not run, named with why: a skipped proof is
    a check nobody has seen failing on this machine, never a silent pass."""
    lines = proofs_not_run(terminalreporter.stats.get("skipped", []))
    if not lines:
        return
    terminalreporter.write_sep("=", NOT_RUN_TITLE, yellow=True)
    for line in lines:
        terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[None]:
    """A skipped self-test carries its reason as a junit property too (``proof_not_run``), for CI's report."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and item.nodeid.startswith("tests/selftest/"):
        item.user_properties.append(("proof_not_run", _skip_reason(report)))   # junit writes the teardown's
