"""Fixtures the unit tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsgate.bringup.secrets import RunSecrets, generate
from obsgate.core.policy import Policy, load_policy
from obsgate.core.recorder import GateRecorder

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The repository's gate.yml, as the checks judge with it."""
    return load_policy(ROOT / "gate.yml")


@pytest.fixture
def gate(policy: Policy) -> GateRecorder:
    """A fresh recorder for one check called directly on recorded input."""
    return GateRecorder(policy)


@pytest.fixture(scope="module")
def generated_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSecrets]:
    """One run's secrets, generated under pytest's tmp dir, shared by a module's read-only tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("secrets")))
        secrets = generate("unit-run")
    yield secrets
    secrets.remove()
