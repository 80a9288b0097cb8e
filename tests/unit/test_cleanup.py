"""obsgate.bringup.cleanup: removing a run's containers, networks and volumes by label."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from docker.errors import APIError, NotFound

from obsgate.bringup.cleanup import LABEL_PROJECT, LABEL_RUN, Swept, run_labels, scratch_dir, sweep, sweep_scratch

Log = list[tuple[str, str, dict[str, Any]]]


class FakeObject:
    """A container, network or volume that records its removal (or fails it)."""

    def __init__(self, kind: str, name: str, log: Log, error: Exception | None = None) -> None:
        self.kind, self.name, self.log, self.error = kind, name, log, error

    def remove(self, **kwargs: Any) -> None:
        self.log.append((self.kind, self.name, kwargs))
        if self.error is not None:
            raise self.error


class FakeCollection:
    def __init__(self, objects: list[FakeObject]) -> None:
        self.objects = objects
        self.list_calls: list[dict[str, Any]] = []

    def list(self, **kwargs: Any) -> list[FakeObject]:
        self.list_calls.append(kwargs)
        return list(self.objects)


class FakeClient:
    def __init__(self, containers: Sequence[str] = (), networks: Sequence[str] = (), volumes: Sequence[str] = (),
                 errors: dict[str, Exception] | None = None) -> None:
        self.log: Log = []
        errors = errors or {}

        def make(kind: str, names: Sequence[str]) -> FakeCollection:
            return FakeCollection([FakeObject(kind, n, self.log, errors.get(n)) for n in names])

        self.containers = make("container", containers)
        self.networks = make("network", networks)
        self.volumes = make("volume", volumes)


def do_sweep(client: FakeClient, run_id: str | None = "run-1") -> Swept:
    fake: Any = client
    return sweep(fake, run_id)


def test_run_labels_carry_run_id_and_project() -> None:
    assert run_labels("run-1", "obs-stack") == {"org.obsgate.run": "run-1", "org.obsgate.project": "obs-stack"}


def test_label_keys_are_namespaced() -> None:
    assert (LABEL_RUN, LABEL_PROJECT) == ("org.obsgate.run", "org.obsgate.project")


def test_sweep_removes_containers_then_networks_then_volumes() -> None:
    client = FakeClient(containers=["c1", "c2"], networks=["n1"], volumes=["v1", "v2"])
    do_sweep(client)
    assert [kind for kind, _, _ in client.log] == ["container", "container", "network", "volume", "volume"]


def test_sweep_filters_every_kind_by_the_run_label() -> None:
    client = FakeClient()
    do_sweep(client, "run-1")
    for collection in (client.containers, client.networks, client.volumes):
        assert collection.list_calls[0]["filters"] == {"label": "org.obsgate.run=run-1"}


def test_sweep_without_run_id_filters_by_label_key_only() -> None:
    client = FakeClient()
    do_sweep(client, None)
    for collection in (client.containers, client.networks, client.volumes):
        assert collection.list_calls[0]["filters"] == {"label": "org.obsgate.run"}


def test_sweep_includes_stopped_containers() -> None:
    client = FakeClient()
    do_sweep(client)
    assert client.containers.list_calls[0]["all"] is True


def test_sweep_force_removes_containers_with_their_anonymous_volumes() -> None:
    client = FakeClient(containers=["c1"])
    do_sweep(client)
    assert client.log == [("container", "c1", {"force": True, "v": True})]


def test_sweep_counts_what_it_removed() -> None:
    swept = do_sweep(FakeClient(containers=["c1", "c2"], networks=["n1"], volumes=["v1", "v2", "v3"]))
    assert (swept.containers, swept.networks, swept.volumes, swept.errors) == (2, 1, 3, ())


def test_sweep_of_nothing_removes_nothing() -> None:
    swept = do_sweep(FakeClient())
    assert (swept.containers, swept.networks, swept.volumes, swept.errors) == (0, 0, 0, ())


@pytest.mark.parametrize("name", ["c1", "n1", "v1"])
def test_sweep_tolerates_objects_already_gone(name: str) -> None:
    client = FakeClient(containers=["c1"], networks=["n1"], volumes=["v1"], errors={name: NotFound("gone")})
    swept = do_sweep(client)
    assert swept.errors == ()
    assert swept.containers + swept.networks + swept.volumes == 2


def test_sweep_collects_api_errors_and_carries_on() -> None:
    client = FakeClient(
        containers=["c1"], networks=["n1", "n2"], volumes=["v1"],
        errors={"n1": APIError("409 Client Error", explanation="network n1 has active endpoints")},
    )
    swept = do_sweep(client)
    assert swept.errors == ("network n1: network n1 has active endpoints",)
    assert (swept.containers, swept.networks, swept.volumes) == (1, 1, 1)


def test_sweep_collects_an_error_per_failing_object() -> None:
    client = FakeClient(
        containers=["c1"], volumes=["v1"],
        errors={"c1": APIError("500", explanation="device busy"), "v1": APIError("409", explanation="volume in use")},
    )
    assert do_sweep(client).errors == ("container c1: device busy", "volume v1: volume in use")


def test_swept_summary_states_counts() -> None:
    assert str(Swept(2, 1, 3)) == "removed 2 containers, 1 networks, 3 volumes"


def test_swept_summary_lists_errors() -> None:
    assert str(Swept(0, 0, 0, ("volume v1: in use",))).endswith("; errors: volume v1: in use")


def test_sweep_scratch_removes_a_runs_directories_and_only_its(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    mine, other = scratch_dir("run-1", "secrets"), scratch_dir("run-2", "backup")
    (mine / "nginx").mkdir()
    (tmp_path / "obsgate-run-1-not-a-dir").write_text("")
    assert sweep_scratch("run-1") == 1
    assert not mine.exists() and other.exists() and (tmp_path / "obsgate-run-1-not-a-dir").exists()
    assert sweep_scratch() == 1 and not other.exists()
