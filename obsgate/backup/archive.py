"""An archive per volume and its manifest; verified in full before a restore touches anything.

Layout of a backup directory: ``<service>-<volume>.json`` (the manifest) names
``<service>-<volume>.<sha12>.tar.gz`` (the archive). A backup writes its archive under a
new name, then replaces the manifest in one ``os.replace``: that rename is the commit, so a
backup that fails at any point before it leaves the previous manifest and archive intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import zlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from obsgate.backup.volumes import Target, image_version
from obsgate.core.errors import InputError

FORMAT = 1
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Manifest:
    """What one archive holds and where it came from; a restore checks every field it can."""

    service: str
    compose_volume: str
    docker_volume: str
    image: str
    version: str
    archive: str         # file name, beside the manifest
    sha256: str
    archive_bytes: int
    members: int         # tar members, the volume's root "." included
    data_bytes: int      # bytes of the regular files inside
    created_at: str
    run: str             # the run (gate run or command invocation) that made it
    format: int = FORMAT

    @property
    def key(self) -> str:
        return f"{self.service}-{self.compose_volume}"


@dataclass(frozen=True)
class Contents:
    members: int
    data_bytes: int


def manifest_path(directory: Path, key: str) -> Path:
    return directory / f"{key}.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def contents(path: Path) -> Contents:
    """Read the whole gzip'd tar (every member's data); InputError if any of it is unreadable or truncated."""
    members = data_bytes = 0
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                members += 1
                if member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    while chunk := f.read(_CHUNK):
                        data_bytes += len(chunk)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise InputError(path, "archive", f"not a readable gzip'd tar ({type(exc).__name__}: {exc})",
                         "restore from an intact backup; this one is damaged") from None
    return Contents(members, data_bytes)


def read_manifest(directory: Path, target: Target) -> Manifest:
    """The manifest of ``target``'s latest backup in ``directory``; InputError if there is none or it is unreadable."""
    path = manifest_path(directory, target.key)
    if not path.is_file():
        raise InputError(path, target.compose_volume,
                         f"no backup of {target.service}'s volume {target.compose_volume} here",
                         "pass --from the directory a backup wrote, or back the volume up first")
    try:
        fields = json.loads(path.read_text())
        manifest = Manifest(**fields)
    except (ValueError, TypeError) as exc:
        raise InputError(path, "manifest", f"unreadable manifest ({exc})", "restore from an intact backup") from None
    if manifest.format != FORMAT:
        raise InputError(path, "format", f"manifest format {manifest.format}, this obs-gate reads {FORMAT}",
                         "restore with the obs-gate version that made the backup")
    return manifest


def verify(directory: Path, target: Target) -> Manifest:
    """The manifest, once the archive is complete and matches ``target`` (service, volume, image version)."""
    manifest = read_manifest(directory, target)
    where = manifest_path(directory, target.key)
    if (manifest.service, manifest.compose_volume) != (target.service, target.compose_volume):
        raise InputError(where, "service", f"taken from {manifest.service}/{manifest.compose_volume}, "
                         f"not {target.service}/{target.compose_volume}", "restore it into the volume it came from")
    version = image_version(target.image)
    if manifest.version != version:
        raise InputError(where, "version", f"taken from {manifest.service} {manifest.version} ({manifest.image}), "
                         f"the target runs {version} ({target.image})",
                         f"restore into {manifest.service} {manifest.version}, then upgrade")
    archive = directory / manifest.archive
    if not archive.is_file():
        raise InputError(archive, "archive", "the archive the manifest names is missing",
                         "restore from a complete backup directory")
    if (digest := sha256(archive)) != manifest.sha256:
        raise InputError(archive, "sha256", f"is {digest}, the manifest says {manifest.sha256}",
                         "the archive was changed or damaged: restore from an intact backup")
    found = contents(archive)
    if found.members != manifest.members:
        raise InputError(archive, "members", f"{found.members} members, the manifest says {manifest.members}",
                         "restore from an intact backup")
    return manifest


def commit(directory: Path, partial: Path, target: Target, docker_volume: str, run: str) -> Manifest:
    """Check ``partial`` in full, move it to its final name and replace the manifest (the commit), drop the old archive."""
    found = contents(partial)
    digest = sha256(partial)
    manifest = Manifest(
        service=target.service, compose_volume=target.compose_volume, docker_volume=docker_volume,
        image=target.image, version=image_version(target.image), archive=f"{target.key}.{digest[:12]}.tar.gz",
        sha256=digest, archive_bytes=partial.stat().st_size, members=found.members, data_bytes=found.data_bytes,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"), run=run)
    path = manifest_path(directory, target.key)
    try:
        previous: str | None = read_manifest(directory, target).archive if path.is_file() else None
    except InputError:
        previous = None   # a damaged manifest is replaced; its archive, if any, is left alone
    os.replace(partial, directory / manifest.archive)
    staged = path.with_name(f".{path.name}.{run}.partial")
    staged.write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    os.replace(staged, path)
    if previous and previous != manifest.archive:
        (directory / previous).unlink(missing_ok=True)
    return manifest
