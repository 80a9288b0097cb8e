"""The smallest gate project a throwaway pytest run (pytester) needs: a one-category policy and a compose file
whose one service is never started."""

from __future__ import annotations

import pytest

POLICY = """\
schema_version: 1
thresholds: {pass: 80, warn: 60}
categories:
  Functionality: {weight: 100}
blockers: []
targets: {}
"""
COMPOSE = "services:\n  app:\n    image: obsgate-unit/never-started:1\n"


def minimal_project(pytester: pytest.Pytester, policy: str = POLICY) -> pytest.Pytester:
    """gate.yml and stack/docker-compose.yml in ``pytester``'s directory."""
    pytester.makefile(".yml", gate=policy)
    (pytester.path / "stack").mkdir(exist_ok=True)
    (pytester.path / "stack" / "docker-compose.yml").write_text(COMPOSE)
    return pytester


def project_with_checks(pytester: pytest.Pytester, checks: str) -> pytest.Pytester:
    """``minimal_project`` with ``checks`` (a module's source) as tests/integration/test_checks.py."""
    minimal_project(pytester)
    (pytester.path / "tests" / "integration").mkdir(parents=True)
    (pytester.path / "tests" / "integration" / "test_checks.py").write_text(checks)
    return pytester
