"""The backup and restore drill fails, naming the volume, when a backup skips one.

The child gate runs the real drill on Loki and Prometheus with this module loaded as a
plugin (``-p``): its ``pytest_configure`` makes the drill's backup leave out Loki's volume,
as a backup script that forgot it would. The restore then finds no archive for it (the
wiped volume stays empty), so the Loki check and the RTO check fail naming ``loki-data``,
while Prometheus, backed up, comes back.
"""

from __future__ import annotations

import pytest

from obsgate.backup import drill
from obsgate.backup.volumes import Target
from tests.selftest.conftest import Compose, failed_or_skip, only, passed_or_skip

BACKUP = "tests/integration/resilience/test_resilience_backup.py"
SKIPPED = "loki-loki-data"


def _skip_loki(every: list[Target]) -> list[Target]:
    return [t for t in every if t.key != SKIPPED]


def pytest_configure(config: pytest.Config) -> None:
    """Only as the child's plugin: the drill backs up every volume but Loki's."""
    run_drill = drill.run_drill
    drill.run_drill = lambda stack, services, directory, plan=list: run_drill(stack, services, directory, _skip_loki)


def test_drill_fails_naming_a_volume_the_backup_skipped(variant, child_gate) -> None:
    run = child_gate(BACKUP, compose=variant(only("loki", "prometheus")), extra=("-p", __name__))
    loki = failed_or_skip(run, "test_backup_restore_drill_brings_back_loki_lines")
    assert "restore of loki failed" in loki and "no backup of loki's volume loki-data" in loki, loki
    failure = run.checks["test_backup_restore_drill_brings_back_loki_lines"]["evidence"]["failure"]
    assert "waiting for 20 pushed entries" in failure, failure   # the lines are gone: the wiped volume stayed empty
    assert "loki-data" in failed_or_skip(run, "test_backup_restore_drill_within_rto")
    passed_or_skip(run, "test_backup_restore_drill_brings_back_prometheus_series")


def test_prometheus_drill_fails_when_its_tsdb_is_not_on_the_backed_up_volume(variant, child_gate) -> None:
    """Prometheus writes its TSDB to a tmpfs at /prometheus, its volume mounted where it writes nothing: the
    drill backs up and restores the volume faithfully, and the scrape before it is gone all the same."""
    def broken(doc: Compose) -> None:
        only("prometheus")(doc)
        prometheus = doc["services"]["prometheus"]
        prometheus["volumes"] = [v.replace(":/prometheus", ":/prometheus-unused") if v.startswith("prometheus-data:")
                                 else v for v in prometheus["volumes"]]
        prometheus["tmpfs"] = ["/prometheus"]
        prometheus["user"] = "0"   # a fresh tmpfs is root's (mode 755); the image's user could not write it

    check = "test_backup_restore_drill_brings_back_prometheus_series"
    run = child_gate(f"{BACKUP}::{check}", compose=variant(broken))
    reason = failed_or_skip(run, check)
    assert "after the backup and restore drill: 0 of " in reason and "series of the scrape at" in reason, reason
    assert "restore of prometheus failed" not in reason   # the drill itself went through: the data was elsewhere
