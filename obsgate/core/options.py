"""What one gate run is asked to do: its inputs and outputs, as the command line names them.

Kept free of heavy imports: the pytest plugin builds these before it knows whether a run is active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PULL_POLICIES = ("missing", "never")


@dataclass
class RunOptions:
    compose: Path
    policy: Path
    reports: Path
    images: Sequence[str] = ()
    pull: str = "missing"
