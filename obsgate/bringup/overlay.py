"""A small second stack beside the run's: some compose services, one thing changed.

For checks that need a variant the run's stack must not carry (an extra test rule
file, nginx with no upstream to reach). Same harness (``obsgate.bringup.stack.Stack``),
same image choices, its own network and volumes under its own run id
``<run id>-<suffix>``, so everything it creates is labelled and removed like the
run's own objects; each also names the gate run as its parent, so removing the run
(its teardown, an interrupt, ``obsgate sweep --run ID``) removes its overlays too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from obsgate.bringup.context import RunContext
from obsgate.bringup.images import ImageChoice
from obsgate.bringup.stack import Stack
from obsgate.core import stop
from obsgate.core.causes import EXTERNAL
from obsgate.core.errors import NotEvaluated
from obsgate.stackfiles.compose import Mount, ServiceSpec


def with_mount(spec: ServiceSpec, target: str, source: Path) -> ServiceSpec:
    """``spec`` with the bind mount at ``target`` replaced by (or added as) a read-only bind of ``source``."""
    kept = tuple(m for m in spec.mounts if m.target.rstrip("/") != target.rstrip("/"))
    return dataclasses.replace(spec, mounts=(*kept, Mount("bind", str(source), target, True)))


@contextmanager
def overlay_stack(run: RunContext, suffix: str, services: Mapping[str, ServiceSpec],
                  before_services: Callable[[Stack], None] | None = None,
                  images: Mapping[str, ImageChoice] | None = None,
                  confirm_healthchecks: bool = True) -> Iterator[Stack]:
    """Bring up ``services`` (specs of the run's compose project, possibly changed) and remove them after.

    ``images``: other images for some services (an upgrade candidate), else the run's choices.
    ``confirm_healthchecks``: see ``Stack`` (False: ready by the host-side GET alone).

    Dependencies on services left out are dropped; each service's state says whether it
    came up (``stack[name].require()`` raises NotEvaluated / ServiceFailed as for the run).
    An interrupted run's overlays are only halted here: its teardown removes them with
    everything else of the run, at once (by the parent label).

    With a ``--target`` there is none: what an overlay proves (drills, variants) is about containers the gate
    controls, and the target's are not (not evaluated, cause EXTERNAL).
    """
    if run.target is not None:
        raise NotEvaluated(EXTERNAL.text, EXTERNAL)
    kept = {name: dataclasses.replace(spec, depends_on=tuple(d for d in spec.depends_on if d.service in services))
            for name, spec in services.items()}
    volumes = tuple(v for v in run.project.volumes
                    if any(m.kind == "volume" and m.source == v for s in kept.values() for m in s.mounts))
    project = dataclasses.replace(run.project, services=kept, volumes=volumes)
    stack = Stack(project, f"{run.run_id}-{suffix}", {**run.image_choices(), **(images or {})}, run.docker(),
                  confirm_healthchecks, parent=run.run_id)
    if before_services is not None:
        stack.before_services.append(before_services)
    try:
        stack.up()
        yield stack
    finally:
        if stop.requested():
            stack.halt()
        else:
            stack.down()

