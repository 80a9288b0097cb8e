"""A gate run's hooks: the run, gate-check collection rules, fixtures, scoring and the verdict.

Registered by obsgate.gate.plugin (the ``pytest11`` entry point, which holds the options) only
once a run uses the gate, so a pytest run elsewhere in the environment never imports this.

A gate check is a test under tests/config, tests/integration or tests/load (relative to the
rootdir: the checks belong to the project, wherever ``--compose`` points) carrying
``@pytest.mark.gate(category=..., weight=...)``. Each one's outcome becomes a CheckResult;
skips and xfails are "not evaluated", never passes, and show as such in pytest's summary.
In gate mode (``pytest -m gate``) the exit code is the verdict's; otherwise it is the tests'.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Generator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from obsgate.clients.http import ServiceError
from obsgate.core import stop
from obsgate.core.causes import Cause
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.options import RunOptions, Target
from obsgate.core.policy import Policy
from obsgate.core.recorder import GateRecorder
from obsgate.core.results import CheckResult, Judgement, Outcome
from obsgate.core.text import one_line
from obsgate.gate.report import console_summary, new_run_dir, write_run_reports
from obsgate.gate.scoring import GateScore, Verdict, score
from obsgate.run import GateRun

pytest_plugins = ("obsgate.gate.candidates", "obsgate.gate.evidence", "obsgate.gate.fixtures", "obsgate.gate.live")

GATE_DIRS = ("tests/config", "tests/integration", "tests/load")
RUN_KEY = pytest.StashKey[GateRun]()
RECORDER_KEY = pytest.StashKey[GateRecorder]()
RUN_DIR_KEY = pytest.StashKey[Path]()
SCORE_KEY = pytest.StashKey[tuple[GateScore, Any, Path]]()
PHASES_KEY = pytest.StashKey[dict[str, pytest.TestReport]]()
CAUSES_KEY = pytest.StashKey[dict[str, Cause]]()     # per phase: why it was not evaluated, or the answer it failed on
NOT_EVALUATED = "not evaluated"     # pytest's summary category (and -v word) of a not-evaluated gate check
NOT_EVALUATED_ATTR = "gate_not_evaluated"
MAX_REASON = 300
MAX_FAILURE_TEXT = 4000


def _gate_mode(config: pytest.Config) -> bool:
    choice = config.getoption("gate_exit")
    return choice == "verdict" or (choice == "auto" and (config.getoption("markexpr") or "").strip() == "gate")


def _stop_on_signals(config: pytest.Config) -> None:
    """SIGINT and SIGTERM (a CI runner cancelling: SIGINT, SIGTERM, SIGKILL ~10 s later) stop the run at once:
    background drills are abandoned, the teardown removes what the run made (obsgate.core.stop)."""
    def announce(name: str) -> str:
        run = config.stash.get(RUN_KEY, None)
        return f"\nobs-gate: interrupted ({name}): stopping" + (f", removing run {run.run_id}" if run is not None else "")

    if threading.current_thread() is threading.main_thread():
        config.add_cleanup(stop.handle_signals(announce))


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Once the checks are over, a signal no longer raises: the teardowns that follow are never cut short
    (a KeyboardInterrupt out of pytest's session finish would skip ours)."""
    try:
        return (yield)
    finally:
        shield = ExitStack()
        shield.enter_context(stop.shielded())
        session.config.add_cleanup(shield.close)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """After an interrupt no further check starts, even when this one's wait ended it as a failure (RunStopped)."""
    if stop.requested():
        item.session.shouldstop = "obs-gate: interrupted"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    root = Path(config.rootpath)
    policy = config.getoption("policy")
    if policy is None and not (root / "gate.yml").is_file():
        raise pytest.UsageError(f"obs-gate: no gate policy: {root / 'gate.yml'} does not exist (pass --policy FILE)")
    options = RunOptions(
        compose=Path(config.getoption("compose") or root / "stack" / "docker-compose.yml"),
        policy=Path(policy or root / "gate.yml"),
        reports=Path(config.getoption("reports_dir") or root / "reports"),
        images=config.getoption("image"),
        pull=config.getoption("pull"),
        target=_target(config),
    )
    _stop_on_signals(config)     # before the run's secrets exist: from here on nothing is left behind
    try:
        run = GateRun.prepare(options)
    except InputError as exc:
        raise pytest.UsageError(f"obs-gate: {exc}") from None
    config.stash[RUN_KEY] = run
    if config.option.collectonly:
        return   # inputs validated, nothing will run: no run directory, no report
    run_dir = new_run_dir(options.reports, run.run_id, run.started)
    config.stash[RUN_DIR_KEY] = run_dir
    if not config.option.xmlpath:
        config.option.xmlpath = str(run_dir / "junit.xml")


def _target(config: pytest.Config) -> Target | None:
    url = config.getoption("target")
    if url is None:
        for option in ("target_ca", "target_http", "target_allow_http", "target_no_verify", "target_load"):
            if config.getoption(option) not in (None, False):
                raise pytest.UsageError(f"obs-gate: --{option.replace('_', '-')} without --target")
        return None
    ca = config.getoption("target_ca")
    return Target(url, Path(ca) if ca else None, config.getoption("target_http"),
                  config.getoption("target_allow_http"), config.getoption("target_no_verify"),
                  config.getoption("target_load"))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.teardown()


def _in_gate_dir(item: pytest.Item) -> bool:
    path, root = Path(item.path).resolve(), Path(item.config.rootpath).resolve()
    return any(path.is_relative_to(root / d) for d in GATE_DIRS)


@dataclass(frozen=True)
class GateMark:
    category: str
    weight: float


def _gate_mark(item: pytest.Item, policy: Policy) -> GateMark | str:
    """The check's category and weight, or what is wrong with its marker."""
    marker = item.get_closest_marker("gate")
    if marker is None:
        return "gate check without @pytest.mark.gate(category=..., weight=...)"
    category, weight = marker.kwargs.get("category"), marker.kwargs.get("weight")
    if category not in policy.categories:
        return f"unknown category {category!r} (gate.yml has {', '.join(policy.categories)})"
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
        return f"weight must be a positive number, got {weight!r}"
    return GateMark(category, float(weight))


_MARK_KEY = pytest.StashKey[GateMark]()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Reject gate checks without category/weight, duplicate ids, and blockers naming no check."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    problems: list[str] = []
    seen: dict[str, str] = {}
    for item in items:
        if not (_in_gate_dir(item) or item.get_closest_marker("gate")):
            continue
        mark = _gate_mark(item, run.policy)
        if isinstance(mark, str):
            problems.append(f"{item.nodeid}: {mark}")
            continue
        if item.name in seen:
            problems.append(f"{item.nodeid}: check id {item.name} already used by {seen[item.name]}")
        seen[item.name] = item.nodeid
        item.stash[_MARK_KEY] = mark
    if problems:
        raise pytest.UsageError("obs-gate: invalid gate checks:\n  " + "\n  ".join(problems))
    if config.args_source is pytest.Config.ArgsSource.ARGS:
        return   # a hand-picked selection: a missing blocker shows in the verdict instead
    ids = set(seen) | {getattr(i, "originalname", i.name) for i in items if _MARK_KEY in i.stash}
    try:
        run.policy.check_blockers(ids)
    except InputError as exc:
        raise pytest.UsageError(f"obs-gate: {exc}") from None


def _reason(report: pytest.TestReport) -> str:
    """The first line of why the phase did not pass, whole (bounded where it is shown)."""
    if report.skipped and isinstance(report.longrepr, tuple):
        text = str(report.longrepr[2]).removeprefix("Skipped: ").removeprefix("not evaluated: ")
    elif hasattr(report, "wasxfail"):
        text = f"xfail hides a gate check: {report.wasxfail or 'no reason'}"
    else:
        crash = getattr(report.longrepr, "reprcrash", None)
        text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0] if text.strip() else "no reason given"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """NotEvaluated becomes a skip with its short reason; a gate check's skip keeps the exception's cause
    (a plain pytest.skip's cause is its reason)."""
    report = yield
    raised = call.excinfo.value if call.excinfo is not None and isinstance(call.excinfo.value, NotEvaluated) else None
    if raised is not None:
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"not evaluated: {raised.reason}")
    if _MARK_KEY in item.stash:
        if report.skipped and isinstance(report.longrepr, tuple) and not hasattr(report, "wasxfail"):
            cause = raised.cause if raised is not None else Cause.of_reason(_reason(report))
            item.stash.setdefault(CAUSES_KEY, {})[report.when] = cause
            setattr(report, NOT_EVALUATED_ATTR, True)
        elif report.failed and call.excinfo is not None and (answer := _answer(call.excinfo.value)) is not None:
            item.stash.setdefault(CAUSES_KEY, {})[report.when] = answer
        item.stash.setdefault(PHASES_KEY, {})[report.when] = report
    return report


def _answer(error: BaseException) -> Cause | None:
    """The service answer a check failed on (a ServiceError it raised, or one behind what it raised):
    checks failing on the same answer share it as their cause in the reports."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, ServiceError):
            return current.answer()
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A not-evaluated gate check is counted as such ("3 not evaluated"), not as a skip; its
    reasons are in the obs-gate summary, grouped by cause, instead of one SKIPPED line each."""
    if getattr(report, NOT_EVALUATED_ATTR, False):
        return NOT_EVALUATED, "s", NOT_EVALUATED.upper()
    return None


def _check_result(item: pytest.Item, run: GateRun) -> CheckResult:
    mark, phases = item.stash[_MARK_KEY], item.stash.get(PHASES_KEY, {})
    recorder = item.stash.get(RECORDER_KEY, None)
    measurements = recorder.measurements if recorder else []
    evidence = dict(recorder.evidence) if recorder else {}
    outcome, reason, cause = Outcome.PASSED, "", None
    for when in ("setup", "call", "teardown"):
        rep = phases.get(when)
        if rep is None or rep.passed:
            continue
        if rep.skipped or hasattr(rep, "wasxfail"):
            outcome = Outcome.NOT_EVALUATED
            reason = one_line(_reason(rep), MAX_REASON)
            cause = item.stash.get(CAUSES_KEY, {}).get(when) or Cause.of_reason(reason)
        else:
            outcome = Outcome.FAILED if when == "call" else Outcome.ERROR
            reason = one_line(_reason(rep), MAX_REASON)
            cause = item.stash.get(CAUSES_KEY, {}).get(when)
            evidence["failure"] = rep.longreprtext[-MAX_FAILURE_TEXT:]
        break
    else:
        if "call" not in phases:
            outcome = Outcome.NOT_EVALUATED
            reason = "did not run"
            cause = Cause.of_reason(reason)
        elif any(m.judgement is Judgement.SOFT for m in measurements):
            outcome = Outcome.SOFT_MISS
            reason = "; ".join(f"{m.name}: {run.policy.target(m.target_key).explain(m.value)}"
                               for m in measurements if m.judgement is Judgement.SOFT and m.target_key)
    duration = sum(r.duration for r in phases.values())
    check_id = item.name
    blocker = check_id in run.policy.blockers or getattr(item, "originalname", check_id) in run.policy.blockers
    return CheckResult(check_id, item.nodeid, mark.category, mark.weight, outcome, reason, round(duration, 3),
                       blocker, measurements, evidence, cause)


def _collect(session: pytest.Session, run: GateRun) -> list[CheckResult]:
    return [_check_result(item, run) for item in session.items if _MARK_KEY in item.stash]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Tear down, score, write reports; in gate mode the verdict decides the exit code."""
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is None or RUN_DIR_KEY not in config.stash:
        return
    run.teardown()
    run.results = _collect(session, run)
    run_dir = config.stash[RUN_DIR_KEY]
    if not run.results:
        shutil.rmtree(run_dir, ignore_errors=True)   # no gate check ran: nothing to report
        return
    gate_mode = _gate_mode(config)
    gate = score(run.results, run.policy)
    metadata = run.metadata("gate" if gate_mode else "selftest")
    comparison = write_run_reports(run.options.reports, run_dir, gate, metadata, run.secrets.values)
    config.stash[SCORE_KEY] = (gate, comparison, run_dir)
    if stop.requested():
        session.exitstatus = pytest.ExitCode.INTERRUPTED    # what ran is reported, but it is no verdict
    elif gate_mode:
        ok = gate.verdict is Verdict.PASS or (gate.verdict is Verdict.CONDITIONAL_PASS
                                              and config.getoption("accept_conditional"))
        session.exitstatus = pytest.ExitCode.OK if ok else pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Generator[None, None, None]:
    """The obs-gate section goes last, after pytest's short summary: the verdict is what stays on screen."""
    yield
    entry = config.stash.get(SCORE_KEY, None)
    if entry is None:
        return
    gate, comparison, run_dir = entry
    terminalreporter.section("obs-gate")
    terminalreporter.write_line(console_summary(gate, comparison))
    terminalreporter.write_line(f"reports: {run_dir}")
