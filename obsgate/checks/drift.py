"""Drift: the deployment runs what the gate approved.

The gate approves images (the compose pins, or the ``--image`` overrides it ran) and config files
(stack/prometheus, stack/grafana). A deployment that runs something else — an old image after a pin
was raised, a rule file edited in git and never deployed, a datasource changed by hand — is judged
here from what the running programs say about themselves through the gateway, so the same
judgements hold for the gate's own stack and for a ``--target`` it did not start.

Pure functions over the typed answers of obsgate.clients and the facts of obsgate.stackfiles (unit-tested
with recorded answers); each returns the differences found, every one naming both values (empty = none),
and a check states them with the fix once (``explained``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from obsgate.clients.grafana import DashboardEntry, DatasourceSettings
from obsgate.clients.prometheus import LoadedGroup, Target
from obsgate.core.errors import NotEvaluated
from obsgate.core.findings import shown
from obsgate.stackfiles.compose import ComposeProject, ServiceSpec, tag_version
from obsgate.stackfiles.grafana import GrafanaConf, provider_path, strict
from obsgate.stackfiles.prometheus import DefinedGroup, PrometheusConfig, prom_duration_s

# The version a binary reports: its leading numbers (Debian's packages add "+ds", "+ds1", "-1").
_RUNNING_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)")
IMAGE_FIX = "deploy the approved image, or change the pin to what is meant to run"
CONFIG_FIX = "deploy the approved file and reload Prometheus (POST /-/reload inside the network), or revert the file"
RULES_FIX = "deploy the approved rule files and reload Prometheus, or revert the files"
GRAFANA_FIX = "deploy stack/grafana and restart Grafana (its providers reload dashboards), or revert the files"
# PromQL as Prometheus prints a parsed expression back: strings, ranges/subqueries, names, numbers, operators.
_PROMQL_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|\[[^\]]*\]'
                           r"|[A-Za-z_:][A-Za-z0-9_:]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?"
                           r"|==|!=|>=|<=|=~|!~|\S")


@dataclass(frozen=True)
class Approved:
    """The image the gate approved for a service and where that choice came from."""

    service: str
    ref: str
    source: str                 # "--image" or "compose pin"

    @property
    def version(self) -> str:
        """The version its tag names; NotEvaluated (saying why) when the tag names none."""
        version = tag_version(self.ref)
        if version is None:
            raise NotEvaluated(f"{self.service}: the approved image {self.ref} ({self.source}) names no version "
                               "in its tag: nothing to compare the running version with (pin an x.y.z tag)")
        return version


def approved_image(service: str, overrides: Mapping[str, str], project: ComposeProject) -> Approved:
    """The ``--image`` override the gate ran ``service`` from if given, else the compose pin."""
    if service in overrides:
        return Approved(service, overrides[service], "--image")
    if service not in project.services:
        raise NotEvaluated(f"{service}: not a service of this compose file")
    return Approved(service, project.services[service].image, "compose pin")


def version_problems(approved: Approved, running: str) -> list[str]:
    """The running version against the approved tag's, on as many parts as the tag gives (``2.9`` admits 2.9.x)."""
    want = approved.version
    found = _RUNNING_VERSION.match(running.strip())
    shown_running = running.strip() or "(empty)"
    if found is None:
        return [f"{approved.service}: running {shown_running!r}, not a release version; "
                f"{approved.source} {approved.ref} is {want}"]
    have = found[1]
    if have.split(".")[:len(want.split("."))] == want.split("."):
        return []
    extra = f" ({shown_running})" if shown_running != have else ""
    return [f"{approved.service}: running {have}{extra}, {approved.source} {approved.ref} is {want}"]


def explained(problems: list[str], fix: str) -> str:
    """A failing check's message: the differences, then the fix once."""
    return "; ".join(problems) + f" (fix: {fix})"


# --- Prometheus' loaded config ---------------------------------------------------------------------

def _listed(values: Iterable[object]) -> str:
    items = sorted(map(str, values))
    return "[" + ", ".join(items) + "]" if items else "none"


def _seconds(value: float) -> str:
    return f"{value:g}s"


def loaded_config_problems(approved: PrometheusConfig, loaded: PrometheusConfig) -> list[str]:
    """Prometheus' loaded config against the approved prometheus.yml: global intervals and external labels,
    rule_files, Alertmanagers, and each scrape job's targets, interval and timeout."""
    file = shown(approved.path)
    problems = []

    def differs(what: str, running: object, written: object) -> None:
        if running != written:
            problems.append(f"{what}: running {running}, {file} has {written}")

    differs("global.scrape_interval", _seconds(loaded.scrape_interval_s), _seconds(approved.scrape_interval_s))
    differs("global.scrape_timeout", _seconds(loaded.scrape_timeout_s), _seconds(approved.scrape_timeout_s))
    differs("global.evaluation_interval", _seconds(loaded.evaluation_interval_s),
            _seconds(approved.evaluation_interval_s))
    differs("global.external_labels", loaded.external_labels, approved.external_labels)
    differs("rule_files", _listed(loaded.rule_file_patterns()), _listed(approved.rule_file_patterns()))
    differs("alerting.alertmanagers", _listed(loaded.alertmanager_urls()), _listed(approved.alertmanager_urls()))
    running_jobs, written_jobs = loaded.jobs(), approved.jobs()
    differs("scrape_configs jobs", _listed(running_jobs), _listed(written_jobs))
    for job in (j for j in written_jobs if j in running_jobs):
        differs(f"job {job!r} targets", _listed(t.address for t in loaded.targets() if t.job == job),
                _listed(t.address for t in approved.targets() if t.job == job))
        (run_interval, run_timeout), (interval, timeout) = loaded.job_scrape_s(job), approved.job_scrape_s(job)
        differs(f"job {job!r} scrape_interval", _seconds(run_interval), _seconds(interval))
        differs(f"job {job!r} scrape_timeout", _seconds(run_timeout), _seconds(timeout))
    return problems


# --- rule groups -----------------------------------------------------------------------------------

def _promql_token(token: str) -> str:
    """One token as Prometheus would print it: strings double-quoted, durations and numbers by value."""
    if token[0] in "\"'`":
        return '"' + token[1:-1] + '"'
    if token[0] == "[":
        parts = token[1:-1].replace(" ", "").split(":")
        try:
            return "[" + ":".join(_seconds(prom_duration_s(p)) if p else "" for p in parts) + "]"
        except ValueError:
            return token.replace(" ", "")
    if token[0].isdigit() or token[0] == ".":
        return repr(float(token))
    return token


def promql_tokens(expr: str) -> list[str]:
    """A PromQL expression as tokens that ignore how it was written: whitespace, quote style, ``[60m]`` for
    ``[1h]``, ``0.50`` for ``0.5``, and the empty ``()`` some Prometheus versions print after ``group_left``."""
    tokens = [_promql_token(t) for t in _PROMQL_TOKEN.findall(expr)]
    out: list[str] = []
    for token in tokens:
        if token == ")" and out and out[-1] == "(" and len(out) > 1 and out[-2] in ("group_left", "group_right"):
            out.pop()
            continue
        out.append(token)
    return out


def same_expr(written: str, loaded: str) -> bool:
    """Whether Prometheus' printed ``loaded`` query is the ``written`` expression: the same tokens, or the same
    tokens reordered (Prometheus prints ``sum(x) by (le)`` as ``sum by (le) (x)``)."""
    a, b = promql_tokens(written), promql_tokens(loaded)
    return a == b or Counter(a) == Counter(b)


def _one_line(expr: str) -> str:
    return " ".join(expr.split())


def rule_group_problems(approved: PrometheusConfig, loaded: list[LoadedGroup]) -> list[str]:
    """``GET /api/v1/rules`` against the rule files: the same groups, each at its interval with the same rules
    (kind, name, expression, ``for``, labels), in order; a rule is named by its group and name."""
    written = {g.name: g for g in approved.rule_groups()}
    running = {g.name: g for g in loaded}
    problems = []
    for name in sorted(written.keys() - running.keys()):
        group = written[name]
        problems.append(f"rule group {name!r} ({shown(group.file)}, rules {[r.name for r in group.rules]}) is not "
                        f"loaded: Prometheus has groups {_listed(running)}")
    for name in sorted(running.keys() - written.keys()):
        problems.append(f"rule group {name!r} is loaded (from {running[name].file}) but in no approved rule file "
                        f"({_listed(written)})")
    for name in (n for n in written if n in running):
        problems += _group_problems(written[name], running[name], approved.evaluation_interval_s)
    return problems


def _keyed(names: Iterable[str]) -> list[tuple[str, int]]:
    """(name, occurrence) per rule: a group may hold two rules of one name (a warning and a critical one)."""
    seen: Counter[str] = Counter()
    keys = []
    for name in names:
        keys.append((name, seen[name]))
        seen[name] += 1
    return keys


def _group_problems(group: DefinedGroup, loaded: LoadedGroup, evaluation_s: float) -> list[str]:
    where = f"group {group.name!r} ({shown(group.file)})"
    problems = []
    interval = group.interval_s if group.interval_s is not None else evaluation_s
    if loaded.interval_s != interval:
        problems.append(f"{where} interval: running {_seconds(loaded.interval_s)}, the file gives {_seconds(interval)}")
    written = dict(zip(_keyed(r.name for r in group.rules), group.rules, strict=True))
    running = dict(zip(_keyed(r.name for r in loaded.rules), loaded.rules, strict=True))
    for name, _ in (k for k in written if k not in running):
        problems.append(f"{where}: rule {name!r} is in the file but not loaded (added or renamed, not deployed)")
    for name, _ in (k for k in running if k not in written):
        problems.append(f"{where}: rule {name!r} is loaded but not in the file (removed or renamed, not deployed)")
    for key in (k for k in written if k in running):
        want, have = written[key], running[key]
        rule = f"{where} rule {key[0]!r}"
        if want.kind != have.kind:
            problems.append(f"{rule}: running a {have.kind} rule, the file has a {want.kind} rule")
        if not same_expr(want.expr, have.query):
            problems.append(f"{rule} expr: running {_one_line(have.query)!r}, the file has {_one_line(want.expr)!r}")
        if want.for_s != have.for_s:
            problems.append(f"{rule} for: running {_seconds(have.for_s)}, the file has {_seconds(want.for_s)}")
        if dict(have.labels) != want.labels:
            problems.append(f"{rule} labels: running {dict(have.labels)}, the file has {want.labels}")
    return problems


# --- discovery and targets ------------------------------------------------------------------------

def alertmanager_problems(approved: PrometheusConfig, active: list[str]) -> list[str]:
    """``GET /api/v1/alertmanagers``: alerts go to at least one Alertmanager, exactly those the config names."""
    want = approved.alertmanager_urls()
    if not active:
        return [f"Prometheus has no active Alertmanager ({shown(approved.path)} names {_listed(want)}): "
                "alerts go nowhere; check the alerting section and that the Alertmanagers resolve"]
    if set(active) != set(want):
        return [f"Alertmanagers: Prometheus sends to {_listed(active)}, {shown(approved.path)} names {_listed(want)}"]
    return []


def target_problems(approved: PrometheusConfig, active: list[Target]) -> list[str]:
    """``GET /api/v1/targets``: the active scrape targets are the configured ones, job by job (health is
    judged elsewhere: a target down is an outage, not drift)."""
    want = {(t.job, t.address) for t in approved.targets()}
    have = {(t.job, urlsplit(t.scrape_url).netloc) for t in active}
    problems = [f"job {job!r} target {address} is configured but not scraped" for job, address in sorted(want - have)]
    problems += [f"job {job!r} target {address} is scraped but not in {shown(approved.path)}"
                 for job, address in sorted(have - want)]
    return problems


# --- Grafana ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProvisionedBoard:
    uid: str
    title: str
    folder: str         # the provider's folder; "" for the General folder


def provisioned_datasource_settings(spec: ServiceSpec) -> list[DatasourceSettings]:
    """The datasources the mounted provisioning files declare, with the settings Grafana lists back."""
    conf = GrafanaConf(spec)
    strict(conf.datasource_files)
    return [DatasourceSettings(str(d.get("uid", "")), str(d.get("name", "")), str(d.get("type", "")),
                               str(d.get("url", "")), d.get("isDefault") is True) for _, _, d in conf.datasources()]


def provisioned_boards(spec: ServiceSpec) -> list[ProvisionedBoard]:
    """Every dashboard the file providers read, with its uid, title and the provider's folder."""
    conf = GrafanaConf(spec)
    strict(conf.dashboard_provider_files)
    boards = []
    for _, _, provider in conf.file_providers():
        for board in strict(conf.dashboards(provider_path(provider) or "")):
            assert board.doc is not None
            boards.append(ProvisionedBoard(str(board.doc.get("uid", "")), str(board.doc.get("title", board.host.stem)),
                                           str(provider.get("folder", ""))))
    return boards


def datasource_drift(approved: list[DatasourceSettings], listed: list[DatasourceSettings]) -> list[str]:
    """Each provisioned datasource present under its uid with the provisioned name, type, URL and default flag
    (datasources added in the UI are no drift of the provisioned ones and are left alone)."""
    by_uid = {d.uid: d for d in listed}
    problems = []
    for want in approved:
        have = by_uid.get(want.uid)
        if have is None:
            problems.append(f"datasource uid {want.uid!r} ({want.name}) is provisioned but Grafana has none "
                            f"(it has {_listed(by_uid)})")
            continue
        for what in ("name", "type", "url", "is_default"):
            if getattr(have, what) != getattr(want, what):
                problems.append(f"datasource {want.uid!r} {what}: running {getattr(have, what)!r}, "
                                f"provisioned {getattr(want, what)!r}")
    return problems


def dashboard_drift(approved: list[ProvisionedBoard], listed: list[DashboardEntry]) -> list[str]:
    """Each provisioned dashboard present under its uid, with its file's title, in its provider's folder."""
    by_uid = {d.uid: d for d in listed}
    problems = []
    for want in approved:
        have = by_uid.get(want.uid)
        if have is None:
            problems.append(f"dashboard {want.title!r} (uid {want.uid!r}) is provisioned but not in Grafana")
            continue
        if have.title != want.title:
            problems.append(f"dashboard {want.uid!r} title: running {have.title!r}, the file has {want.title!r} "
                            "(an older or a hand-edited version runs)")
        if want.folder and have.folder_title != want.folder:
            problems.append(f"dashboard {want.uid!r} folder: running {have.folder_title or '(General)'!r}, "
                            f"provisioned into {want.folder!r}")
    return problems
