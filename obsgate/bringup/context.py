"""What the layers below the run need of it: a small interface, so bringup and the checks never import
the run itself (obsgate.run.GateRun is its one implementation; tests may pass their own)."""

from __future__ import annotations

from typing import Protocol

import docker

from obsgate.bringup.images import ImageChoice
from obsgate.bringup.secrets import RunSecrets
from obsgate.core.options import Target
from obsgate.stackfiles.compose import ComposeProject


class RunContext(Protocol):
    """One gate run as bringup and the checks see it: its id, its compose project and secrets, its Docker."""

    run_id: str
    project: ComposeProject
    secrets: RunSecrets

    @property
    def target(self) -> Target | None:
        """The deployment judged instead of the run's own stack (``--target``): no stack of the run's own then."""
        ...

    def docker(self) -> docker.DockerClient:
        """A live Docker client (NotEvaluated where there is no engine)."""
        ...

    def image_choices(self) -> dict[str, ImageChoice]:
        """Each service's image, resolved once for the run."""
        ...
