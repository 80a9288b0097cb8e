"""Fixtures the unit tests share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets, generate


@pytest.fixture(scope="module")
def generated_secrets(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSecrets]:
    """One run's secrets, generated under pytest's tmp dir, shared by a module's read-only tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("secrets")))
        secrets = generate("unit-run")
    yield secrets
    secrets.remove()
