"""``python -m obsgate backup`` / ``restore``: the gate's drill, run against a real ``docker compose`` deployment.

The volumes are the compose project's (``<project>_<volume>``, found by compose's labels);
the backup and restore are the functions the gate's drill runs (obsgate.backup.runner).
Bad input or a refusal prints one line and exits 2 having changed nothing; a failure
while running exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import docker
from docker.errors import DockerException

from obsgate.backup.runner import Runner, ThrowawayFailed, backup, restore
from obsgate.backup.volumes import COMPOSE_PROJECT, COMPOSE_VOLUME, Target, compose_volume_name, deployed_image, stateful, targets
from obsgate.bringup.cleanup import run_labels
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.stackfiles.compose import load_compose

DEFAULT_COMPOSE = Path("stack/docker-compose.yml")


def add_arguments(parser: argparse.ArgumentParser, restoring: bool) -> None:
    parser.add_argument("--compose", type=Path, default=DEFAULT_COMPOSE,
                        help="the deployment's compose file (default: %(default)s), read with this environment")
    parser.add_argument("--project", help="compose project name (default: the file's name: key, else its directory's name)")
    parser.add_argument("--volume", help="only this compose volume of the service(s)")
    if restoring:
        parser.add_argument("--from", dest="directory", type=Path, required=True, help="directory a backup wrote")
        parser.add_argument("--yes-overwrite", action="store_true",
                            help="replace what a non-empty volume holds (default: refuse)")
        parser.add_argument("services", nargs="+", help="services to restore, e.g. loki grafana prometheus")
    else:
        parser.add_argument("--to", dest="directory", type=Path, required=True,
                            help="directory for the archives (a previous backup there is replaced once this one is complete)")
        parser.add_argument("services", nargs="*", help="services to back up (default: every one with a named volume)")


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MiB" if n >= 1048576 else f"{n / 1024:.1f} KiB"


def main(args: argparse.Namespace) -> int:
    command = args.command
    try:
        project = load_compose(args.compose, os.environ)
        name = args.project or project.name
        client = docker.from_env()
        chosen = list(args.services) or list(stateful(project))
        found = targets(project, chosen, args.volume, lambda v: compose_volume_name(client, name, v),
                        lambda s: deployed_image(client, project, name, s))
        images = [deployed_image(client, project, name, s) for s in project.services]
        runner = Runner(client, run_labels(f"{command}-{uuid.uuid4().hex[:8]}", name), images)
        if command == "backup":
            return _backup(runner, found, args.directory)
        return _restore(runner, found, args.directory, args.yes_overwrite, name)
    except (InputError, NotEvaluated) as exc:
        print(f"obs-gate {command}: {exc} — nothing changed", file=sys.stderr)
        return 2
    except (ThrowawayFailed, DockerException) as exc:
        print(f"obs-gate {command}: {exc}", file=sys.stderr)
        return 1


def _backup(runner: Runner, found: list[Target], directory: Path) -> int:
    total = 0
    for target in found:
        done = backup(runner, target, directory)
        total += done.manifest.archive_bytes
        warning = f" (tar: {done.tar_warning.splitlines()[0]})" if done.tar_warning else ""
        print(f"{target.service}/{target.compose_volume} ({target.docker_volume}, {done.manifest.image}): "
              f"{_size(done.manifest.archive_bytes)}, {done.manifest.members} members in {done.seconds:.1f} s"
              f" -> {directory / done.manifest.archive}{warning}")
    print(f"obs-gate backup: {len(found)} volumes, {_size(total)} in {directory}")
    return 0


def _restore(runner: Runner, found: list[Target], directory: Path, overwrite: bool, project: str) -> int:
    labels = {t.docker_volume: {COMPOSE_PROJECT: project, COMPOSE_VOLUME: t.compose_volume} for t in found}
    for done in restore(runner, found, directory, overwrite, labels):
        print(f"{done.target.service}/{done.target.compose_volume} ({done.target.docker_volume}): "
              f"{done.manifest.members} members from {done.manifest.created_at} in {done.seconds:.1f} s")
    services = " ".join(dict.fromkeys(t.service for t in found))
    print(f"obs-gate restore: done; start the services: docker compose -p {project} start {services}")
    return 0
