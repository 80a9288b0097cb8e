"""obsgate.bringup.cleanup: the labels every object of a run carries, and removing a run's objects by them."""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import docker
import pytest
from docker.errors import APIError, NotFound
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import Reaper
from testcontainers.core.labels import LABEL_SESSION_ID, SESSION_ID

from obsgate.backup import runner as backup_runner
from obsgate.backup.runner import Runner
from obsgate.backup.volumes import Target
from obsgate.bringup import oneoff
from obsgate.bringup.cleanup import (
    LABEL_PARENT,
    LABEL_PROJECT,
    LABEL_RUN,
    Swept,
    for_testcontainers,
    hold,
    is_live,
    live_runs,
    run_labels,
    scratch_dir,
    sweep,
    sweep_scratch,
)
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.overlay import overlay_stack
from obsgate.bringup.stack import ServiceHandle, Stack
from obsgate.checks.resilience.lifecycle import address_taken
from obsgate.core.errors import NotEvaluated
from obsgate.run import GateRun
from obsgate.stackfiles.compose import ComposeProject, load_compose

Log = list[tuple[str, str, dict[str, Any]]]
RUN = "run1"


class FakeObject:
    """A container, network or volume that records its removal (or fails it); removed, it is no longer listed."""

    def __init__(self, kind: str, name: str, log: Log, labels: dict[str, str], error: Exception | None = None,
                 on_remove: Callable[[], object] | None = None) -> None:
        self.kind, self.name, self.id, self.log, self.labels, self.error = kind, name, f"id-{name}", log, labels, error
        self.attrs: dict[str, Any] = {"Names": [f"/{name}"]} if kind == "container" else {"Name": name}
        self.attrs["Labels"] = labels
        self.on_remove = on_remove
        self.collection: FakeCollection | None = None

    def remove(self, **kwargs: Any) -> None:
        self.log.append((self.kind, self.name, kwargs))
        if self.on_remove is not None:
            self.on_remove()
        if self.error is not None and not isinstance(self.error, NotFound):
            raise self.error
        assert self.collection is not None
        if self in self.collection.objects:
            self.collection.objects.remove(self)
        if self.error is not None:
            raise self.error


class FakeCollection:
    def __init__(self, objects: list[FakeObject]) -> None:
        self.objects = objects
        self.list_calls: list[dict[str, Any]] = []
        for obj in objects:
            obj.collection = self

    def add(self, obj: FakeObject) -> None:
        obj.collection = self
        self.objects.append(obj)

    def list(self, **kwargs: Any) -> list[FakeObject]:
        self.list_calls.append(kwargs)
        key, _, value = kwargs["filters"]["label"].partition("=")
        return [o for o in self.objects if key in o.labels and (not value or o.labels[key] == value)]


class FakeClient:
    def __init__(self, containers: Sequence[str] = (), networks: Sequence[str] = (), volumes: Sequence[str] = (),
                 errors: dict[str, Exception] | None = None, labels: dict[str, str] | None = None) -> None:
        self.log: Log = []
        errors = errors or {}
        labels = labels if labels is not None else {LABEL_RUN: "run-1"}

        def make(kind: str, names: Sequence[str]) -> FakeCollection:
            return FakeCollection([FakeObject(kind, n, self.log, dict(labels), errors.get(n)) for n in names])

        self.containers = make("container", containers)
        self.networks = make("network", networks)
        self.volumes = make("volume", volumes)


def do_sweep(client: FakeClient, run_id: str | None = "run-1") -> Swept:
    fake: Any = client
    return sweep(fake, run_id)


def test_run_labels_carry_run_id_project_and_parent_run() -> None:
    labels = run_labels("run-1", "obs-stack")
    assert (labels[LABEL_RUN], labels[LABEL_PROJECT], labels[LABEL_PARENT]) == ("run-1", "obs-stack", "run-1")
    assert run_labels("run-1-alerts", "obs-stack", parent="run-1")[LABEL_PARENT] == "run-1"


def test_run_labels_carry_testcontainers_session_so_ryuk_reaps_them() -> None:
    assert run_labels("run-1", "obs-stack")[LABEL_SESSION_ID] == SESSION_ID


def test_testcontainers_api_gets_the_labels_without_its_own() -> None:
    """testcontainers adds its labels itself, and refuses to be handed its namespace."""
    assert for_testcontainers(run_labels("run-1", "p")) == {LABEL_RUN: "run-1", LABEL_PROJECT: "p", LABEL_PARENT: "run-1"}


def test_label_keys_are_namespaced() -> None:
    assert (LABEL_RUN, LABEL_PROJECT, LABEL_PARENT) == ("org.obsgate.run", "org.obsgate.project", "org.obsgate.parent-run")


def test_sweep_removes_containers_then_networks_then_volumes() -> None:
    client = FakeClient(containers=["c1", "c2"], networks=["n1"], volumes=["v1", "v2"])
    do_sweep(client)
    assert [kind for kind, _, _ in client.log] == ["container", "container", "network", "volume", "volume"]


def test_sweep_filters_every_kind_by_the_run_label_and_the_parent_run_label() -> None:
    client = FakeClient()
    do_sweep(client, "run-1")
    for collection in (client.containers, client.networks, client.volumes):
        assert [c["filters"] for c in collection.list_calls] == [{"label": "org.obsgate.run=run-1"},
                                                                 {"label": "org.obsgate.parent-run=run-1"}]


def test_sweep_of_a_run_removes_its_overlays_objects_once_each() -> None:
    client = FakeClient(containers=["own"], labels={LABEL_RUN: "run-1", LABEL_PARENT: "run-1"})
    client.containers.add(FakeObject("container", "overlay", client.log, {LABEL_RUN: "run-1-alerts", LABEL_PARENT: "run-1"}))
    client.containers.add(FakeObject("container", "other", client.log, {LABEL_RUN: "run-2", LABEL_PARENT: "run-2"}))
    swept = do_sweep(client, "run-1")
    assert sorted(name for _, name, _ in client.log) == ["overlay", "own"]
    assert swept.containers == 2


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


def test_sweep_removes_containers_concurrently() -> None:
    """Each removal waits for the other: only removals in flight together get past the barrier."""
    barrier = threading.Barrier(3, timeout=5)
    client = FakeClient()
    for name in ("c1", "c2", "c3"):
        client.containers.add(FakeObject("container", name, client.log, {LABEL_RUN: "run-1"}, on_remove=barrier.wait))
    assert do_sweep(client).containers == 3


def test_sweep_removes_what_appears_while_it_runs() -> None:
    """An interrupted run's threads may still create objects: another pass removes them."""
    client = FakeClient(networks=["n1"])
    late = FakeObject("container", "late", client.log, {LABEL_RUN: "run-1"})
    client.containers.add(FakeObject("container", "c1", client.log, {LABEL_RUN: "run-1"},
                                     on_remove=lambda: client.containers.add(late)))
    swept = do_sweep(client)
    assert (swept.containers, swept.networks) == (2, 1)
    assert client.containers.objects == []


def test_sweep_ends_when_a_pass_removes_nothing_more() -> None:
    client = FakeClient(volumes=["v1"], errors={"v1": APIError("409", explanation="volume in use")})
    swept = do_sweep(client)
    assert swept.errors == ("volume v1: volume in use",)
    assert len(client.log) == 1


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


# Every path that creates a container, network or volume labels it: with the run (so the teardown and
# ``sweep --run`` find it) and with testcontainers' session (so Ryuk, where it runs, reaps it).

class FakeDockerObject:
    """What the Docker SDK returns for a created container, network or volume: enough for the harness."""

    def __init__(self, docker: FakeDocker, kind: str, name: str, labels: dict[str, str], network: str | None = None):
        self.docker, self.kind, self.name, self.labels = docker, kind, name, labels
        self.id = self.short_id = f"{kind}-{name}"
        networks = {network: {"IPAddress": "192.0.2.2"}} if network else {}
        self.attrs: dict[str, Any] = {"State": {"Running": False, "ExitCode": 0}, "NetworkSettings": {"Networks": networks},
                                      "IPAM": {"Config": [{"Gateway": "192.0.2.1"}]}}

    def start(self) -> None: ...
    def reload(self) -> None: ...

    def connect(self, *args: Any, **kwargs: Any) -> None:
        self.docker.attached.append(("connect", kwargs))
        if self.docker.refuse_address:
            raise APIError("user specified IP address is supported only when connecting to networks with user "
                           "configured subnets")

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self.docker.attached.append(("disconnect", kwargs))

    def logs(self, **kwargs: Any) -> bytes:
        return b""

    def remove(self, **kwargs: Any) -> None:
        self.docker.objects.pop((self.kind, self.name), None)


class FakeKind:
    """containers / networks / volumes / images of FakeDocker: creation recorded with its labels."""

    def __init__(self, docker: FakeDocker, kind: str) -> None:
        self.docker, self.kind = docker, kind

    def _create(self, name: str | None, labels: dict[str, str] | None, network: str | None = None) -> FakeDockerObject:
        name = name or f"unnamed-{next(self.docker.counter)}"
        obj = FakeDockerObject(self.docker, self.kind, name, dict(labels or {}), network)
        self.docker.objects[self.kind, name] = obj
        self.docker.created.append(obj)
        return obj

    def create(self, first: str, *, labels: dict[str, str] | None = None, **kwargs: Any) -> FakeDockerObject:
        """``first``: the name of a network or volume, a container's image (its name is a keyword)."""
        return self._create(kwargs.get("name") if self.kind == "container" else first, labels)

    def run(self, image: str, *, labels: dict[str, str] | None = None, network: str | None = None,
            **kwargs: Any) -> FakeDockerObject:
        return self._create(kwargs.get("name"), labels, network)

    def get(self, name: str) -> FakeDockerObject:
        if self.kind == "image":
            return FakeDockerObject(self.docker, "image", name, {})
        found = self.docker.objects.get((self.kind, name)) or next(
            (o for (k, _), o in self.docker.objects.items() if k == self.kind and o.id == name), None)
        if found is None:
            raise NotFound(f"no {self.kind} {name}")
        return found

    def list(self, filters: dict[str, str], **kwargs: Any) -> list[FakeDockerObject]:
        key, _, value = filters["label"].partition("=")
        return [o for (k, _), o in list(self.docker.objects.items()) if k == self.kind and o.labels.get(key) == value]


class FakeDocker:
    """A docker.DockerClient (as docker.from_env returns it, also to testcontainers) recording what is created."""

    def __init__(self) -> None:
        self.api = SimpleNamespace(headers={})
        self.objects: dict[tuple[str, str], FakeDockerObject] = {}
        self.created: list[FakeDockerObject] = []
        self.attached: list[tuple[str, dict[str, Any]]] = []
        self.refuse_address = False
        self.counter = itertools.count()
        self.containers, self.networks, self.volumes, self.images = (
            FakeKind(self, k) for k in ("container", "network", "volume", "image"))

    def ping(self) -> bool:
        return True

    def version(self) -> dict[str, Any]:
        return {"Components": [{"Name": "Engine", "Version": "0-fake"}]}

    def close(self) -> None: ...


@pytest.fixture
def fake_docker(monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
    fake = FakeDocker()
    monkeypatch.setattr(docker, "from_env", lambda **kwargs: fake)
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(ServiceHandle, "wait_ready", lambda self, timeout_s=None: 0.0)
    return fake


@pytest.fixture
def project(tmp_path: Path) -> ComposeProject:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("name: mini\nservices:\n  app:\n    image: app:1\n    volumes: ['data:/data']\n"
                       "    networks: [front, back]\nnetworks: {front: {}, back: {}}\nvolumes: {data: {}}\n")
    return load_compose(compose, {})


class FakeRun:
    """The parts of a GateRun that overlays and one-offs use."""

    def __init__(self, project: ComposeProject) -> None:
        self.run_id, self.project, self.target = RUN, project, None
        self.images = {"app": ImageChoice("app", "app:1", "app:1", False, True)}

    def image_choices(self) -> dict[str, ImageChoice]:
        return self.images

    def docker(self) -> Any:
        return docker.from_env()


def assert_labelled(created: list[FakeDockerObject], run_id: str, kinds: set[str]) -> None:
    assert {o.kind for o in created} == kinds, [(o.kind, o.name) for o in created]
    for obj in created:
        assert obj.labels.get(LABEL_SESSION_ID) == SESSION_ID, (obj.kind, obj.name, obj.labels)
        assert obj.labels.get(LABEL_PARENT) == RUN, (obj.kind, obj.name, obj.labels)
        assert obj.labels.get(LABEL_RUN) == run_id, (obj.kind, obj.name, obj.labels)


@pytest.fixture
def stack(fake_docker: FakeDocker, project: ComposeProject) -> Iterator[Stack]:
    stack = Stack(project, RUN, FakeRun(project).images, docker.from_env())
    stack.up()
    yield stack
    stack.down()


def test_the_stacks_networks_volumes_and_containers_are_labelled(fake_docker: FakeDocker, stack: Stack) -> None:
    assert_labelled(fake_docker.created, RUN, {"network", "volume", "container"})
    assert len(fake_docker.created) == 4


def test_an_overlays_objects_name_the_gate_run_as_parent(fake_docker: FakeDocker, project: ComposeProject) -> None:
    run: Any = FakeRun(project)
    with overlay_stack(run, "alerts", project.services):
        assert_labelled(fake_docker.created, f"{RUN}-alerts", {"network", "volume", "container"})


def test_a_one_offs_objects_are_labelled(fake_docker: FakeDocker, project: ComposeProject) -> None:
    run: Any = FakeRun(project)
    with oneoff.started(run, "app"):
        assert_labelled(fake_docker.created, RUN, {"network", "volume", "container"})


def test_throwaways_and_the_volumes_a_drills_restore_creates_are_labelled(fake_docker: FakeDocker, stack: Stack,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    del fake_docker.created[:]
    runner = Runner(stack.client, stack.labels, ["app:1"])
    target = Target("app", "data", "obsgate-lost-volume", "app:1")
    monkeypatch.setattr(backup_runner, "check_restore", lambda *args: [SimpleNamespace(archive="a.tgz", members=1)])
    monkeypatch.setattr(backup_runner, "exists", lambda client, volume: False)
    backup_runner.restore(runner, [target], Path("/nonexistent"))
    assert_labelled(fake_docker.created, RUN, {"container", "volume"})


def test_the_address_holder_is_labelled(fake_docker: FakeDocker, stack: Stack) -> None:
    del fake_docker.created[:]
    handle: Any = SimpleNamespace(ip="192.0.2.2", stack=stack, spec=stack["app"].spec, name="app", stop=lambda: None)
    with address_taken(handle, "app:1"):
        assert_labelled(fake_docker.created, RUN, {"container"})


def test_the_address_holder_is_pinned_to_the_old_address_where_the_engine_hands_out_another(
        fake_docker: FakeDocker, stack: Stack) -> None:
    """Podman hands addresses out in sequence, Docker the lowest free one: the holder must hold the old one either way."""
    handle: Any = SimpleNamespace(ip="192.0.2.9", stack=stack, spec=stack["app"].spec, name="app", stop=lambda: None)
    del fake_docker.attached[:]
    with address_taken(handle, "app:1") as held:
        assert held == "192.0.2.9"
        assert fake_docker.attached == [("disconnect", {}), ("connect", {"ipv4_address": "192.0.2.9"})]


def test_an_engine_that_will_not_pin_the_old_address_makes_the_check_not_evaluated(fake_docker: FakeDocker,
                                                                                     stack: Stack) -> None:
    """Not a failure of the stack: the drill cannot be set up on this engine."""
    fake_docker.refuse_address = True
    handle: Any = SimpleNamespace(ip="192.0.2.9", stack=stack, spec=stack["app"].spec, name="app", stop=lambda: None)
    with pytest.raises(NotEvaluated, match="would not give it that address"), address_taken(handle, "app:1"):
        pass
    assert not [o for o in fake_docker.objects.values() if o.kind == "container" and "address-holder" in str(o.labels)]


def test_ryuk_is_started_before_the_run_creates_anything(fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate's one way to Docker starts it, not only testcontainers' first container (after networks and volumes)."""
    started: list[int] = []
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", False)
    monkeypatch.setattr(Reaper, "get_instance", classmethod(lambda cls: started.append(len(fake_docker.created))))
    run: Any = SimpleNamespace(_unavailable=None, _client=None)
    GateRun.docker(run)
    assert started == [0]


def test_without_ryuk_nothing_is_started(fake_docker: FakeDocker, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Reaper, "get_instance", classmethod(lambda cls: pytest.fail("Ryuk started")))
    run: Any = SimpleNamespace(_unavailable=None, _client=None)
    assert GateRun.docker(run) is fake_docker


def test_teardown_sweeps_the_run_though_no_stack_came_up(fake_docker: FakeDocker, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Interrupted during the config checks: what a one-off could not remove, and the scratch dirs, go anyway."""
    fake_docker.volumes.create("obsgate-run1-app-oneoff-1-data", labels=run_labels(RUN, "mini"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scratch = scratch_dir(RUN, "test-alert")
    run: Any = SimpleNamespace(_lock=threading.Lock(), _stack=None, _client=fake_docker, run_id=RUN, webhook=None,
                               secrets=SimpleNamespace(remove=lambda: None), timings={}, claim=None)
    GateRun.teardown(run)
    assert fake_docker.objects == {}
    assert not scratch.exists()


def test_a_live_run_holds_its_id_until_it_releases_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    claim = hold("liverun1")
    assert claim is not None and is_live("liverun1") and live_runs() == {"liverun1"}
    assert hold("liverun1") is None, "a second run with the same id must not start"
    claim.release()
    claim.release()   # idempotent: the teardown runs twice
    assert not is_live("liverun1") and live_runs() == set() and not list(tmp_path.iterdir())


def test_a_dead_runs_lock_file_is_not_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A SIGKILLed run leaves its lock file, but the kernel dropped the lock: it is swept like any leftover."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    (tmp_path / "obsgate-deadrun1.lock").touch()
    assert live_runs() == set() and not (tmp_path / "obsgate-deadrun1.lock").exists()


def test_sweep_of_every_run_spares_the_live_ones() -> None:
    client = FakeClient(containers=["mine"], networks=["net"], volumes=["vol"],
                        labels={LABEL_RUN: "live-x", LABEL_PARENT: "live"})
    dead = FakeObject("container", "dead", client.log, {LABEL_RUN: "dead", LABEL_PARENT: "dead"})
    client.containers.add(dead)
    fake: Any = client
    swept = sweep(fake, None, spare={"live"})
    assert (swept.containers, swept.networks, swept.volumes) == (1, 0, 0)
    assert [name for _, name, _ in client.log] == ["dead"]


def test_sweep_scratch_spares_the_live_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    live, dead = tmp_path / "obsgate-live1-secrets-abc", tmp_path / "obsgate-dead1-secrets-def"
    live.mkdir()
    dead.mkdir()
    assert sweep_scratch(spare={"live1"}) == 1
    assert live.exists() and not dead.exists()
