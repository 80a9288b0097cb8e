"""The release policy (gate.yml): categories, thresholds, blockers, numeric targets and the
load profile's settings (durations, batch size, saturation steps: how the load checks drive the
stack, never judged, so they are not targets).

Loading validates everything up front, so a malformed policy stops the run before any
container starts, with one InputError naming the file, the key and the fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from obsgate.core.errors import InputError
from obsgate.core.results import Judgement
from obsgate.core.yamlio import YamlDoc

SCHEMA_VERSION = 1
TOP_LEVEL_KEYS = ("schema_version", "thresholds", "categories", "blockers", "targets", "load", "target")
TARGET_LOAD_KEYS = ("max_lines_per_s", "max_load_s")
TARGET_LOAD_EXAMPLE = "target: {max_lines_per_s: 11000, max_load_s: 150}"
CATEGORY_KEYS = ("weight", "advisory", "description")
TARGET_KEYS = ("value", "warn", "better", "unit", "description")
TARGET_REQUIRED = ("value", "better", "unit", "description")
LOAD_KEYS = ("ramp_s", "steady_s", "offer_margin", "margin_s", "lines_per_push", "query_interval_s", "saturation",
             "processes", "expect_workers", "workers_deadline_s", "soak_s")
SATURATION_KEYS = ("start_lines_per_s", "step_lines_per_s", "max_lines_per_s", "step_s")
LOAD_EXAMPLE = ("load: {ramp_s: 15, steady_s: 60, offer_margin: 0.1, margin_s: 20, lines_per_push: 1000, query_interval_s: 2, "
                "saturation: {start_lines_per_s: 5000, step_lines_per_s: 5000, "
                "max_lines_per_s: 60000, step_s: 20}}")
SCORED_WEIGHT_TOTAL = 100.0


def format_number(value: float) -> str:
    """A number as people read it in reports: thousands separators, no float noise."""
    if not math.isfinite(value):
        return str(value)
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 1e5:
        return f"{value:,.1f}"
    return f"{value:,.6g}"


def function_name(check_id: str) -> str:
    """The test function a check id names: blockers name functions, not parametrizations."""
    return check_id.split("[", 1)[0]


@dataclass(frozen=True)
class Category:
    """A scoring category; advisory ones are reported but carry no weight."""

    name: str
    weight: float
    advisory: bool
    description: str


@dataclass(frozen=True)
class Target:
    """A numeric target: `value` meets it, the band up to `warn` is a soft miss."""

    key: str
    value: float
    warn: float | None
    better: Literal["higher", "lower"]
    unit: str
    description: str

    def judge(self, measured: float) -> Judgement:
        """Met, soft (inside the warn band) or missed; NaN is never good."""
        if math.isnan(measured):
            return Judgement.MISSED
        if self._meets(measured, self.value):
            return Judgement.MET
        if self.warn is not None and self._meets(measured, self.warn):
            return Judgement.SOFT
        return Judgement.MISSED

    def explain(self, measured: float) -> str:
        """One line with the comparison, so a reader can check the judgement by eye."""
        judgement = self.judge(measured)
        good, bad = (">=", "<") if self.better == "higher" else ("<=", ">")
        line = (
            f"{self._with_unit(measured)} {good if judgement is Judgement.MET else bad} "
            f"target {self._with_unit(self.value)}"
        )
        if self.warn is None or judgement is Judgement.MET:
            return line
        band = f"soft-miss band {good} {format_number(self.warn)}"
        return f"{line} ({band})" if judgement is Judgement.SOFT else f"{line} (outside {band})"

    def _meets(self, measured: float, bound: float) -> bool:
        return measured >= bound if self.better == "higher" else measured <= bound

    def _with_unit(self, number: float) -> str:
        return f"{format_number(number)} {self.unit}".rstrip()


@dataclass(frozen=True)
class SaturationSettings:
    """The opt-in step-up: from ``start`` by ``step`` every ``step_s`` seconds up to ``max`` lines/s."""

    start_lines_per_s: float
    step_lines_per_s: float
    max_lines_per_s: float
    step_s: float


@dataclass(frozen=True)
class LoadSettings:
    """How the load checks drive the stack (gate.yml ``load``); settings, not judged figures."""

    ramp_s: float
    steady_s: float
    offer_margin: float       # after the steady window, the target rate times (1 + this): the target proven with margin
    margin_s: float           # how long that margin window lasts
    lines_per_push: int
    query_interval_s: float
    saturation: SaturationSettings
    processes: int = 1                # local generator processes: 1 runs in the driver itself, more are Locust workers
    expect_workers: int = 0           # remote Locust workers the run waits for (locust --worker --master-host HOST)
    workers_deadline_s: float = 60.0  # how long it waits for all workers to connect before it fails naming the missing
    soak_s: float | None = None       # the opt-in soak's length at the target rate; None: no soak configured


@dataclass(frozen=True)
class TargetLoadCap:
    """How much load ``--target-load`` may put on a deployment the gate did not start (gate.yml ``target``)."""

    max_lines_per_s: float    # no phase of the profile offers more
    max_load_s: float         # the whole profile lasts no longer


@dataclass(frozen=True)
class Policy:
    """The whole validated policy; `path` is kept so later errors can name the file."""

    path: Path
    pass_threshold: float
    warn_threshold: float
    categories: dict[str, Category]
    blockers: tuple[str, ...]
    targets: dict[str, Target]
    load_settings: LoadSettings | None = None
    target_cap: TargetLoadCap | None = None

    def target_load_cap(self) -> TargetLoadCap:
        """The cap on load against a --target; optional in gate.yml, so --target-load is where it is missed."""
        if self.target_cap is None:
            raise InputError(self.path, "target", "no cap for --target-load: the load on a deployment the gate did "
                             "not start must be capped", f"add {TARGET_LOAD_EXAMPLE}")
        return self.target_cap

    def load(self) -> LoadSettings:
        """The load profile's settings; optional in gate.yml, so a load check asking is where it is missed."""
        if self.load_settings is None:
            raise InputError(self.path, "load", "the load settings are missing: a load check asks for them",
                             f"add {LOAD_EXAMPLE}")
        return self.load_settings

    def target(self, key: str) -> Target:
        """The target a check is judged by; a check asking for an absent one is a policy bug."""
        try:
            return self.targets[key]
        except KeyError:
            raise InputError(
                self.path, f"targets.{key}", "a target missing: a check asks for it",
                f"add targets.{key} with value, better, unit and description "
                f"(known: {_names(self.targets)})",
            ) from None

    def category(self, name: str) -> Category:
        """The category a check's marker names; an unknown one would score nowhere."""
        try:
            return self.categories[name]
        except KeyError:
            raise InputError(
                self.path, f"categories.{name}", "unknown category named by a check",
                f"use one of {_names(self.categories)} or add it to categories",
            ) from None

    def check_blockers(self, known_check_ids: set[str]) -> None:
        """Blockers must name collected checks, or a typo would silently disarm one."""
        known = {function_name(c) for c in known_check_ids}
        unknown = [(i, b) for i, b in enumerate(self.blockers) if b not in known]
        if not unknown:
            return
        index = unknown[0][0]
        names = ", ".join(b for _, b in unknown)
        raise InputError(
            self.path, f"blockers[{index}]", f"names no existing check: {names}",
            "name a collected test function (e.g. test_loki_is_ready) or remove the entry",
        )


def load_policy(path: Path) -> Policy:
    """Read and validate gate.yml; any problem is one InputError with the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(path, "(file)", f"cannot read the policy: {exc.strerror or exc}",
                         "pass the path of an existing gate.yml") from None
    data = YamlDoc.parse(text, str(path)).data    # invalid YAML, a duplicate key: an InputError with its line
    if not isinstance(data, dict):
        raise InputError(path, "(document)", "the policy is not a mapping",
                         f"write a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
    return _Validator(path).policy(data)


class _Validator:
    """Turns the parsed mapping into a Policy, one InputError for the first problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str, fix: str) -> InputError:
        return InputError(self.path, key, problem, fix)

    def policy(self, data: dict[str, Any]) -> Policy:
        unknown = [str(k) for k in data if k not in TOP_LEVEL_KEYS]
        if unknown:
            raise self.fail(unknown[0], "unknown top-level key",
                            f"remove it; allowed keys are {', '.join(TOP_LEVEL_KEYS)}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            raise self.fail("schema_version", f"must be {SCHEMA_VERSION}, got {version!r}",
                            f"set schema_version: {SCHEMA_VERSION}")
        pass_threshold, warn_threshold = self.thresholds(data.get("thresholds"))
        return Policy(
            path=self.path,
            pass_threshold=pass_threshold,
            warn_threshold=warn_threshold,
            categories=self.categories(data.get("categories")),
            blockers=self.blockers(data.get("blockers", [])),
            targets=self.targets(data.get("targets", {})),
            load_settings=None if data.get("load") is None else self.load(data["load"]),
            target_cap=None if data.get("target") is None else self.target_load(data["target"]),
        )

    def number(self, key: str, value: object, fix: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise self.fail(key, f"must be a number, got {value!r}", fix)
        return float(value)

    def mapping(self, key: str, value: object, fix: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not value:
            raise self.fail(key, "missing or not a non-empty mapping", fix)
        return value

    def no_unknown(self, key: str, entry: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = [k for k in entry if k not in allowed]
        if not unknown:
            return
        fix = f"remove it; allowed keys are {', '.join(allowed)}"
        if entry[unknown[0]] is None:
            # `{description: a, b}` parses as description "a" plus a key "b".
            fix += "; if it is the tail of a value cut at a comma, quote that value"
        raise self.fail(f"{key}.{unknown[0]}", "unknown key", fix)

    def thresholds(self, raw: object) -> tuple[float, float]:
        fix = "write thresholds: {pass: 80, warn: 60} with 0 <= warn < pass <= 100"
        section = self.mapping("thresholds", raw, fix)
        self.no_unknown("thresholds", section, ("pass", "warn"))
        for name in ("pass", "warn"):
            if name not in section:
                raise self.fail(f"thresholds.{name}", "threshold missing", fix)
        pass_t = self.number("thresholds.pass", section["pass"], fix)
        warn_t = self.number("thresholds.warn", section["warn"], fix)
        if not 0 <= pass_t <= 100:
            raise self.fail("thresholds.pass", f"{format_number(pass_t)} is outside 0..100", fix)
        if not 0 <= warn_t < pass_t:
            raise self.fail(
                "thresholds.warn",
                f"thresholds out of order: warn {format_number(warn_t)} must be >= 0 "
                f"and < pass {format_number(pass_t)}", fix,
            )
        return pass_t, warn_t

    def categories(self, raw: object) -> dict[str, Category]:
        section = self.mapping("categories", raw,
                               "list the categories with their weights under categories")
        categories: dict[str, Category] = {}
        for name, entry in section.items():
            key = f"categories.{name}"
            if not isinstance(name, str) or not name.strip():
                raise self.fail(key, "category name must be a non-empty string",
                                "use a plain name such as Security")
            if not isinstance(entry, dict):
                raise self.fail(key, "must be a mapping", "write {weight: N, description: ...}")
            self.no_unknown(key, entry, CATEGORY_KEYS)
            if "weight" not in entry:
                raise self.fail(f"{key}.weight", "weight missing", "add weight: N")
            weight = self.number(f"{key}.weight", entry["weight"], "use a number >= 0")
            advisory = entry.get("advisory", False)
            if not isinstance(advisory, bool):
                raise self.fail(f"{key}.advisory", f"must be true or false, got {advisory!r}",
                                "write advisory: true or leave it out")
            if weight < 0:
                raise self.fail(f"{key}.weight", "weight is negative", "use a number >= 0")
            if advisory and weight != 0:
                raise self.fail(f"{key}.weight",
                                "an advisory category is reported, never scored",
                                "set weight: 0 or drop advisory: true")
            description = entry.get("description", "")
            if not isinstance(description, str):
                raise self.fail(f"{key}.description", "must be a string", "quote the text")
            categories[name] = Category(name, weight, advisory, description)
        total = sum(c.weight for c in categories.values() if not c.advisory)
        if not math.isclose(total, SCORED_WEIGHT_TOTAL, abs_tol=1e-9):
            weights = ", ".join(f"{c.name} {format_number(c.weight)}"
                                for c in categories.values() if not c.advisory)
            raise self.fail(
                "categories", f"weights of scored categories sum to {format_number(total)}, "
                f"not 100 ({weights})", "adjust the weights so they add up to 100",
            )
        return categories

    def blockers(self, raw: object) -> tuple[str, ...]:
        if not isinstance(raw, list):
            raise self.fail("blockers", "must be a list of test function names",
                            "write blockers: [test_loki_is_ready, ...]")
        seen: set[str] = set()
        for i, name in enumerate(raw):
            if not isinstance(name, str) or not name.strip():
                raise self.fail(f"blockers[{i}]", f"not a test function name: {name!r}",
                                "write the name of a test function")
            if name in seen:
                raise self.fail(f"blockers[{i}]", f"duplicate blocker {name}",
                                "list each blocker once")
            seen.add(name)
        return tuple(raw)

    def targets(self, raw: object) -> dict[str, Target]:
        if not isinstance(raw, dict):
            raise self.fail("targets", "must be a mapping of target keys",
                            "write targets: {key: {value: N, better: higher, unit: ..., "
                            "description: ...}}")
        return {str(k): self.target(str(k), v) for k, v in raw.items()}

    def target(self, name: str, entry: object) -> Target:
        key = f"targets.{name}"
        if not isinstance(entry, dict):
            raise self.fail(key, "must be a mapping",
                            "write {value: N, better: higher|lower, unit: ..., description: ...}")
        self.no_unknown(key, entry, TARGET_KEYS)
        for field in TARGET_REQUIRED:
            if field not in entry:
                raise self.fail(f"{key}.{field}", f"target missing field {field}",
                                f"add {field} to {key}")
        value = self.number(f"{key}.value", entry["value"], "use a number")
        better = entry["better"]
        if better not in ("higher", "lower"):
            raise self.fail(f"{key}.better", f"must be higher or lower, got {better!r}",
                            "write better: higher or better: lower")
        for field in ("unit", "description"):
            if not isinstance(entry[field], str):
                raise self.fail(f"{key}.{field}", "must be a string", "quote the text")
        warn = None
        if entry.get("warn") is not None:
            warn = self.number(f"{key}.warn", entry["warn"], "use a number or leave it out")
            if (better == "higher" and warn >= value) or (better == "lower" and warn <= value):
                side = "below" if better == "higher" else "above"
                raise self.fail(
                    f"{key}.warn",
                    f"warn {format_number(warn)} is on the wrong side of value "
                    f"{format_number(value)} for better: {better}",
                    f"make warn {side} value (it bounds the soft-miss band)",
                )
        return Target(name, value, warn, cast(Literal["higher", "lower"], better),
                      entry["unit"], entry["description"])


    def positive(self, key: str, entry: dict[str, Any], field: str, what: str) -> float:
        """A required number > 0: a zero or negative duration, batch or rate cannot drive a run."""
        if field not in entry:
            raise self.fail(f"{key}.{field}", f"setting missing: {what}", f"add {field} to {key}")
        value = self.number(f"{key}.{field}", entry[field], f"use a number > 0 ({what})")
        if value <= 0:
            raise self.fail(f"{key}.{field}", f"must be > 0, got {format_number(value)}",
                            f"use a number > 0 ({what})")
        return value

    def load(self, raw: object) -> LoadSettings:
        section = self.mapping("load", raw, f"write {LOAD_EXAMPLE}")
        self.no_unknown("load", section, LOAD_KEYS)
        lines = self.positive("load", section, "lines_per_push", "lines in one push")
        if lines != int(lines):
            raise self.fail("load.lines_per_push", f"must be a whole number, got {format_number(lines)}",
                            "use a whole number of lines")
        return LoadSettings(
            ramp_s=self.positive("load", section, "ramp_s", "seconds ramping to the target rate"),
            steady_s=self.positive("load", section, "steady_s", "seconds measured at the target rate"),
            offer_margin=self.margin(section),
            margin_s=self.positive("load", section, "margin_s", "seconds measured at the target plus offer_margin"),
            lines_per_push=int(lines),
            query_interval_s=self.positive("load", section, "query_interval_s",
                                           "seconds between the LogQL queries"),
            saturation=self.saturation(section.get("saturation")),
            processes=self.whole("load", section, "processes", 1, 1, "local generator processes"),
            expect_workers=self.whole("load", section, "expect_workers", 0, 0, "remote workers to wait for"),
            workers_deadline_s=(self.positive("load", section, "workers_deadline_s", "seconds to wait for the workers")
                                if "workers_deadline_s" in section else 60.0),
            soak_s=self.positive("load", section, "soak_s", "seconds of the soak") if "soak_s" in section else None,
        )

    def target_load(self, raw: object) -> TargetLoadCap:
        section = self.mapping("target", raw, f"write {TARGET_LOAD_EXAMPLE}")
        self.no_unknown("target", section, TARGET_LOAD_KEYS)
        return TargetLoadCap(
            max_lines_per_s=self.positive("target", section, "max_lines_per_s", "the most lines/s --target-load offers"),
            max_load_s=self.positive("target", section, "max_load_s", "the longest --target-load run, in seconds"))

    def whole(self, key: str, section: dict[str, Any], field: str, default: int, least: int, what: str) -> int:
        """An optional whole number >= ``least`` (a count of processes or workers)."""
        if field not in section:
            return default
        fix = f"use a whole number >= {least} ({what})"
        value = self.number(f"{key}.{field}", section[field], fix)
        if value != int(value) or value < least:
            raise self.fail(f"{key}.{field}", f"must be a whole number >= {least}, got {format_number(value)}", fix)
        return int(value)

    def margin(self, section: dict[str, Any]) -> float:
        """load.offer_margin: 0 offers exactly the target (pacing noise then decides pass or miss), 1 doubles it."""
        fix = "use a ratio from 0 to 1, e.g. 0.1 to offer 10 % above the target"
        if "offer_margin" not in section:
            raise self.fail("load.offer_margin", "setting missing: how far above the target the load offers", fix)
        value = self.number("load.offer_margin", section["offer_margin"], fix)
        if not 0 <= value <= 1:
            raise self.fail("load.offer_margin", f"must be from 0 to 1, got {format_number(value)}", fix)
        return value

    def saturation(self, raw: object) -> SaturationSettings:
        key = "load.saturation"
        section = self.mapping(key, raw, "write saturation: {start_lines_per_s: 5000, step_lines_per_s: 5000, "
                                         "max_lines_per_s: 60000, step_s: 20}")
        self.no_unknown(key, section, SATURATION_KEYS)
        settings = SaturationSettings(
            start_lines_per_s=self.positive(key, section, "start_lines_per_s", "the first step's lines/s"),
            step_lines_per_s=self.positive(key, section, "step_lines_per_s", "lines/s added per step"),
            max_lines_per_s=self.positive(key, section, "max_lines_per_s", "the last step's lines/s"),
            step_s=self.positive(key, section, "step_s", "seconds per step"),
        )
        if settings.max_lines_per_s < settings.start_lines_per_s:
            raise self.fail(
                f"{key}.max_lines_per_s",
                f"max {format_number(settings.max_lines_per_s)} is below start "
                f"{format_number(settings.start_lines_per_s)}",
                "make max_lines_per_s >= start_lines_per_s (the run steps up from start to max)",
            )
        return settings


def _names(mapping: dict[str, Any]) -> str:
    return ", ".join(mapping) or "none"
