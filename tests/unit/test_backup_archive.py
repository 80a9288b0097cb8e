"""obsgate.backup.archive / volumes: the manifest, verification before any restore, the atomic commit, the targets."""

from __future__ import annotations

import json
import tarfile
import textwrap
from pathlib import Path

import pytest

from obsgate.backup import archive
from obsgate.backup.archive import Manifest, commit, manifest_path, read_manifest, verify
from obsgate.backup.volumes import Target, image_version, service_volumes, stateful, targets
from obsgate.core.errors import InputError
from obsgate.stackfiles.compose import ComposeProject, load_compose

LOKI = Target("loki", "loki-data", "obs-stack_loki-data", "grafana/loki:2.9.3")


def partial(directory: Path, files: dict[str, bytes], name: str = ".loki-loki-data.t.partial") -> Path:
    """A gzip'd tar of a volume root ``.`` holding ``files``, as the throwaway writes it."""
    root = directory / "volume"
    root.mkdir(exist_ok=True)
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    path = directory / name
    with tarfile.open(path, "w:gz") as tar:
        tar.add(root, arcname=".")
    return path


@pytest.fixture
def backed(tmp_path: Path) -> tuple[Path, Manifest]:
    out = tmp_path / "backups"
    out.mkdir()
    return out, commit(out, partial(out, {"wal/00000000": b"x" * 5000, "index/a": b"abc"}), LOKI, LOKI.docker_volume, "t")


def edit_manifest(directory: Path, **changes: object) -> None:
    path = manifest_path(directory, LOKI.key)
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_commit_writes_manifest_naming_a_complete_archive(backed: tuple[Path, Manifest]) -> None:
    out, manifest = backed
    assert (manifest.service, manifest.compose_volume, manifest.version) == ("loki", "loki-data", "2.9.3")
    assert manifest.members == 5   # ".", wal, wal/00000000, index, index/a
    assert manifest.data_bytes == 5003
    assert manifest.archive == f"loki-loki-data.{manifest.sha256[:12]}.tar.gz"
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted([manifest.archive, "loki-loki-data.json"])
    assert verify(out, LOKI) == manifest


def test_truncated_archive_is_refused(backed: tuple[Path, Manifest]) -> None:
    out, manifest = backed
    path = out / manifest.archive
    path.write_bytes(path.read_bytes()[: manifest.archive_bytes // 2])
    with pytest.raises(InputError, match="sha256: is "):
        verify(out, LOKI)
    edit_manifest(out, sha256=archive.sha256(path))   # even with a matching checksum, a truncated tar is unreadable
    with pytest.raises(InputError, match="not a readable gzip'd tar"):
        verify(out, LOKI)


def test_changed_archive_fails_its_checksum(backed: tuple[Path, Manifest]) -> None:
    out, manifest = backed
    edit_manifest(out, sha256="0" * 64)
    with pytest.raises(InputError, match=f"is {manifest.sha256}, the manifest says 0000"):
        verify(out, LOKI)


def test_member_count_must_match(backed: tuple[Path, Manifest]) -> None:
    out, _ = backed
    edit_manifest(out, members=6)
    with pytest.raises(InputError, match="5 members, the manifest says 6"):
        verify(out, LOKI)


def test_archive_of_another_service_is_refused(backed: tuple[Path, Manifest]) -> None:
    out, _ = backed
    edit_manifest(out, service="grafana")
    with pytest.raises(InputError, match="taken from grafana/loki-data, not loki/loki-data"):
        verify(out, LOKI)


def test_archive_of_another_version_is_refused(backed: tuple[Path, Manifest]) -> None:
    out, _ = backed
    with pytest.raises(InputError, match=r"taken from loki 2\.9\.3 .* the target runs 3\.0\.0"):
        verify(out, Target("loki", "loki-data", "v", "grafana/loki:3.0.0"))
    assert verify(out, Target("loki", "loki-data", "v", "mirror.local:5000/grafana/loki:2.9.3"))  # same version elsewhere


def test_missing_backup_or_archive_is_one_clear_error(backed: tuple[Path, Manifest], tmp_path: Path) -> None:
    out, manifest = backed
    with pytest.raises(InputError, match="no backup of loki's volume loki-data here"):
        verify(tmp_path / "elsewhere", LOKI)
    (out / manifest.archive).unlink()
    with pytest.raises(InputError, match="the archive the manifest names is missing"):
        verify(out, LOKI)


def test_unreadable_manifest_is_refused(backed: tuple[Path, Manifest]) -> None:
    out, _ = backed
    manifest_path(out, LOKI.key).write_text("{not json")
    with pytest.raises(InputError, match="unreadable manifest"):
        read_manifest(out, LOKI)


def test_a_failed_backup_leaves_the_previous_one_intact(backed: tuple[Path, Manifest],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    out, before = backed
    broken = out / ".loki-loki-data.u.partial"
    broken.write_bytes(b"\x1f\x8b half an archive")
    with pytest.raises(InputError, match="not a readable gzip'd tar"):
        commit(out, broken, LOKI, LOKI.docker_volume, "u")
    assert verify(out, LOKI) == before

    def crash_on_manifest(src: Path, dst: Path) -> None:   # the machine dies between the two renames
        if Path(dst).suffix == ".json":
            raise OSError("disk full")
        Path(src).rename(dst)

    monkeypatch.setattr(archive.os, "replace", crash_on_manifest)
    with pytest.raises(OSError, match="disk full"):
        commit(out, partial(out, {"wal/00000001": b"new"}, ".loki-loki-data.v.partial"), LOKI, LOKI.docker_volume, "v")
    assert verify(out, LOKI) == before


def test_a_new_backup_replaces_the_previous_archive(backed: tuple[Path, Manifest]) -> None:
    out, before = backed
    after = commit(out, partial(out, {"wal/00000001": b"new"}, ".loki-loki-data.w.partial"), LOKI, LOKI.docker_volume, "w")
    assert after.archive != before.archive and not (out / before.archive).exists()
    assert verify(out, LOKI) == after


@pytest.mark.parametrize(("ref", "version"), [
    ("grafana/loki:2.9.3", "2.9.3"), ("registry.local:5000/loki:2.9.3", "2.9.3"), ("registry.local:5000/loki", "latest"),
    ("prom/prometheus@sha256:abc", "sha256:abc"), ("nginx", "latest"),
])
def test_image_version(ref: str, version: str) -> None:
    assert image_version(ref) == version


@pytest.fixture
def project(tmp_path: Path) -> ComposeProject:
    path = tmp_path / "docker-compose.yml"
    path.write_text(textwrap.dedent("""\
        name: obs-stack
        volumes: {loki-data: {}, wal: {}}
        services:
          loki: {image: "grafana/loki:2.9.3", volumes: ["loki-data:/loki", "wal:/wal"]}
          nginx: {image: "nginx:1.25.3-alpine"}
    """))
    return load_compose(path, {})


def test_targets_name_each_volume_of_each_service(project: ComposeProject) -> None:
    found = targets(project, ["loki"], None, lambda v: f"obs-stack_{v}", lambda s: project.services[s].image)
    assert [(t.compose_volume, t.docker_volume) for t in found] == [("loki-data", "obs-stack_loki-data"),
                                                                    ("wal", "obs-stack_wal")]
    only = targets(project, ["loki"], "wal", lambda v: v, lambda s: "x")
    assert [t.key for t in only] == ["loki-wal"]
    assert stateful(project) == ("loki",)


@pytest.mark.parametrize(("service", "volume", "error"), [
    ("lokki", None, "services.lokki: no such service .*use one of loki, nginx"),
    ("nginx", None, "the service mounts no named volume .*with one: loki"),
    ("loki", "grafana-data", "loki does not mount volume 'grafana-data' .*use one of loki-data, wal"),
])
def test_wrong_service_or_volume_is_one_clear_error(project: ComposeProject, service: str, volume: str | None,
                                                    error: str) -> None:
    with pytest.raises(InputError, match=error):
        targets(project, [service], volume, lambda v: v, lambda s: "x")
    if volume is None:
        with pytest.raises(InputError):
            service_volumes(project, service)
