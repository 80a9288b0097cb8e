"""Retention, proven on a Loki whose clock is sped up, not whose policy is rewritten.

The accelerated Loki runs the production config file unchanged; only timing flags are
appended to the production command, as Loki's own ``integration/`` tests do. Flags
override the file. The ``-compactor.*`` spellings are known to 2.9.3 (beside the
deprecated ``-boltdb.shipper.compactor.*``) and to 3.x alike:

- ``-compactor.compaction-interval=1s`` (production 10m): the compactor waits one interval
  before its first run, and applies retention on every compaction;
- ``-compactor.retention-delete-delay=1s`` (production 2h): how long chunks marked for
  deletion wait for the sweeper;
- ``-store.retention=24h`` (production 720h): the shortest period testable without
  waiting, one index period; lines older than that but younger than
  ``reject_old_samples_max_age`` are still accepted, so they can be pushed already expired;
- ``-ingester.flush-on-shutdown=true``: a graceful stop writes every chunk and ships the
  TSDB index, which the ingester otherwise builds every 15 minutes; the compactor only
  sees shipped tables.

``retention_enabled`` and everything else comes from the production file: switched off
there, nothing is deleted and the check fails.

The drill: push expired and recent lines, ``/flush``, restart (index shipped), wait for
the compactor to mark the expired chunks and for that compaction to finish with its marks
file on the volume, restart once more (the sweeper takes its first pass at start, rather
than a minute later), wait for the sweeper, then query and list the chunks directory on the
volume. Waiting for the marks file means the sweeper's pass at start has something to
process; a restart racing the compaction that writes it would leave the marks to the next
pass, a minute later. A sweeper that cannot process its marks ends the wait at once, quoting
Loki's own "failed to process marks": Loki 3.4.6 in an image without /tmp logs
"open /tmp/marker-view-…: no such file or directory" on every pass and deletes nothing (the
sweeper writes a view of each marks file to its temp directory), which the drill used to
report only as "75 compactions, 2 chunks marked, 0 deleted" after 75 s.
The listing runs in a throwaway container that mounts the
volume read-only (the backup's ``Runner``: Loki's own image if it has a shell and ``find``,
else another of the run's; never a pulled one), not in Loki: 3.6 and later ship without a
shell or ``find``.

Querying the expired lines right after the sweep may answer 500 "failed to load chunk …
no such file": the ingester keeps its own copy of the index it built for those lines (it
wrote them seconds ago) for a while after shipping it, and that copy still lists the
deleted chunk. That answer, like an empty one, means no expired line can be read; in
production the copy is long gone when lines reach the retention age.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from obsgate.backup.runner import DATA, HAS_FIND, Runner, ThrowawayFailed
from obsgate.backup.volumes import Target
from obsgate.bringup.context import RunContext
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.logs import NS, Entry, LogsClient, new_run_label
from obsgate.checks.resilience.compactor import CompactorMetrics, parse
from obsgate.clients import LokiAPI
from obsgate.core import stop
from obsgate.core.errors import InputError
from obsgate.core.recorder import GateRecorder
from obsgate.core.wait import poll
from obsgate.stackfiles import loki as loki_config
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.prometheus import prom_duration_s

ACCELERATED_FLAGS = (
    "-compactor.compaction-interval=1s",
    "-compactor.retention-delete-delay=1s",
    "-store.retention=24h",
    "-ingester.flush-on-shutdown=true",
)
COMPACTED_TIMEOUT_S = 20.0  # compaction interval 1s, first run one interval after start
MARKED_TIMEOUT_S = 30.0
QUERY_TIMEOUT_S = 15.0
SWEPT_TIMEOUT_S = 75.0      # covers a sweeper that waits for its one-minute tick after all
LINES = 5
# The sweeper's own words (pkg/compactor/retention/marker.go): why marked chunks stay, where a log tail
# full of one-second compactions would have lost them.
SWEEPER_WORDS = ("mark processor", "marks", "mark file", "failed to delete")
SWEEPER_LOG_SCAN = 5000     # log lines searched for them
SWEEPER_LINES = 10
SWEEP_FAILED = "failed to process marks"    # logged for each marks file a pass could not process


def accelerated(spec: ServiceSpec) -> ServiceSpec:
    """Loki's compose spec with the timing flags appended to its command (the config file untouched)."""
    if spec.command is None:
        raise InputError("the compose file", f"services.{spec.name}.command", "not set: no command to append the"
                         " retention drill's timing flags to", "spell out Loki's command, e.g. -config.file=...")
    return dataclasses.replace(spec, command=(*spec.command, *ACCELERATED_FLAGS))


def chunk_span_ms(path: str) -> tuple[int, int] | None:
    """(from, through) in unix ms from a filesystem chunk's name (base64 of ``…:from:through:checksum``)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    try:
        key = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        *_, start, through, _checksum = key.split(":")
        return int(start, 16), int(through, 16)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


@dataclass(frozen=True)
class VolumeDir:
    """A directory of a container as found on its named volume, listed by throwaway containers."""

    runner: Runner
    target: Target
    inside: str   # the path below the volume's root

    @classmethod
    def of(cls, stack: Stack, loki: ServiceHandle, path: str, images: list[str]) -> VolumeDir:
        """``path`` of ``loki`` on the named volume mounted over it; InputError if none is."""
        mount = loki.spec.mount_over(path)
        if mount is None or mount.kind != "volume":
            raise InputError("the compose file", f"services.{loki.spec.name}.volumes", f"no named volume holds {path}:"
                             " the chunks cannot be listed (nor kept)", f"mount a named volume over {path}")
        target = Target(loki.spec.name, mount.source, stack.volume_name(mount.source), loki.image.ref)
        return cls(Runner(stack.client, stack.labels, images), target, path[len(mount.target.rstrip("/")):])

    def files(self) -> list[str]:
        code, out = self.runner.throwaway(self.runner.helper(self.target, HAS_FIND, "find"), self.target.docker_volume,
                                          f"find {DATA}{self.inside} -type f", read_only=True, purpose="loki-chunks")
        if code != 0:
            raise AssertionError(f"cannot list {self.inside or '/'} on volume {self.target.docker_volume}: {out}")
        return out.splitlines()


@dataclass(frozen=True)
class Settings:
    """What the accelerated Loki really runs with (its /config), as far as the drill needs."""

    retention_s: float
    max_age_s: float
    chunks_dir: str
    retention_enabled: bool
    compactor_dir: str          # the compactor's working directory: its marks files are below it

    @classmethod
    def from_config(cls, text: str) -> Settings:
        config = loki_config.effective(text, "the accelerated Loki").data
        limits = config["limits_config"]
        return cls(prom_duration_s(str(limits["retention_period"])),
                   prom_duration_s(str(limits["reject_old_samples_max_age"])),
                   str(config["storage_config"]["filesystem"]["directory"]),
                   bool(config["compactor"]["retention_enabled"]), str(config["compactor"]["working_directory"]))

    @property
    def expired_age_s(self) -> float:
        """Halfway between the retention period and the oldest age Loki accepts."""
        if self.max_age_s <= self.retention_s:
            raise InputError("Loki's /config", "limits_config.reject_old_samples_max_age",
                             f"{self.max_age_s:.0f}s, not beyond the retention period ({self.retention_s:.0f}s):"
                             " expired lines cannot be pushed", "accept lines older than the retention period")
        return (self.retention_s + self.max_age_s) / 2


class SweeperFailed(AssertionError):
    """Loki's sweeper could not process its marks: every later pass fails the same way, so the wait ends."""

    def __init__(self, lines: list[str], compactor: str) -> None:
        error = lines[0].partition(" err=")[2].strip().strip('"') or lines[0]
        hint = (" — the sweeper writes a view of each marks file to Loki's temp directory ($TMPDIR, else /tmp):"
                " the image needs a writable one (the official images have /tmp, mode 1777)"
                if "/tmp/" in error or "TMPDIR" in error else "")
        super().__init__(f"Loki's sweeper cannot process its marks: {error}{hint} ({compactor})\n"
                         + "\n".join(lines[-SWEEPER_LINES:]))


@dataclass
class RetentionDrill:
    """One accelerated Loki, its expired and recent lines, and what the compactor did with them."""

    loki: ServiceHandle
    api: LokiAPI
    logs: LogsClient
    settings: Settings
    chunks: VolumeDir
    compactor: VolumeDir
    expired: list[Entry] = field(default_factory=list)
    recent: list[Entry] = field(default_factory=list)
    shipped_at_s: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)

    def run(self) -> None:
        """The whole drill, start to sweep; each step's result (or what stopped it) kept for the checks.

        Run ahead of the checks, so nothing here depends on when they get to judge it: the
        sweeper's own one-minute pass cannot delete the expired chunk before it was listed.
        """
        self.push_and_ship()
        self._step("chunks_before", self.chunk_spans)
        self._step("compaction", lambda: self.wait_compacted(COMPACTED_TIMEOUT_S))
        if self._step("sweep", self.wait_swept):
            self._step("recent", lambda: self.logs.wait_for(self.logs.selector(age="recent"), self.recent,
                                                            self.recent[0][0], QUERY_TIMEOUT_S))
            self._step("expired", self.expired_readable)
            self._step("chunks_after", self.chunk_spans)

    def _step(self, name: str, step: Callable[[], Any]) -> bool:
        try:
            self.observed[name] = step()
        except (AssertionError, httpx.HTTPError, ThrowawayFailed) as exc:
            self.errors[name] = exc
            return False
        return True

    def result(self, step: str) -> Any:
        """What ``step`` observed; raises what stopped it (its own message) if it did not finish."""
        if step in self.errors:
            raise self.errors[step]
        if step not in self.observed:
            raise AssertionError(f"the retention drill never got to {step}: {', '.join(self.errors) or 'not run'} failed first")
        return self.observed[step]

    def metrics(self) -> CompactorMetrics:
        return parse(self.api.metrics())

    def metrics_once(self, done: Callable[[CompactorMetrics], bool]) -> CompactorMetrics | None:
        """The metrics if ``done`` holds for them (a ``poll`` probe), else None."""
        metrics = self.metrics()
        return metrics if done(metrics) else None

    def chunk_spans(self) -> list[tuple[int, int]]:
        """(from, through) ms of every chunk file on the volume; the index directory left out."""
        return sorted(span for line in self.chunks.files()
                      if "/index/" not in line and (span := chunk_span_ms(line)) is not None)

    def push_and_ship(self) -> None:
        """Push expired and recent lines (both acknowledged), flush, restart so the index is shipped."""
        now = time.time_ns()
        old = now - int(self.settings.expired_age_s * NS)
        self.expired = [(old + i, f"expired line {i} of {self.logs.label}") for i in range(LINES)]
        self.recent = [(now + i, f"recent line {i} of {self.logs.label}") for i in range(LINES)]
        self.logs.push_ok([(self.logs.labels(age="expired"), self.expired)])
        self.logs.push_ok([(self.logs.labels(age="recent"), self.recent)])
        response = self.api.post("/flush")
        if response.status_code != 204:
            raise AssertionError(f"POST /flush answered {response.status_code}: {response.text[:200]}")
        self.timings["restart_to_ship_index_s"] = round(self.loki.restart(), 2)
        self.shipped_at_s = time.time()

    def wait_compacted(self, timeout_s: float) -> CompactorMetrics:
        """Until a compaction succeeded after the index was shipped."""
        started = time.monotonic()
        metrics = poll(lambda: self.metrics_once(lambda m: m.last_compaction_s >= self.shipped_at_s),
                       timeout_s=timeout_s, what="a successful compaction of the shipped tables",
                       evidence=lambda: f"{self.metrics().describe()}\n{self.loki.log_tail(20)}")
        self.timings["compacted_after_s"] = round(time.monotonic() - started, 2)
        return metrics

    def wait_swept(self) -> CompactorMetrics:
        """Until the expired chunks are marked, then (after a restart) deleted by the sweeper."""
        started = time.monotonic()
        marked = poll(lambda: self.metrics_once(lambda m: m.chunks_marked > 0), timeout_s=MARKED_TIMEOUT_S,
                      what="the compactor to mark expired chunks for deletion",
                      evidence=lambda: (f"{self.metrics().describe()}; retention_enabled="
                                        f"{self.settings.retention_enabled}\n{self.loki.log_tail(20)}"))
        self.timings["marked_after_s"] = round(time.monotonic() - started, 2)
        seen_at, started = time.time(), time.monotonic()
        self.observed["marks_files"] = poll(lambda: self.marks_written(seen_at), timeout_s=COMPACTED_TIMEOUT_S,
                                            what="the compaction that marked chunks to finish, its marks file on the volume",
                                            evidence=lambda: f"{self.metrics().describe()}\n{self.sweeper_log()}")
        self.timings["marks_written_after_s"] = round(time.monotonic() - started, 2)
        failed_before = len(self.sweep_failures())
        self.timings["restart_for_sweeper_s"] = round(self.loki.restart(), 2)
        started = time.monotonic()

        def swept_or_refused() -> CompactorMetrics | None:
            if failures := self.sweep_failures()[failed_before:]:
                raise SweeperFailed(failures, self.metrics().describe())
            return self.metrics_once(lambda m: m.swept(marked.chunks_marked))

        swept = poll(swept_or_refused, timeout_s=SWEPT_TIMEOUT_S, fatal=(SweeperFailed,),
                     what=f"the sweeper to delete the {marked.chunks_marked:.0f} marked chunks",
                     evidence=lambda: f"{self.metrics().describe()}\n{self.sweeper_log()}")
        self.timings["swept_after_s"] = round(time.monotonic() - started, 2)
        return swept

    def marks_written(self, seen_at: float) -> list[str] | None:
        """The marks files on the volume once a compaction finished after ``seen_at`` (the marking one, or a
        later); a sweeper that already deleted counts too (its marks are gone with the chunks)."""
        metrics = self.metrics()
        if metrics.chunks_deleted >= 1:
            return ["(already swept)"]
        if metrics.last_compaction_s < seen_at:
            return None
        return [f for f in self.compactor.files() if "/markers/" in f] or None

    def sweep_failures(self) -> list[str]:
        """The sweeper's "failed to process marks" lines so far (this container, restarts included)."""
        return [line for line in self.loki.logs(SWEEPER_LOG_SCAN).splitlines() if SWEEP_FAILED in line]

    def sweeper_log(self) -> str:
        """The last lines Loki logged about its marks and sweeper (start, failures), else its log tail."""
        said = [line for line in self.loki.logs(SWEEPER_LOG_SCAN).splitlines()
                if any(word in line for word in SWEEPER_WORDS)]
        if not said:
            return f"(Loki logged nothing about its marks or sweeper)\n{self.loki.log_tail(20)}"
        return f"--- Loki's last {min(len(said), SWEEPER_LINES)} log lines about its marks and sweeper ---\n" + \
            "\n".join(said[-SWEEPER_LINES:])

    def expired_readable(self) -> tuple[list[Entry], str]:
        """Expired lines a query still returns, and how it answered (no lines, or the deleted-chunk error)."""
        try:
            return self.logs.entries(self.logs.selector(age="expired"), self.expired[0][0] - 60 * NS), "200"
        except httpx.HTTPStatusError as exc:
            body = exc.response.text.strip()
            if exc.response.status_code == 500 and "failed to load chunk" in body and "no such file" in body:
                return [], f"500 naming a deleted chunk: {body[:200]}"
            raise

    def cutoff_ms(self) -> int:
        """Chunks ending before this are beyond the retention period."""
        return int((time.time() - self.settings.retention_s) * 1000)


@contextmanager
def drill_in_background(run: RunContext, image: Callable[[], ImageChoice] | None = None,
                        suffix: str = "retention") -> Iterator[Future[RetentionDrill]]:
    """Bring the accelerated Loki up and run the drill in a thread, beside other checks.

    ``image``: a Loki image other than the run's (an upgrade candidate), resolved in the thread.
    The future gives the ready drill (or raises what stopped it, NotEvaluated included);
    on exit the setup is waited for, then the accelerated Loki is removed. A stopping run
    waits for nothing: the thread, a daemon, ends on the stop (obsgate.core.stop).
    """
    with ExitStack() as held:
        def prepare() -> RetentionDrill:
            started = time.monotonic()
            spec = accelerated(run.project.services["loki"])
            images = {"loki": image()} if image is not None else None
            # Ready by /ready from the host: the drill needs Loki, not its healthcheck's wget,
            # which a shell-less candidate (3.6+) lacks; that is test_candidate_image_runs_the_compose_healthcheck's.
            stack = held.enter_context(overlay_stack(run, suffix, {"loki": spec}, images=images,
                                                     confirm_healthchecks=False))
            loki = stack["loki"].require()
            api = LokiAPI.direct(loki)
            held.callback(api.close)
            logs = LogsClient(api, api, new_run_label(run.run_id), evidence=lambda: loki.log_tail(20))
            settings = Settings.from_config(api.config())
            helpers = [c.ref for c in run.image_choices().values() if c.available]
            drill = RetentionDrill(loki, api, logs, settings, VolumeDir.of(stack, loki, settings.chunks_dir, helpers),
                                   VolumeDir.of(stack, loki, settings.compactor_dir, helpers))
            drill.run()
            drill.timings |= {"up_s": round(stack.up_s or 0.0, 2), "drill_s": round(time.monotonic() - started, 2)}
            return drill

        future = stop.background(prepare, f"obsgate-{suffix}")
        try:
            yield future
        finally:
            stop.wait_done(future)


def judge_compaction(drill: RetentionDrill, gate: GateRecorder) -> None:
    """After the index is shipped, the compactor completed a compaction, and none failed."""
    gate.evidence["timings"] = dict(drill.timings)
    metrics = drill.result("compaction")
    gate.evidence["compactor"] = metrics.describe()
    gate.evidence["compactor_series"] = list(metrics.series)
    assert metrics.compactions_failed == 0, f"Loki's compactor failed: {metrics.describe()}"


def judge_retention(drill: RetentionDrill, gate: GateRecorder) -> None:
    """Lines older than the retention period are gone, with their chunks; every recent line stayed."""
    gate.evidence["settings"] = vars(drill.settings) | {"expired_age_h": drill.settings.expired_age_s / 3600}
    gate.evidence["timings"] = dict(drill.timings)
    cutoff = drill.cutoff_ms()
    before = drill.result("chunks_before")
    assert any(through < cutoff for _, through in before), (
        f"no expired chunk on the volume before retention ran (chunks: {before}): the drill proves nothing")
    gate.evidence["compactor"] = drill.result("sweep").describe()
    expired, answer = drill.result("expired")
    gate.evidence["expired_query"] = answer
    after = drill.result("chunks_after")
    gate.evidence["chunks"] = {"before": len(before), "after": len(after)}
    assert not expired, f"{len(expired)} of {len(drill.expired)} expired lines still returned after the sweep"
    left = [span for span in after if span[1] < cutoff]
    assert not left, f"{len(left)} expired chunks still on the volume after the sweep: {left}"
    recent = drill.result("recent")
    assert recent == sorted(drill.recent), f"recent lines changed: {len(recent)} returned of {len(drill.recent)}"
