"""Can the alerting config page in time at all? The worst case of each critical alert, by arithmetic.

A page waits for configured intervals before the stack does anything: the next scrape
(and its timeout), the next rule evaluation, the rule's ``for:`` (held until the first
evaluation at least that long after the alert turned active), the route's ``group_wait``.
Their sum plus the policy's allowance for the stack's own work (``notification_dispatch_s``)
is the worst case a healthy stack can show; when it exceeds the policy's budget no live
measurement is needed to know the stack misses it, and the live checks fail at once with
the same arithmetic instead of waiting for it.

Two budgets:
- ``alert_delivery_s``, rule true -> receiver, per critical route: evaluation interval +
  group_wait + dispatch allowance (what the test alert measures live).
- ``outage_to_page_s``, outage -> page, per critical alert on ``up`` (a scrape target
  down, as when Loki stops): scrape interval + scrape timeout + evaluation interval +
  ``for`` + group_wait + dispatch allowance (what the Loki-down check measures live).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from obsgate.checks.alerting.routing import CRITICAL, Route, routes_for
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.findings import Finding, shown
from obsgate.core.policy import Policy, Target, format_number
from obsgate.core.recorder import GateRecorder
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.alertmanager import AlertmanagerConfig
from obsgate.stackfiles.compose import ComposeProject
from obsgate.stackfiles.prometheus import PrometheusConfig, prom_duration_s

DISPATCH = "notification_dispatch_s"
_UP = re.compile(r"(?<![\w:])up(?![\w:])")
_JOB = re.compile(r'\bjob\s*=\s*"([^"]*)"')


@dataclass(frozen=True)
class Term:
    """One summand of a worst case: what it is, how long, and where it is set."""

    what: str
    seconds: float
    file: str
    key: str
    line: int | None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{self.what} {format_number(self.seconds)} s ({where} {self.key})"


@dataclass(frozen=True)
class Budget:
    """The worst case of one alert path, as a sum of terms."""

    key: str                # short name: the route, or alert@route
    subject: str
    terms: tuple[Term, ...]

    @property
    def seconds(self) -> float:
        return sum(t.seconds for t in self.terms)

    @property
    def arithmetic(self) -> str:
        return " + ".join(str(t) for t in self.terms) + f" = {format_number(self.seconds)} s"

    def finding(self, target: Target) -> Finding:
        """A miss, located at the largest configured term (the one to shorten)."""
        largest = max((t for t in self.terms if t.key != f"targets.{DISPATCH}"), key=lambda t: t.seconds)
        return Finding(largest.file, largest.key, largest.line,
                       f"{self.subject}: worst case {target.explain(self.seconds)}: {self.arithmetic}",
                       f"shorten {largest.what} (or the other configured terms) so their sum fits "
                       f"{target.key} {format_number(target.value)} s")


@dataclass(frozen=True)
class RuleTiming:
    """An alerting rule with where each of its timings is set."""

    name: str
    expr: str
    labels: dict[str, str]
    for_s: float
    evaluation: Term
    for_key: str
    doc: YamlDoc


@dataclass(frozen=True)
class AlertingConfig:
    """prometheus.yml, alertmanager.yml and the loaded rule files, with line numbers, as mounted."""

    prometheus: PrometheusConfig
    alertmanager: AlertmanagerConfig
    rule_docs: tuple[YamlDoc, ...]
    dispatch: Term

    @classmethod
    def of_project(cls, project: ComposeProject, policy: Policy) -> AlertingConfig:
        prometheus = PrometheusConfig.of_service(project.services["prometheus"])
        alertmanager = AlertmanagerConfig.of_service(project.services["alertmanager"])
        dispatch = policy.target(DISPATCH)
        return cls(prometheus, alertmanager, tuple(f.doc for f in prometheus.rules),
                   Term("dispatch allowance", dispatch.value, shown(policy.path), f"targets.{DISPATCH}", None))

    @property
    def prometheus_doc(self) -> YamlDoc:
        return self.prometheus.doc

    @property
    def alertmanager_doc(self) -> YamlDoc:
        return self.alertmanager.doc

    def _global(self, key: str, seconds: float) -> Term:
        doc = self.prometheus_doc
        line = doc.lines.get(f"global.{key}")
        return Term(key, seconds, doc.name, f"global.{key}" if line else f"global.{key} (default)", line)

    @property
    def evaluation(self) -> Term:
        return self._global("evaluation_interval", self.prometheus.evaluation_interval_s)

    def scrape(self, job: str) -> tuple[Term, Term]:
        """(interval, timeout) terms of a scrape job, at the job's own keys or the global ones."""
        seconds = self.prometheus.job_scrape_s(job)
        jobs = self.prometheus_doc.get("scrape_configs") or []
        index = next((i for i, j in enumerate(jobs) if j.get("job_name") == job), None)
        terms = []
        for what, value in zip(("scrape_interval", "scrape_timeout"), seconds, strict=True):
            own = f"scrape_configs[{index}].{what}"
            line = self.prometheus_doc.lines.get(own)
            where = Term(what, value, self.prometheus_doc.name, own, line) if line else self._global(what, value)
            terms.append(Term(f"{what} of job {job}", value, where.file, where.key, where.line))
        return terms[0], terms[1]

    def alert_rules(self) -> list[RuleTiming]:
        out = []
        for doc in self.rule_docs:
            for g, group in enumerate(doc.get("groups") or []):
                own = f"groups[{g}].interval"
                evaluation = (Term("evaluation interval", prom_duration_s(str(group["interval"])), doc.name, own,
                                   doc.lines.get(own)) if "interval" in group else self.evaluation)
                for r, rule in enumerate(group.get("rules") or []):
                    if "alert" in rule:
                        out.append(RuleTiming(str(rule["alert"]), str(rule["expr"]),
                                              {str(k): str(v) for k, v in (rule.get("labels") or {}).items()},
                                              prom_duration_s(str(rule.get("for", "0s"))), evaluation,
                                              f"groups[{g}].rules[{r}].for", doc))
        return out

    def critical_rules(self) -> list[RuleTiming]:
        """The rules whose alerts page (``CRITICAL`` labels)."""
        return [r for r in self.alert_rules() if all(r.labels.get(k) == v for k, v in CRITICAL.items())]

    def routes(self, alertname: str, labels: Mapping[str, str]) -> list[Route]:
        """The routes Alertmanager gives an alert Prometheus sends (external labels added)."""
        return routes_for(self.alertmanager_doc.data or {},
                          {**self.prometheus.external_labels, **labels, "alertname": alertname})

    def group_wait(self, route: Route) -> Term:
        key = route.group_wait_key
        line = self.alertmanager_doc.lines.get(key)
        return Term(f"group_wait of {route.name}", route.group_wait_s, self.alertmanager_doc.name,
                    key if line else f"{key} (default)", line)


def load(project: ComposeProject, policy: Policy) -> AlertingConfig:
    """The alerting config of ``project``; AssertionError naming the file and key when it cannot be read."""
    missing = [s for s in ("prometheus", "alertmanager") if s not in project.services]
    if missing:
        raise AssertionError(f"{shown(project.path)}: services.{missing[0]}: no such service: nothing can page")
    try:
        return AlertingConfig.of_project(project, policy)
    except InputError as exc:
        raise AssertionError(str(Finding.of(exc))) from None


def _delivery(config: AlertingConfig, route: Route, evaluation: Term, names: Sequence[str]) -> Budget:
    shown = ", ".join(names[:2]) + (f" +{len(names) - 2} more" if len(names) > 2 else "")
    return Budget(route.key, f"critical route {route.name}: {shown}", (evaluation, config.group_wait(route), config.dispatch))


def delivery_budgets(config: AlertingConfig, probe: tuple[str, Mapping[str, str]]) -> list[Budget]:
    """Rule true -> receiver, per critical route: the slowest evaluation interval of its alerts + group_wait + dispatch.

    ``probe`` (alert name, labels) is the live check's test alert, which takes a critical route too.
    """
    worst: dict[str, tuple[Route, Term, list[str]]] = {}
    paths = [(r.name, r.labels, r.evaluation) for r in config.critical_rules()]
    for name, labels, evaluation in [*paths, (probe[0], dict(probe[1]), config.evaluation)]:
        for route in config.routes(name, labels):
            known = worst.get(route.key)
            slowest = evaluation if known is None or evaluation.seconds > known[1].seconds else known[1]
            worst[route.key] = (route, slowest, [*(known[2] if known else []), name])
    return [_delivery(config, route, evaluation, names) for route, evaluation, names in worst.values()]


def probe_budget(config: AlertingConfig, name: str, labels: Mapping[str, str]) -> Budget:
    """The worst case of one alert evaluated at the global interval (the test alert), over the routes it takes."""
    budgets = [_delivery(config, route, config.evaluation, [name]) for route in config.routes(name, labels)]
    return max(budgets, key=lambda b: b.seconds)


def held_for(rule: RuleTiming) -> Term:
    """``for:`` as Prometheus applies it: firing at the first evaluation at least ``for`` after activeAt."""
    interval = rule.evaluation.seconds
    held = math.ceil(rule.for_s / interval) * interval if interval else rule.for_s
    return Term("for (held to the next evaluation)", held, rule.doc.name, rule.for_key, rule.doc.lines.get(rule.for_key))


def outage_budget(config: AlertingConfig, rule: RuleTiming, jobs: Sequence[str] | None = None) -> list[Budget]:
    """Outage -> page for one alert on ``up``, per route, on the slowest scrape job it watches.

    ``jobs``: the outage's own jobs; else the ones the expression names, else every job.
    """
    known = config.prometheus.jobs()
    watched = [j for j in jobs or _JOB.findall(rule.expr) if j in known] or ([] if jobs else known)
    if not watched:
        return []
    interval, timeout = max((config.scrape(j) for j in watched), key=lambda it: it[0].seconds + it[1].seconds)
    return [Budget(f"{rule.name}@{route.key}", f"{rule.name} via {route.name}",
                   (interval, timeout, rule.evaluation, held_for(rule), config.group_wait(route), config.dispatch))
            for route in config.routes(rule.name, rule.labels)]


def outage_budgets(config: AlertingConfig) -> list[Budget]:
    """Every critical alert that pages on a scrape target being down (its expression reads ``up``)."""
    return [b for rule in config.critical_rules() if _UP.search(rule.expr) for b in outage_budget(config, rule)]


def no_outage_alert(config: AlertingConfig) -> list[Finding]:
    """A finding when no critical alert watches ``up``: then a service going down pages nobody."""
    if outage_budgets(config):
        return []
    if not config.rule_docs:
        # Which pattern loads nothing, and why, is the wiring and promtool checks' finding.
        raise NotEvaluated("no rule file is loaded, so there is no alert to judge "
                           "(see test_wiring_referenced_files_are_mounted)")
    names = ", ".join(d.name for d in config.rule_docs)
    return [Finding(names, "groups[].rules[]", None, "no critical alerting rule reads `up`: a service that goes "
                    "down pages nobody", "add a rule such as `up == 0` with labels severity: critical")]


def judge(budgets: Sequence[Budget], target_key: str, gate: GateRecorder, name: str) -> list[Finding]:
    """Record each worst case as a measurement against ``target_key``; a finding for each miss."""
    target = gate.policy.target(target_key)
    findings = []
    for budget in budgets:
        gate.evidence[budget.subject] = budget.arithmetic
        try:
            gate.measure(target_key, budget.seconds, name=f"{name}[{budget.key}]")
        except AssertionError:
            findings.append(budget.finding(target))
    return findings
