"""The gate's load from several generator processes: Locust's master/worker machinery, with exact snapshots.

Locust's own worker reports (``report_to_master``, every 3 s) carry the tally's counts to the
master for its console and UI, but a window's edges need every worker's counts and CPU time
*at that moment*. So the master asks (``SNAPSHOT``), every worker answers at once (``REPLY``)
with its cumulative tally, its own CPU time and the push and query records it has not shipped
yet, and the master waits (bounded) for every answer. When a worker's users have stopped
(``test_stop``) it sends one last unsolicited answer, its final counts: the run's totals are
their sum, per worker and in all.

Importing this module registers the worker side on ``locust.events`` (the driver imports it;
``tests/load/locustfile.py`` does for ``locust --worker`` processes on other machines).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from obsgate.load.plan import per_worker
from obsgate.load.user import PROCESS_TAG, TALLY

SNAPSHOT = "obsgate_snapshot"
REPLY = "obsgate_snapshot_reply"
FINAL = -1                         # the seq of a worker's last, unsolicited answer
REPLY_TIMEOUT_S = 10.0             # a worker that cannot answer in this long is reported missing, not waited for
WORKER_COMMAND = "locust -f tests/load/locustfile.py --worker --master-host HOST"


def cpu_s() -> float:
    """This process's CPU time (user + system): the generator's cost, per process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _answer(seq: int) -> dict[str, Any]:
    """This worker's cumulative tally and CPU, and the records since its last answer (then dropped here)."""
    records = {}
    for kind, kept in (("push", TALLY.push_latencies), ("query", TALLY.query_latencies)):
        records[kind] = kept[:]
        del kept[:len(records[kind])]
    return {"seq": seq, "tag": PROCESS_TAG, "wall": time.time(), "cpu_s": cpu_s(), "client": TALLY.counts(),
            "push": records["push"], "query": records["query"]}


@events.init.add_listener
def _on_init(environment: Environment, runner: Any = None, **_: Any) -> None:
    if not isinstance(runner, WorkerRunner):
        return

    def snapshot(msg: Any, **_: Any) -> None:
        TALLY.record = True             # a master that asks keeps every record; a UI-only run keeps none here
        runner.send_message(REPLY, _answer(int(msg.data["seq"])))

    runner.register_message(SNAPSHOT, snapshot)


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner) and TALLY.record:
        runner.send_message(REPLY, _answer(FINAL))


class WorkersMissing(AssertionError):
    """Fewer workers connected than the run waits for, by the deadline."""


@dataclass
class Collector:
    """The master's side: ask every worker, wait for all answers, keep their records and final counts."""

    runner: MasterRunner
    answers: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)
    finals: dict[str, dict[str, Any]] = field(default_factory=dict)
    push_latencies: list[list[Any]] = field(default_factory=list)
    query_latencies: list[list[Any]] = field(default_factory=list)
    workers: set[str] = field(default_factory=set)
    seq: int = 0

    def __post_init__(self) -> None:
        self.runner.register_message(REPLY, self._reply)

    def _reply(self, msg: Any, **_: Any) -> None:
        data, worker = msg.data, msg.node_id
        self.push_latencies += data.pop("push")
        self.query_latencies += data.pop("query")
        if data["seq"] == FINAL:
            self.finals[worker] = data
        else:
            self.answers.setdefault(data["seq"], {})[worker] = data

    def await_workers(self, expected: int, deadline_s: float, local: int) -> None:
        """Wait (bounded) until ``expected`` workers are connected; WorkersMissing names the missing count
        and the command a remote worker runs."""
        until = time.monotonic() + deadline_s
        while self.runner.worker_count < expected and time.monotonic() < until:
            gevent.sleep(0.2)
        if self.runner.worker_count < expected:
            missing = expected - self.runner.worker_count
            raise WorkersMissing(
                f"{missing} of {expected} load workers did not connect within {deadline_s:g} s "
                f"({local} local process(es) started, {expected - local} remote expected; gate.yml "
                f"load.expect_workers / load.workers_deadline_s): start each remote one with `{WORKER_COMMAND}`")
        self.workers = {c.id for c in self.runner.clients.all}

    def collect(self, timeout_s: float = REPLY_TIMEOUT_S) -> dict[str, Any]:
        """Every worker's answer to one request (bounded): merged counts, and per worker its counts and CPU."""
        self.seq += 1
        seq = self.seq
        self.runner.send_message(SNAPSHOT, {"seq": seq})
        until = time.monotonic() + timeout_s
        while len(self.answers.get(seq, {})) < len(self.workers) and time.monotonic() < until:
            gevent.sleep(0.005)
        return per_worker(self.answers.pop(seq, {}), self.workers)

    def final(self, timeout_s: float) -> dict[str, Any]:
        """The workers' last answers, sent once their users stopped (bounded wait)."""
        until = time.monotonic() + timeout_s
        while len(self.finals) < len(self.workers) and time.monotonic() < until:
            gevent.sleep(0.1)
        return per_worker(self.finals, self.workers)
