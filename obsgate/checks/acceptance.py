"""Each service's config put to the real program, inside the service's image (obsgate.bringup.oneoff).

A step returns an ``Acceptance``: findings (empty = accepted) and the evidence a reader
needs (command, exit code, output). The pinned checks call single steps; the upgrade
readiness checks run every step of a service (``STEPS``), and its compose healthcheck
(``healthcheck_runs``), against a candidate image. One-offs are probed from the host
(obsgate.bringup.probe), so an image without a shell or wget can still be judged.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from obsgate.bringup.context import RunContext
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.oneoff import Completed, OneOff, run_command, started
from obsgate.bringup.probe import HTTP_TIMEOUT_S, HttpProbe, Probe, ProbeFailed, Stopped, never_healthy
from obsgate.checks.grafana import provisioning_errors
from obsgate.checks.static import loki as loki_policy
from obsgate.checks.static.files import StackFiles
from obsgate.checks.static.logs import problem_lines, rejections, startup_warnings
from obsgate.core.errors import NotEvaluated
from obsgate.core.findings import ConfigUnreadable, Finding, shown
from obsgate.core.policy import Policy
from obsgate.core.wait import WaitTimeout
from obsgate.stackfiles import loki as loki_config
from obsgate.stackfiles.compose import image_version

MAX_OUTPUT = 3000
LOKI_BINARY = ["/usr/bin/loki"]
PROMTOOL = ["/bin/promtool"]
AMTOOL = ["/bin/amtool"]
PROMTOOL_TESTS_AT = "/obsgate/promtool-tests"
SAFE_GLOB = re.compile(r"^[\w./*?\[\]-]+$")
# The routing contract: which receiver each alert severity must reach.
ROUTING = {"critical": "slack-critical", "warning": "slack-warnings"}
ROUTE_MARK = "@@obsgate-route"


@dataclass
class Acceptance:
    """What one acceptance step found (empty = the program accepted the config)."""

    step: str
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)


def _completed(step: str, done: Completed, file: str, program: str) -> Acceptance:
    evidence = {"command": done.describe(), "output": done.output[-MAX_OUTPUT:]}
    return Acceptance(step, [] if done.ok else rejections(done.output, file, program), evidence)


def _unreadable(step: str, exc: ConfigUnreadable) -> Acceptance:
    return Acceptance(step, [exc.finding])


# --- Loki ---------------------------------------------------------------------------------


def loki_verify_config(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    """``loki -verify-config`` with the service's own flags."""
    try:
        container, host = files.config("loki")
    except ConfigUnreadable as exc:
        return _unreadable("verify-config", exc)
    command = list(files.spec("loki").command or [f"-config.file={container}"])
    done = run_command(run, "loki", ["-verify-config", *command], image=image, entrypoint=LOKI_BINARY)
    return _completed("verify-config", done, shown(host), "loki -verify-config")


@dataclass
class LokiStart:
    """One real start of Loki with the config: readiness, start-up log, effective config."""

    image: str
    ready_after_s: float | None
    failure: str
    log: str
    effective_config: str | None
    probe_failure: str = ""  # the readiness probe could not run: Loki was not judged


def ready_probe(one: OneOff, port: int, path: str) -> Probe:
    """The harness's readiness probe of a one-off: GET from the host; wget in the container only if that gets nothing."""
    http = HttpProbe(port, path)
    fallback = ["wget", "-q", "--tries=1", "-O", "/dev/null", http.url("127.0.0.1")]
    return Probe(f"{one.service} GET {path} on :{port}", one, http=http, command=fallback)


def loki_start(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> LokiStart:
    """Start Loki as compose would; wait (bounded by service_ready_s) until GET /ready is 200."""
    port = int(files.loki.get("server.http_listen_port", 3100))
    deadline = policy.target("service_ready_s").value
    with started(run, "loki", image=image, entrypoint=LOKI_BINARY) as one:
        try:
            ready_after = ready_probe(one, port, "/ready").wait(deadline)
        except ProbeFailed as exc:
            return LokiStart(one.image, None, str(exc), one.logs(), None, probe_failure=str(exc))
        except (WaitTimeout, Stopped) as exc:
            return LokiStart(one.image, None, "; ".join(str(exc).splitlines()), one.logs(), None)
        return LokiStart(one.image, ready_after, "", one.logs(), _get_text(one, port, "/config"))


def _get_text(one: OneOff, port: int, path: str) -> str | None:
    """GET ``path`` from the host; None unless it answers 200."""
    address = one.ip
    if address is None:
        return None
    try:
        response = HttpProbe(port, path).get(address, HTTP_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


def loki_ready(start: LokiStart, files: StackFiles) -> Acceptance:
    evidence = {"image": start.image, "ready_after_s": start.ready_after_s, "log_tail": start.log[-MAX_OUTPUT:]}
    if start.probe_failure:
        raise NotEvaluated(f"Loki's readiness could not be probed in {start.image}: {start.probe_failure}")
    if start.ready_after_s is not None:
        return Acceptance("start until /ready", [], evidence)
    host = shown(files.config("loki")[1])
    errors = [line for line in problem_lines(start.log) if line.startswith("level=error")]
    said = errors[-1].split("\\n", 1)[0][:400] if errors else start.log[-400:]
    finding = Finding(host, "(start)", None, f"{start.failure}: {said}", "fix what Loki logs at start-up")
    return Acceptance("start until /ready", [finding], evidence)


def loki_startup_log(start: LokiStart) -> Acceptance:
    """Errors and deprecation / behaviour-change warnings Loki logged while starting."""
    findings = startup_warnings(start.log, f"loki start-up log ({start.image})")
    return Acceptance("start-up log", findings, {"warn_and_error_lines": problem_lines(start.log)})


def loki_effective_config(start: LokiStart, files: StackFiles, policy: Policy) -> Acceptance:
    """GET /config: the values that matter took effect and meet the policy."""
    if start.effective_config is None:
        raise NotEvaluated(f"Loki ({start.image}) never became ready, so GET /config could not be read")
    effective = loki_config.effective(start.effective_config, start.image)
    persistent = files.persistent("loki")
    lines, line_bytes = policy.target("ingest_lines_per_s").value, policy.target("avg_line_bytes").value
    findings = [
        *loki_policy.took_effect(files.loki, effective),
        *loki_policy.schema(effective),
        *loki_policy.compactor(effective, persistent, image_version(start.image)),
        *loki_policy.old_samples(effective),
        *loki_policy.query_limits(effective),
        *loki_policy.query_horizon(effective, policy.target("retention_h")),
        *loki_policy.judged(
            effective, loki_policy.retention(effective), policy.target("retention_h"), "raise limits_config.retention_period"
        ),
        *loki_policy.judged(
            effective,
            loki_policy.ingestion_rate(effective, line_bytes),
            policy.target("ingest_lines_per_s"),
            "raise limits_config.ingestion_rate_mb",
        ),
        *loki_policy.judged(
            effective,
            loki_policy.ingestion_burst(effective, lines, line_bytes),
            policy.target("ingest_burst_factor"),
            "raise limits_config.ingestion_burst_size_mb",
        ),
    ]
    values = {k: effective.get(k) for k in loki_policy.POLICY_KEYS}
    return Acceptance("effective config", findings, {"effective": values})


def loki_steps(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> list[Acceptance]:
    try:
        files.loki  # noqa: B018 - parsed here so an unreadable config stops before any start
    except ConfigUnreadable as exc:
        return [_unreadable("read config", exc)]
    verify = loki_verify_config(run, image, files)
    start = loki_start(run, image, files, policy)
    steps = [verify, loki_ready(start, files), loki_startup_log(start)]
    if start.effective_config is not None:
        steps.append(loki_effective_config(start, files, policy))
    return steps


# --- Prometheus -----------------------------------------------------------------------------


def promtool_check_config(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    try:
        container, host = files.config("prometheus")
    except ConfigUnreadable as exc:
        return _unreadable("promtool check config", exc)
    done = run_command(run, "prometheus", ["check", "config", container], image=image, entrypoint=PROMTOOL)
    return _completed("promtool check config", done, shown(host), "promtool check config")


def promtool_check_rules(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    """``promtool check rules`` on every file the config's rule_files select (globbed in the container)."""
    try:
        container, host = files.config("prometheus")
    except ConfigUnreadable as exc:
        return _unreadable("promtool check rules", exc)
    patterns = [str(p) for p in files.prometheus.doc.get("rule_files") or []]
    if not patterns:
        return Acceptance(
            "promtool check rules",
            [Finding(shown(host), "rule_files", None, "no rule files: nothing alerts", "list the rule files under rule_files")],
        )
    unsafe = [p for p in patterns if not SAFE_GLOB.match(p)]
    if unsafe:
        return Acceptance(
            "promtool check rules",
            [Finding(shown(host), "rule_files", None, f"unusual pattern {unsafe[0]!r}", "use plain paths and * globs")],
        )
    config_dir = container.rpartition("/")[0] or "/"
    script = f"cd {shlex.quote(config_dir)} && exec {PROMTOOL[0]} check rules {' '.join(patterns)}"
    done = run_command(run, "prometheus", ["-c", script], image=image, entrypoint=["/bin/sh"])
    rules = ", ".join(shown(p) for p in files.prometheus.rule_files()) or "rule files"
    return _completed("promtool check rules", done, rules, "promtool check rules")


def promtool_test_rules(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    """The repository's promtool unit tests (synthetic series) against the mounted rule files."""
    tests = sorted(files.promtool_tests.glob("*.test.yml"))
    if not tests:
        return Acceptance(
            "promtool test rules",
            [Finding(shown(files.promtool_tests), "*.test.yml", None, "no rule unit tests", "add promtool test files")],
        )
    argv = ["test", "rules", *(f"{PROMTOOL_TESTS_AT}/{t.name}" for t in tests)]
    done = run_command(
        run, "prometheus", argv, image=image, entrypoint=PROMTOOL, extra_binds=[(files.promtool_tests, PROMTOOL_TESTS_AT)]
    )
    return _completed("promtool test rules", done, shown(files.promtool_tests), "promtool test rules")


def prometheus_steps(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> list[Acceptance]:
    return [
        promtool_check_config(run, image, files),
        promtool_check_rules(run, image, files),
        promtool_test_rules(run, image, files),
    ]


# --- Alertmanager ---------------------------------------------------------------------------


def amtool_check_config(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    try:
        container, host = files.config("alertmanager")
    except ConfigUnreadable as exc:
        return _unreadable("amtool check-config", exc)
    done = run_command(run, "alertmanager", ["check-config", container], image=image, entrypoint=AMTOOL)
    return _completed("amtool check-config", done, shown(host), "amtool check-config")


def _route_probes(files: StackFiles) -> list[dict[str, str]]:
    """Label sets to route: one synthetic alert per severity, then every alert rule's own labels."""
    probes = [{"alertname": "ObsGateRoutingProbe", "severity": s} for s in ROUTING]
    for rule in files.prometheus.alert_rules():
        static = {k: v for k, v in rule.labels.items() if "{{" not in v}
        probes.append({"alertname": rule.name, **static})
    return probes


def amtool_routes(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    """``amtool config routes test``: each severity reaches its receiver in ROUTING."""
    try:
        container, host = files.config("alertmanager")
    except ConfigUnreadable as exc:
        return _unreadable("amtool config routes test", exc)
    probes = _route_probes(files)
    commands = [
        f"echo {ROUTE_MARK} {i}; {AMTOOL[0]} config routes test --config.file={shlex.quote(container)} "
        + " ".join(shlex.quote(f"{k}={v}") for k, v in labels.items())
        + " 2>/dev/null"
        for i, labels in enumerate(probes)
    ]
    done = run_command(run, "alertmanager", ["-c", "; ".join(commands)], image=image, entrypoint=["/bin/sh"])
    routed: dict[int, str] = {}
    for chunk in done.output.split(ROUTE_MARK)[1:]:
        index, _, rest = chunk.strip().partition("\n")
        routed[int(index.split()[0])] = rest.strip()
    findings = []
    for i, labels in enumerate(probes):
        severity = labels.get("severity", "")
        expected = ROUTING.get(severity)
        got = routed.get(i, "(no answer)")
        if expected is None:
            problem = f"alert {labels['alertname']} has severity {severity!r}, which no receiver is meant for"
            findings.append(Finding(shown(host), "route", None, problem, f"label it one of {', '.join(ROUTING)}"))
        elif got != expected:
            problem = f"{' '.join(f'{k}={v}' for k, v in labels.items())} reaches {got!r}, not {expected!r}"
            findings.append(Finding(shown(host), "route", None, problem, f"route severity={severity} to {expected}"))
    return Acceptance(
        "amtool config routes test",
        findings,
        {
            "command": done.describe(),
            "routed": {probes[i]["alertname"] + f" ({probes[i].get('severity', '')})": r for i, r in routed.items()},
        },
    )


def alertmanager_steps(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> list[Acceptance]:
    return [amtool_check_config(run, image, files), amtool_routes(run, image, files)]


# --- nginx ----------------------------------------------------------------------------------


def nginx_test(run: RunContext, image: ImageChoice, files: StackFiles) -> Acceptance:
    """``nginx -t`` with the run's certificates and htpasswd files mounted as compose says."""
    try:
        container, host = files.config("nginx")
    except ConfigUnreadable as exc:
        return _unreadable("nginx -t", exc)
    done = run_command(run, "nginx", ["nginx", "-t", "-c", container], image=image)
    return _completed("nginx -t", done, shown(host), "nginx -t")


def nginx_steps(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> list[Acceptance]:
    return [nginx_test(run, image, files)]


# --- Grafana --------------------------------------------------------------------------------


def grafana_provisioning(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> Acceptance:
    """Start Grafana with its provisioning; no level=error from provisioning by the time it is healthy."""
    spec = files.spec("grafana")
    port = spec.expose[0] if spec.expose else 3000
    with started(run, "grafana", image=image) as one:
        try:
            ready_probe(one, port, "/api/health").wait(policy.target("service_ready_s").value)
            failure = ""
        except ProbeFailed as exc:
            raise NotEvaluated(f"Grafana's readiness could not be probed in {one.image}: {exc}") from None
        except (WaitTimeout, Stopped) as exc:
            failure = str(exc)
        log = one.logs()
    errors = provisioning_errors(log)
    findings = [
        Finding("grafana provisioning log", "logger=provisioning", None, e[:400], "fix the provisioning file the message names")
        for e in errors
    ]
    if failure:
        findings.append(
            Finding("grafana start", "(start)", None, f"{failure}; log: {log[-600:]}", "fix what Grafana logs at start-up")
        )
    return Acceptance("provisioning log", findings, {"log_tail": log[-MAX_OUTPUT:]})


def grafana_steps(run: RunContext, image: ImageChoice, files: StackFiles, policy: Policy) -> list[Acceptance]:
    return [grafana_provisioning(run, image, files, policy)]


# --- Every service: the compose healthcheck ------------------------------------------------


def healthcheck_runs(run: RunContext, service: str, image: ImageChoice, files: StackFiles, policy: Policy) -> Acceptance:
    """The compose healthcheck, exec'd in ``image`` once the service is up, as compose runs it.

    Newer images (Loki 3.6+: distroless) may lack the shell or wget the healthcheck needs;
    it then never passes, and every ``service_healthy`` dependant waits forever.
    """
    hc = files.spec(service).healthcheck
    if hc is None:
        return Acceptance("healthcheck", [], {"healthcheck": "none in the compose file: nothing to run"})
    key, deadline = f"services.{service}.healthcheck.test", policy.target("service_ready_s").value
    evidence: dict[str, Any] = {"image": image.ref, "healthcheck": " ".join(hc.test)}
    with started(run, service, image=image) as one:
        probe = Probe.healthcheck(f"{service} healthcheck", one, hc.test, hc.timeout_s)
        try:
            evidence["passed_after_s"] = round(probe.wait(deadline), 1)
            return Acceptance("healthcheck", [], {**evidence, "probe": probe.seen})
        except ProbeFailed as exc:
            problem, fix = f"{service}'s healthcheck cannot run in {image.ref}: {exc}", (
                f"use a program the image has in {key} (exec form needs no /bin/sh), or an image with the shell and wget"
            )
        except WaitTimeout:
            problem = f"{service}'s healthcheck did not pass in {image.ref} within {deadline:.0f}s ({probe.seen})"
            fix = f"make {key} probe what the new version serves"
        except Stopped as exc:
            raise NotEvaluated(f"{exc} in {image.ref} before its healthcheck could run (its acceptance check says why)") from None
        evidence.update(probe=probe.seen, log_tail=one.logs()[-MAX_OUTPUT:])
    finding = files.compose.finding(key, f"{problem} — {never_healthy(run.project, service)}", fix)
    return Acceptance("healthcheck", [finding], evidence)


STEPS: dict[str, Callable[[RunContext, ImageChoice, StackFiles, Policy], list[Acceptance]]] = {
    "loki": loki_steps,
    "prometheus": prometheus_steps,
    "alertmanager": alertmanager_steps,
    "nginx": nginx_steps,
    "grafana": grafana_steps,
}
