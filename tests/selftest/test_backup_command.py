"""``python -m obsgate backup`` / ``restore`` against a real ``docker compose``-style deployment: it never loses data.

The deployment is a compose file with one stateful service and its volume as compose
creates it (``<project>_data``, compose's labels), a container of the service running on
it; the image is one of this run's ``--image`` overrides (never pulled). Each refusal is
one message, exit code 2, and the volume unchanged; no throwaway container is left.
"""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException, ImageNotFound
from docker.models.containers import Container

from obsgate.__main__ import main
from obsgate.backup.volumes import COMPOSE_PROJECT, COMPOSE_SERVICE, COMPOSE_VOLUME
from obsgate.bringup.cleanup import LABEL_PROJECT, LABEL_RUN, sweep

SEED = "mkdir -p /data/wal && echo acknowledged > /data/wal/1 && chown 10001:10001 /data/wal/1"
SHOW = "cat /data/wal/1; ls -A /data; stat -c %u /data/wal/1"


@dataclass
class Deployment:
    client: docker.DockerClient
    image: str
    project: str
    compose: Path
    backups: Path
    labels: dict[str, str]

    @property
    def volume(self) -> str:
        return f"{self.project}_data"

    def sh(self, script: str) -> str:
        # Not run(remove=True): that keeps the anonymous volumes of the image's VOLUMEs (e.g. /prometheus).
        container = self.client.containers.run(self.image, [script], entrypoint=["/bin/sh", "-c"], user="0",
                                               detach=True, volumes={self.volume: {"bind": "/data", "mode": "rw"}},
                                               labels=self.labels)
        try:
            container.wait(timeout=60)
            return bytes(container.logs()).decode().strip()
        finally:
            container.remove(force=True, v=True)

    def start_service(self) -> Container:
        return self.client.containers.run(
            self.image, ["sleep", "infinity"], entrypoint=[], detach=True, name=f"{self.project}-app-1",
            volumes={self.volume: {"bind": "/data", "mode": "rw"}},
            labels={**self.labels, COMPOSE_PROJECT: self.project, COMPOSE_SERVICE: "app"})

    def command(self, *args: str) -> int:
        return main([*args[:1], "--compose", str(self.compose), *args[1:]])


@pytest.fixture
def deployment(pytestconfig: pytest.Config, tmp_path: Path) -> Iterator[Deployment]:
    try:
        client = docker.from_env()
        client.ping()
    except DockerException as exc:
        pytest.skip(f"not evaluated: Docker engine unavailable: {exc}")
    refs = [ref.partition("=")[2] for ref in pytestconfig.getoption("image")]
    present = [ref for ref in refs if _present(client, ref)]
    if not present:
        pytest.skip("not evaluated: no --image given that is present locally (this test never pulls)")
    project = f"obsgate-bk-{uuid.uuid4().hex[:8]}"
    compose = tmp_path / project / "docker-compose.yml"
    compose.parent.mkdir()
    compose.write_text(textwrap.dedent(f"""\
        name: {project}
        volumes: {{data: {{}}}}
        services:
          app: {{image: "{present[0]}", volumes: ["data:/data"]}}
          edge: {{image: "{present[0]}"}}
    """))
    run_id = f"selftest-{project}"
    d = Deployment(client, present[0], project, compose, tmp_path / "backups", {LABEL_RUN: run_id})
    client.volumes.create(d.volume, labels={**d.labels, COMPOSE_PROJECT: project, COMPOSE_VOLUME: "data"})
    d.sh(SEED)
    try:
        yield d
        assert not client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project}"}), \
            "a throwaway container was left behind"
    finally:
        sweep(client, run_id)
        throwaways = client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={project}"})
        for run in {c.labels[LABEL_RUN] for c in throwaways}:
            sweep(client, run)
        for volume in client.volumes.list(filters={"label": f"{COMPOSE_PROJECT}={project}"}):
            volume.remove(force=True)


def _present(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
    except ImageNotFound:
        return False
    return True


def test_backup_while_running_then_restore_over_changed_data(deployment: Deployment) -> None:
    service = deployment.start_service()
    assert deployment.command("backup", "--to", str(deployment.backups)) == 0
    manifests = list(deployment.backups.glob("*.json"))
    assert [m.name for m in manifests] == ["app-data.json"]
    deployment.sh("echo changed > /data/wal/1 && touch /data/extra")
    service.stop(timeout=1)
    assert deployment.command("restore", "--from", str(deployment.backups), "--yes-overwrite", "app") == 0
    assert deployment.sh(SHOW).split() == ["acknowledged", "wal", "10001"]   # contents, nothing else, owners kept


def test_restore_refuses_while_the_service_runs(deployment: Deployment, capsys: pytest.CaptureFixture[str]) -> None:
    deployment.start_service()
    assert deployment.command("backup", "--to", str(deployment.backups), "app") == 0
    deployment.sh("echo changed > /data/wal/1")
    assert deployment.command("restore", "--from", str(deployment.backups), "--yes-overwrite", "app") == 2
    err = capsys.readouterr().err.strip()
    assert f"in use by running container {deployment.project}-app-1" in err and "stop app first" in err
    assert len(err.splitlines()) == 1 and err.endswith("nothing changed")
    assert deployment.sh("cat /data/wal/1") == "changed"


def test_restore_refuses_a_non_empty_volume_without_the_flag(deployment: Deployment,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert deployment.command("backup", "--to", str(deployment.backups)) == 0
    deployment.sh("echo changed > /data/wal/1")
    assert deployment.command("restore", "--from", str(deployment.backups), "app") == 2
    assert "is not empty (fix: pass --yes-overwrite" in capsys.readouterr().err
    assert deployment.sh("cat /data/wal/1") == "changed"


def test_restore_recreates_a_lost_volume_for_compose(deployment: Deployment) -> None:
    assert deployment.command("backup", "--to", str(deployment.backups)) == 0
    deployment.client.volumes.get(deployment.volume).remove()
    assert deployment.command("restore", "--from", str(deployment.backups), "app") == 0
    labels = deployment.client.volumes.get(deployment.volume).attrs["Labels"]
    assert (labels[COMPOSE_PROJECT], labels[COMPOSE_VOLUME]) == (deployment.project, "data")
    assert deployment.sh(SHOW).split() == ["acknowledged", "wal", "10001"]


@pytest.mark.parametrize(("args", "message"), [
    (("backup", "--to", "{backups}", "ap"), "services.ap: no such service"),
    (("backup", "--to", "{backups}", "edge"), "services.edge.volumes: the service mounts no named volume"),
    (("backup", "--to", "{backups}", "--volume", "wal", "app"), "app does not mount volume 'wal'"),
    (("backup", "--to", "{backups}", "--project", "gone", "app"), "volume gone_data: data: no such docker volume"),
    (("restore", "--from", "{backups}", "app"), "no backup of app's volume data here"),
    (("restore", "--from", "{backups}", "ap"), "services.ap: no such service"),
])
def test_wrong_name_or_missing_archive_is_one_error_and_changes_nothing(
        deployment: Deployment, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str) -> None:
    argv = [a.format(backups=deployment.backups) for a in args]
    assert deployment.command(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not deployment.backups.exists()
    assert deployment.sh(SHOW).split() == ["acknowledged", "wal", "10001"]
