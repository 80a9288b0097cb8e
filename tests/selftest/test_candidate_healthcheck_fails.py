"""Upgrade readiness flags a candidate image in which the compose healthcheck cannot run.

The candidate is built here, FROM scratch with nothing but the run's Prometheus binaries
(and the C library they load, if any): no /bin/sh and no wget, as in a distroless image
(Loki 3.6 and later). Its healthcheck ``CMD-SHELL wget ...`` can never pass there, which
the advisory check must say, with what that does to the dependants; the pinned
Prometheus checks in the same run are unaffected. The image carries the run's label
and is removed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import ContainerError

from obsgate.backup.runner import Runner, ThrowawayFailed
from obsgate.bringup.cleanup import LABEL_RUN
from obsgate.run import GateRun
from tests.selftest.conftest import built_image, passed_or_skip

UPGRADE = "tests/config/test_upgrade_readiness.py"
READY = "tests/integration/test_services_ready.py"
ACCEPTANCE = "tests/config/test_acceptance.py"
# Each file the binaries need: "<path in the scratch image> <real file in the source image>".
FILES_NEEDED = (
    'for f in "$@" $( (ldd "$@" 2>/dev/null || true) | grep -o "/[^ :]*" | sort -u); do echo "$f $(readlink -f "$f")"; done'
)


def _files(client: docker.DockerClient, source: str, binaries: list[str], labels: dict[str, str]) -> list[tuple[str, str]]:
    # A Runner throwaway, not run(remove=True): that would keep the anonymous volume of the image's VOLUME /prometheus.
    try:
        code, out = Runner(client, labels, [source]).throwaway(source, None, f"set -- {' '.join(binaries)}; {FILES_NEEDED}",
                                                             purpose="files-needed")
    except ThrowawayFailed as exc:
        pytest.skip(f"cannot list the files {source}'s binaries need: {exc}")
    if code != 0:
        pytest.skip(f"cannot list the files {source}'s binaries need: exit {code}: {out}")
    pairs = [line.split() for line in out.splitlines() if line.strip()]
    return [(path, real) for path, real in pairs if real.startswith("/")]


@pytest.fixture
def shellless_prometheus(gate_run: GateRun) -> Iterator[str]:
    """A Prometheus image with no shell and no wget, built FROM scratch from the run's own image."""
    choice = gate_run.image_choices()["prometheus"]
    if not choice.available:
        pytest.skip(f"prometheus: {choice.reason}")
    client = gate_run.docker()
    labels = {LABEL_RUN: gate_run.run_id}
    config = client.images.get(choice.ref).attrs["Config"]
    binary = (config.get("Entrypoint") or ["/bin/prometheus"])[0]
    tools = [binary, str(Path(binary).with_name("promtool"))]
    copies = "\n".join(f"COPY --from=source {real} {path}" for path, real in _files(client, choice.ref, tools, labels))
    cmd = ", ".join(f'"{arg}"' for arg in config.get("Cmd") or [])
    tag = f"obsgate-selftest/prometheus-nosh:{gate_run.run_id}"
    dockerfile = f"""FROM {choice.ref} AS source
FROM scratch
{copies}
COPY --from=source --chown=65534:65534 /prometheus /prometheus
USER 65534
WORKDIR /prometheus
ENTRYPOINT ["{binary}"]
CMD [{cmd}]
"""
    with built_image(gate_run, tag, dockerfile, f"a shell-less image from {choice.ref}"):
        try:
            client.containers.run(tag, ["--version"], remove=True, labels=labels, network_disabled=True)
        except ContainerError as exc:
            pytest.skip(f"the shell-less image built from {choice.ref} cannot run Prometheus: {exc}")
        yield tag


def test_a_candidate_without_a_shell_is_flagged_and_the_pinned_run_is_unaffected(
    shellless_prometheus: str, child_gate
) -> None:
    candidate = f"prometheus={shellless_prometheus}"
    check = f"test_candidate_image_runs_the_compose_healthcheck[{candidate}]"
    pinned = ("test_prometheus_is_ready", "test_prometheus_accepts_its_config")
    run = child_gate(UPGRADE, f"{READY}::test_prometheus_is_ready", f"{ACCEPTANCE}::test_prometheus_accepts_its_config",
                     extra=("--candidate", candidate))
    assert run.outcome(check) == "failed", run.output[-3000:]
    assert run.checks[check]["category"] == "Upgrade readiness"
    reason = run.reason(check)
    assert f"prometheus's healthcheck cannot run in {shellless_prometheus}: no /bin/sh in the image" in reason
    assert "the container never becomes healthy, so grafana (depends_on: service_healthy) never starts" in reason
    assert "services.prometheus.healthcheck.test" in reason
    for name in pinned:
        passed_or_skip(run, name)
    # The harness's own helpers that need a shell (promtool check rules) say so: not evaluated, not a crash.
    accepts = f"test_candidate_image_accepts_todays_config[{candidate}]"
    assert run.outcome(accepts) == "not_evaluated" and "no /bin/sh in the image" in run.reason(accepts), run.reason(accepts)
