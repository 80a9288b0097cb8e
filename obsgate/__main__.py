"""``obsgate sweep [--run ID]`` (or ``python -m obsgate``): remove what crashed runs left behind; ``up``: the stack until Ctrl-C;
``repeat -n N -- <gate args>``: how stable each check is over N runs; ``backup`` / ``restore``: the stack's
named volumes, against a ``docker compose`` deployment."""

from __future__ import annotations

import argparse
import sys

import docker
from docker.errors import DockerException

from obsgate import repeat, up
from obsgate.backup import cli as backup_cli
from obsgate.bringup.cleanup import is_live, live_runs, sweep, sweep_scratch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="obsgate")
    commands = parser.add_subparsers(dest="command", required=True)
    sweep_cmd = commands.add_parser("sweep", help="remove containers, networks, volumes and scratch directories of obs-gate "
                                                  "runs that are no longer running")
    sweep_cmd.add_argument("--run", help="only this run id (default: every obs-gate run that is not running)")
    up.add_arguments(commands.add_parser("up", help="bring the gate's stack up until Ctrl-C; print URL, CA, credentials"))
    repeat.add_arguments(commands.add_parser("repeat", help="run the gate N times; per check: passed/failed/not "
                                                           "evaluated counts and measurement spreads"))
    backup_cli.add_arguments(commands.add_parser("backup", help="archive the deployment's named volumes (an archive "
                                                            "and manifest per volume)"), restoring=False)
    backup_cli.add_arguments(commands.add_parser("restore", help="verify a backup, then restore it into stopped services' "
                                                             "volumes"), restoring=True)
    args = parser.parse_args(argv)
    if args.command in ("backup", "restore"):
        return backup_cli.main(args)
    if args.command == "up":
        return up.main(args)
    if args.command == "repeat":
        return repeat.main(args)
    if args.run and is_live(args.run):
        print(f"obs-gate sweep: run {args.run} is still running: stop it (Ctrl-C removes what it made), then sweep",
              file=sys.stderr)
        return 2
    live = set() if args.run else live_runs()
    try:
        swept = sweep(docker.from_env(), args.run, spare=live)
    except DockerException as exc:
        print(f"obs-gate sweep: Docker engine unavailable: {exc}", file=sys.stderr)
        return 2
    swept.directories = sweep_scratch(args.run, spare=live)
    print(f"obs-gate sweep: {swept}" + (f" (left {len(live)} running run(s) alone: {', '.join(sorted(live))})" if live else ""))
    return 1 if swept.errors else 0


if __name__ == "__main__":
    sys.exit(main())
