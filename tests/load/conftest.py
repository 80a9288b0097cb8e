"""The gate's load run, once per session, shared by every load check (each judges one figure of it).

It needs Loki (``loki``: where Loki cannot run, as in CI, every load check is not evaluated)
and nginx (it pushes through the gateway, with the run's CA and push credential).
Locust's CSV files and HTML report go to ``<run dir>/load/``. The saturation check runs only
with ``OBSGATE_LOAD_SATURATION=1``, the soak checks only with ``OBSGATE_LOAD_SOAK=1``.
"""

from __future__ import annotations

import os

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.stack import ServiceHandle
from obsgate.clients import Gateway
from obsgate.core.errors import NotEvaluated
from obsgate.core.policy import Policy
from obsgate.gate.hooks import RUN_DIR_KEY
from obsgate.load.session import LoadRun, over_cap, run_gate_profile
from obsgate.run import GateRun


@pytest.fixture(scope="session")
def load_run(pytestconfig: pytest.Config, policy: Policy, loki: ServiceHandle, nginx: ServiceHandle,
             gateway: Gateway, run_secrets: RunSecrets, gate_run: GateRun, request: pytest.FixtureRequest) -> LoadRun:
    """The policy's short profile (ramp, steady window at the target rate) through nginx, run once; on a --target
    only with --target-load and within gate.yml's ``target`` cap (no container stats, no Loki counters there:
    the checks needing them are not evaluated; the lines are counted through the gateway)."""
    run_dir = pytestconfig.stash.get(RUN_DIR_KEY, None)
    report_dir = run_dir / "load" if run_dir is not None else None
    if gate_run.target is None:
        return run_gate_profile(policy, request.getfixturevalue("stack"), loki, gateway.https_url(), run_secrets,
                                gate_run.run_id, report_dir)
    if not gate_run.target.load:
        raise NotEvaluated("external target: no load without --target-load")
    refused = over_cap(policy, policy.target_load_cap())
    if refused is not None:
        raise NotEvaluated(f"external target: {refused}")
    with gateway.loki(run_secrets.read) as count_api:
        return run_gate_profile(policy, None, None, gateway.https_url(), run_secrets, gate_run.run_id, report_dir,
                                count_api=count_api)


SATURATION_ENV = "OBSGATE_LOAD_SATURATION"
SATURATION_MODULE = "test_load_saturation.py"
SOAK_ENV = "OBSGATE_LOAD_SOAK"
SOAK_MODULE = "test_load_soak.py"
OPT_IN = {SATURATION_MODULE: SATURATION_ENV, SOAK_MODULE: SOAK_ENV}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Saturation and soak are opt-in (nightly, on demand): without OBSGATE_LOAD_SATURATION=1 /
    OBSGATE_LOAD_SOAK=1 they are deselected."""
    deselected = [item for item in items if item.path.name in OPT_IN and os.environ.get(OPT_IN[item.path.name]) != "1"]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]
