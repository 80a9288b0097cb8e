"""``--target``: its input checked before anything runs, credentials from the environment only, and the target's
services as stand-ins that answer for the public surface and refuse container control."""

from __future__ import annotations

from pathlib import Path

import pytest

from obsgate.bringup.secrets import RunSecrets
from obsgate.bringup.target import RemoteService, credentials, grafana_admin_password, validate
from obsgate.core.causes import EXTERNAL
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.options import Target
from obsgate.core.policy import Policy, TargetLoadCap, load_policy
from obsgate.load.resources import StatsSampler
from obsgate.load.session import LoadRun, over_cap
from obsgate.stackfiles.compose import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
ENV = {"OBSGATE_PUSH_USER": "pos-push", "OBSGATE_PUSH_PASSWORD": "p", "OBSGATE_READ_USER": "sre-read",
       "OBSGATE_READ_PASSWORD": "r"}


def test_plain_http_target_needs_its_flag() -> None:
    with pytest.raises(InputError, match="--target-allow-http"):
        validate(Target("http://obs.example"))
    validate(Target("http://obs.example", allow_http=True))


@pytest.mark.parametrize("url", ["obs.example", "https://obs.example/grafana", "https://", "ftp://obs.example"])
def test_target_must_be_a_base_url(url: str) -> None:
    with pytest.raises(InputError):
        validate(Target(url))


def test_target_ca_must_exist_and_not_meet_no_verify(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        validate(Target("https://obs.example", ca_file=tmp_path / "absent.pem"))
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    with pytest.raises(InputError, match="both given"):
        validate(Target("https://obs.example", ca_file=ca, no_verify=True))


def test_credentials_come_from_the_environment(generated_secrets: RunSecrets, tmp_path: Path) -> None:
    password_file = tmp_path / "read"
    password_file.write_text("from-a-file\n")
    env = {**ENV, "OBSGATE_READ_PASSWORD": "", "OBSGATE_READ_PASSWORD_FILE": str(password_file),
           "OBSGATE_GRAFANA_TOKEN": "glsa_x"}
    got = credentials(generated_secrets, Target("https://obs.example"), env)
    assert got.push.pair == ("pos-push", "p") and got.read.pair == ("sre-read", "from-a-file")
    assert got.ca_cert is None and got.grafana_token == "glsa_x" and "glsa_x" in got.values
    assert got.root == generated_secrets.root      # the static checks read the run's files as in container mode


def test_a_missing_credential_names_its_variable(generated_secrets: RunSecrets) -> None:
    with pytest.raises(InputError, match="OBSGATE_READ_USER"):
        credentials(generated_secrets, Target("https://obs.example"), {k: v for k, v in ENV.items() if k != "OBSGATE_READ_USER"})


def test_grafana_admin_password_of_a_target_only_when_given(generated_secrets: RunSecrets) -> None:
    got = credentials(generated_secrets, Target("https://obs.example"), ENV)
    with pytest.raises(NotEvaluated, match="OBSGATE_GRAFANA_ADMIN_PASSWORD"):
        grafana_admin_password(got)
    assert grafana_admin_password(generated_secrets) == generated_secrets.grafana_admin_password


def test_remote_nginx_publishes_the_target_addresses() -> None:
    nginx = RemoteService(ServiceSpec("nginx", "nginx:1"), Target("https://obs.example"))
    assert nginx.published(443) == ("obs.example", 443) and nginx.published(80) == ("obs.example", 80)
    local = RemoteService(ServiceSpec("nginx", "nginx:1"), Target("https://127.0.0.1:8443", http_url="http://127.0.0.1:8080"))
    assert local.published(443) == ("127.0.0.1", 8443) and local.published(80) == ("127.0.0.1", 8080)
    with pytest.raises(NotEvaluated, match="--target-http"):
        RemoteService(ServiceSpec("nginx", "nginx:1"), Target("https://127.0.0.1:8443")).published(80)


@pytest.mark.parametrize("touch", [lambda s: s.container, lambda s: s.logs(), lambda s: s.restart(), lambda s: s.url(3100),
                                   lambda s: s.exec(["true"]), lambda s: s.image, lambda s: s.published(3100)])
def test_remote_service_refuses_container_control(touch: object) -> None:
    loki = RemoteService(ServiceSpec("loki", "grafana/loki:2.9.3"), Target("https://obs.example"))
    with pytest.raises(NotEvaluated) as raised:
        touch(loki)  # type: ignore[operator]
    assert raised.value.cause == EXTERNAL


def test_gate_yml_caps_target_load() -> None:
    cap = load_policy(ROOT / "gate.yml").target_load_cap()
    assert cap.max_lines_per_s >= 10_000 and cap.max_load_s > 0


def test_target_load_cap_missing_or_wrong_is_named(tmp_path: Path) -> None:
    text = (ROOT / "gate.yml").read_text()
    without = tmp_path / "without.yml"
    without.write_text(text[:text.index("\ntarget:")])
    with pytest.raises(InputError, match="target:.*max_lines_per_s"):
        load_policy(without).target_load_cap()
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(text.replace("max_load_s: 150", "max_load_s: -1"))
    with pytest.raises(InputError, match="target.max_load_s"):
        load_policy(wrong)


def test_target_load_within_the_cap_only(policy: Policy) -> None:
    assert over_cap(policy, TargetLoadCap(max_lines_per_s=11_000, max_load_s=150)) is None
    assert "target.max_lines_per_s allows 5,000" in str(over_cap(policy, TargetLoadCap(5_000, 150)))
    assert "target.max_load_s allows 60 s" in str(over_cap(policy, TargetLoadCap(11_000, 60)))


def test_target_load_resources_are_not_evaluated() -> None:
    run = LoadRun(plan=None, result={"windows": []}, samples=StatsSampler({}), external=True)  # type: ignore[arg-type]
    with pytest.raises(NotEvaluated) as raised:
        run.resources("steady", judged=True)
    assert raised.value.cause == EXTERNAL
