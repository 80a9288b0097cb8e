"""gate.json: the machine-readable record of a run, checked against gate.schema.json."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict
from importlib import resources
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from obsgate.core.policy import Policy
from obsgate.core.results import CauseGroup, CheckResult, Measurement, Outcome, cause_of
from obsgate.gate.report.history import RunComparison
from obsgate.gate.scoring import GateScore, earned

SCHEMA_VERSION = "3"  # 2: not_evaluated_causes, and each check's cause; 3: failure_causes
SCHEMA_FILE = "gate.schema.json"


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(
        resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))
    return schema


def validate_gate_document(document: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError if the document breaks gate.schema.json."""
    jsonschema.validate(document, load_schema())


def validate_metadata(metadata: Mapping[str, Any]) -> None:
    """Check the plugin's metadata first: history and comparison depend on its keys."""
    jsonschema.validate(dict(metadata), load_schema()["properties"]["metadata"])


def build_gate_document(gate: GateScore, metadata: Mapping[str, Any],
                        comparison: RunComparison | None) -> dict[str, Any]:
    """The gate.json content, as plain JSON values (what is validated is what is written)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "metadata": dict(metadata),
        "policy": _policy(gate.policy),
        "total": gate.total,
        "verdict": gate.verdict.value,
        "reasons": list(gate.reasons),
        "missing_blockers": list(gate.missing_blockers),
        "counts": {o.value: sum(r.outcome is o for r in gate.results) for o in Outcome},
        "categories": [asdict(c) for c in gate.categories],
        "checks": [_check(r) for r in gate.results],
        "not_evaluated_causes": [_cause(g) for g in gate.causes],
        "failure_causes": [_cause(g) for g in gate.failure_causes],
        "comparison": asdict(comparison) if comparison else None,
    }
    plain: dict[str, Any] = json.loads(json.dumps(_finite(document), default=str))
    return plain


def _policy(policy: Policy) -> dict[str, Any]:
    return {
        "path": str(policy.path),
        "pass_threshold": policy.pass_threshold,
        "warn_threshold": policy.warn_threshold,
        "categories": [asdict(c) for c in policy.categories.values()],
        "blockers": list(policy.blockers),
        "targets": {k: asdict(t) for k, t in policy.targets.items()},
        "load": asdict(policy.load_settings) if policy.load_settings else None,
    }


def _check(r: CheckResult) -> dict[str, Any]:
    return {
        "check_id": r.check_id,
        "nodeid": r.nodeid,
        "category": r.category,
        "weight": r.weight,
        "earned": earned(r),
        "outcome": r.outcome.value,
        "blocker": r.blocker,
        "reason": r.reason,
        "duration_s": r.duration_s,
        "measurements": [_measurement(m) for m in r.measurements],
        "evidence": r.evidence,
        "cause": cause_of(r).key if r.outcome is Outcome.NOT_EVALUATED else r.cause.key if r.cause else None,
    }


def _cause(group: CauseGroup) -> dict[str, Any]:
    """One cause with the checks it hit; its raw error is recorded here once, not per check."""
    cause = group.cause
    return {
        "key": cause.key,
        "count": group.count,
        "text": cause.text,
        "hint": cause.hint,
        "services": list(cause.services),
        "checks": [r.nodeid for r in group.results],
        "detail": cause.detail,
    }


def _measurement(m: Measurement) -> dict[str, Any]:
    fields = asdict(m)
    fields["judgement"] = m.judgement.value if m.judgement else None
    return fields


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
