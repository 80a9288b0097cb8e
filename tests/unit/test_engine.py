"""Which container engine a run used, as gate.json records it (recorded version answers, no engine)."""

from __future__ import annotations

from typing import Any

from docker.errors import DockerException

from obsgate.run import engine_of


class Answers:
    """A Docker client whose ``version()`` gives a recorded answer (or raises it)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def version(self) -> Any:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


DOCKER = {"Platform": {"Name": ""}, "Version": "20.10.24+dfsg1",       # Debian's docker.io, as on this machine
          "Components": [{"Name": "Engine", "Version": "20.10.24+dfsg1"}, {"Name": "containerd", "Version": "1.6.20"}]}
PODMAN = {"Platform": {"Name": "linux/amd64/debian-12"}, "Version": "4.3.1",
          "Components": [{"Name": "Podman Engine", "Version": "4.3.1"}, {"Name": "Conmon", "Version": "2.1.6"}]}


def test_docker_and_podman_are_told_apart() -> None:
    assert engine_of(Answers(DOCKER)) == {"name": "Docker Engine", "version": "20.10.24+dfsg1"}  # type: ignore[arg-type]
    assert engine_of(Answers(PODMAN)) == {"name": "Podman Engine", "version": "4.3.1"}  # type: ignore[arg-type]
    community = {**DOCKER, "Platform": {"Name": "Docker Engine - Community"}}
    assert engine_of(Answers(community))["name"] == "Docker Engine - Community"  # type: ignore[arg-type,index]


def test_an_engine_that_does_not_say_is_recorded_as_unknown() -> None:
    assert engine_of(Answers({"Version": "1"})) is None  # type: ignore[arg-type]
    assert engine_of(Answers(DockerException("gone"))) is None  # type: ignore[arg-type]
