"""``--target``: the gate judges a deployment it did not start as it judges its own copy.

The stack is brought up by ``obsgate up`` (as an SRE's staging would be), then the gate runs twice: on its own
stack (container mode) and with ``--target`` at the served stack's gateway. Every check evaluated in both modes
must have the same outcome; a check only container mode evaluates must be "not evaluated" on the target with
the external cause, never a pass or a failure. (A check container mode could not evaluate for a missing image
may fail on the target: the served stack lacks that service as well, and its gateway says so.)
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.selftest.conftest import ChildRun, Served

# What both runs judge: the static suites and every live check but the load (no load on a target without
# --target-load) and the opt-in saturation.
SELECTION = ("-m", "gate", "tests/config", "tests/integration")
EVALUATED = ("passed", "failed")


def _tally(run: ChildRun) -> Counter[str]:
    return Counter(c["outcome"] for c in run.checks.values())


def test_target_mode_agrees_with_container_mode(served_stack: Served, child_gate: Callable[..., ChildRun],
                                                tmp_path: Path) -> None:
    started = time.monotonic()
    own = child_gate(*SELECTION)
    own_s = time.monotonic() - started
    started = time.monotonic()
    target = child_gate(*SELECTION, extra=served_stack.target_args, env=served_stack.env)
    target_s = time.monotonic() - started
    both = [cid for cid, c in own.checks.items()
            if c["outcome"] in EVALUATED and target.checks.get(cid, {}).get("outcome") in EVALUATED]
    figures = {"container_mode": {"wall_s": round(own_s, 1), **_tally(own)},
               "target_mode": {"wall_s": round(target_s, 1), **_tally(target)}, "evaluated_in_both": len(both)}
    print(f"\nobs-gate --target self-test: {json.dumps(figures)}")
    assert own.checks and target.checks, f"a child reported nothing:\n{own.output[-2000:]}\n{target.output[-2000:]}"
    assert target.metadata["target"] == {"url": served_stack.env["LOCUST_HOST"], "external": True, "load": False,
                                         "ca_file": served_stack.env["OBSGATE_CA_FILE"], "verify": True}
    assert own.metadata["target"] is None
    if not any(c["outcome"] in EVALUATED for c in target.checks.values() if c["nodeid"].startswith("tests/integration")):
        pytest.skip("no live check could be evaluated against the served stack here (no Loki image?)")
    differ = {cid: (c["outcome"], target.checks[cid]["outcome"], target.reason(cid))
              for cid, c in own.checks.items()
              if cid in target.checks and c["outcome"] in EVALUATED and target.checks[cid]["outcome"] in EVALUATED
              and c["outcome"] != target.checks[cid]["outcome"]}
    assert not differ, f"modes disagree (container, target, target's reason): {differ}"
    gaps = {cid: target.reason(cid) for cid, c in own.checks.items()
            if c["outcome"] in EVALUATED and target.checks.get(cid, {}).get("outcome") == "not_evaluated"
            and not target.reason(cid).startswith("external target")}   # the external cause, or a token not given
    assert not gaps, f"evaluated on the run's own stack, not evaluated on the target for another cause: {gaps}"
