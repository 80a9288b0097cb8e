"""What one gate run is asked to do: its inputs and outputs, as the command line names them.

Kept free of heavy imports: the pytest plugin builds these before it knows whether a run is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PULL_POLICIES = ("missing", "never")


@dataclass(frozen=True)
class Target:
    """A deployment the gate did not start (``--target``): judged through its public surface only."""

    url: str                        # https://host[:port] of its gateway
    ca_file: Path | None = None     # trust for its certificate; None: the system store
    http_url: str | None = None     # its plain-HTTP listener, for the redirect check (default: the URL on port 80)
    allow_http: bool = False        # a plain-http URL was asked for explicitly
    no_verify: bool = False         # certificate verification off, asked for explicitly
    load: bool = False              # load allowed (rate-capped by gate.yml's target section)


@dataclass
class RunOptions:
    compose: Path
    policy: Path
    reports: Path
    images: Sequence[str] = ()
    pull: str = "missing"
    target: Target | None = None
