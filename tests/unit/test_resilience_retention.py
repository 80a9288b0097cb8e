"""Unit tests of the retention drill's pieces: chunk names, Loki's settings, the appended flags."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from obsgate.checks.resilience.retention import (
    ACCELERATED_FLAGS,
    RetentionDrill,
    Settings,
    SweeperFailed,
    accelerated,
    chunk_span_ms,
)
from obsgate.core.errors import InputError
from obsgate.core.wait import WaitTimeout
from obsgate.stackfiles.compose import ServiceSpec


def test_chunk_span_from_a_v13_filesystem_chunk_name() -> None:
    # A real name from Loki 2.9.3's /loki/chunks (tenant/fingerprint/ base64 of from:through:checksum).
    assert chunk_span_ms("/loki/chunks/fake/1bcb531c091195eb/MWEyMzNhNWNmY2Q6MWEyMzNhNWNmY2U6YTNkNDhjM2Y=") == (
        0x1a233a5cfcd, 0x1a233a5cfce)


def test_chunk_span_from_an_older_flat_name_and_unpadded_base64() -> None:
    name = base64.urlsafe_b64encode(b"fake/1bcb531c091195eb:1a2295917cd:1a2295917ce:d73fe56f").decode().rstrip("=")
    assert chunk_span_ms(f"/loki/chunks/{name}") == (0x1a2295917cd, 0x1a2295917ce)


@pytest.mark.parametrize("name", ["delete_requests.gz", "1796162851741515752", "!!!"])
def test_other_files_are_no_chunks(name: str) -> None:
    assert chunk_span_ms(f"/loki/chunks/{name}") is None


CONFIG = """
limits_config: {retention_period: 24h, reject_old_samples_max_age: 1w}
storage_config: {filesystem: {directory: /loki/chunks}}
compactor: {retention_enabled: true, working_directory: /loki/compactor}
"""


def test_settings_put_expired_lines_between_retention_and_max_age() -> None:
    settings = Settings.from_config(CONFIG)
    assert (settings.retention_s, settings.max_age_s, settings.chunks_dir) == (86400, 604800, "/loki/chunks")
    assert settings.compactor_dir == "/loki/compactor"
    assert settings.expired_age_s == 4 * 86400


def test_expired_lines_impossible_when_max_age_within_retention() -> None:
    settings = Settings.from_config(CONFIG.replace("1w", "24h"))
    with pytest.raises(InputError, match="not beyond the retention period"):
        _ = settings.expired_age_s


def test_flags_are_appended_to_the_production_command() -> None:
    spec = ServiceSpec(name="loki", image="grafana/loki:2.9.3")
    spec = dataclasses.replace(spec, command=("-config.file=/etc/loki/loki.yml",))
    assert accelerated(spec).command == ("-config.file=/etc/loki/loki.yml", *ACCELERATED_FLAGS)
    with pytest.raises(InputError, match="no command"):
        accelerated(dataclasses.replace(spec, command=None))


def _drill() -> RetentionDrill:
    return RetentionDrill(None, None, None, Settings.from_config(CONFIG), None, None)  # type: ignore[arg-type]


def test_a_failed_step_is_raised_as_it_was_and_later_steps_say_which_failed_first() -> None:
    drill = _drill()
    assert drill._step("compaction", lambda: "metrics") and drill.result("compaction") == "metrics"

    def timed_out() -> None:
        raise WaitTimeout("timed out after 30s waiting for the compactor to mark expired chunks for deletion")

    assert not drill._step("sweep", timed_out)
    with pytest.raises(WaitTimeout, match="to mark expired chunks"):
        drill.result("sweep")
    with pytest.raises(AssertionError, match="never got to recent: sweep failed first"):
        drill.result("recent")


@dataclasses.dataclass
class FakeLoki:
    """The bits of a Loki handle and API the marks wait reads: its metrics page, its files, its log."""

    metrics: str = ""
    files: list[str] = dataclasses.field(default_factory=list)
    log: str = ""

    def logs(self, tail: int) -> str:
        return self.log

    def log_tail(self, tail: int) -> str:
        return f"--- last {tail} log lines of loki ---\n{self.log}"


def _metrics(last_compaction_s: float, deleted: int = 0) -> str:
    return ("# TYPE loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds gauge\n"
            f"loki_boltdb_shipper_compact_tables_operation_last_successful_run_timestamp_seconds {last_compaction_s}\n"
            "# TYPE loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds histogram\n"
            f'loki_boltdb_shipper_retention_sweeper_chunk_deleted_duration_seconds_count{{status="success"}} {deleted}\n')


def _marks_drill(fake: FakeLoki) -> RetentionDrill:
    drill = _drill()

    class Api:
        def metrics(self) -> str:
            return fake.metrics

    class Files:
        def files(self) -> list[str]:
            return fake.files

    drill.api, drill.compactor, drill.loki = Api(), Files(), fake  # type: ignore[assignment]
    return drill


def test_the_sweeper_restart_waits_for_the_marking_compaction_and_its_marks_file() -> None:
    fake = FakeLoki(_metrics(99.0), ["/data/compactor/retention/filesystem/markers/1796162851741515752"])
    drill = _marks_drill(fake)
    assert drill.marks_written(seen_at=100.0) is None                    # the marking compaction has not finished
    fake.metrics, fake.files = _metrics(101.0), ["/data/compactor/index_19000/x.gz"]
    assert drill.marks_written(seen_at=100.0) is None                    # finished, but no marks file on the volume
    fake.files.append("/data/compactor/retention/markers/1796162851741515752")
    assert drill.marks_written(seen_at=100.0) == ["/data/compactor/retention/markers/1796162851741515752"]
    fake.metrics, fake.files = _metrics(101.0, deleted=1), []
    assert drill.marks_written(seen_at=100.0) == ["(already swept)"]


def test_the_sweepers_own_words_are_the_evidence_not_a_tail_of_compactions() -> None:
    compactions = "\n".join(f'level=info msg="compacting table" table=index_{i}' for i in range(50))
    fake = FakeLoki(log=f'level=info msg="mark processor started" workers=150 delay=1s\n{compactions}\n'
                        'level=warn msg="failed to process marks" path=/loki/compactor/retention/markers/1 err="x"')
    said = _marks_drill(fake).sweeper_log()
    assert said.splitlines()[1:] == ['level=info msg="mark processor started" workers=150 delay=1s',
                                     'level=warn msg="failed to process marks" path=/loki/compactor/retention/markers/1 err="x"']
    assert "logged nothing about its marks" in _marks_drill(FakeLoki(log=compactions)).sweeper_log()


# Recorded from Loki 3.4.6 in an image without /tmp (every pass of its sweeper fails so).
NO_TMP = ('level=warn ts=2026-12-05T00:28:46.986949504Z caller=marker.go:213 msg="failed to process marks" '
          'path=/loki/compactor/retention/filesystem_2024-01-01/markers/1796430516194417881 '
          'err="open /tmp/marker-view-2570502412: no such file or directory"')


def test_a_sweeper_that_cannot_process_its_marks_is_named_with_lokis_error_and_the_fix() -> None:
    drill = _marks_drill(FakeLoki(log=f'level=info msg="mark processor started"\n{NO_TMP}'))
    failed = SweeperFailed(drill.sweep_failures(), "74 successful / 0 failed compactions")
    first = str(failed).splitlines()[0]
    assert first.startswith("Loki's sweeper cannot process its marks: open /tmp/marker-view-2570502412: no such file")
    assert "the image needs a writable one" in first and str(failed).splitlines()[1] == NO_TMP
