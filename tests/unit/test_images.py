"""obsgate.bringup.images: image overrides and whether each service's image can be had."""

from __future__ import annotations

from typing import Any

import pytest
from docker.errors import APIError, ImageNotFound

from obsgate.bringup.images import ImageChoice, env_var, parse_overrides, resolve
from obsgate.core.errors import InputError

SERVICES = ["loki", "grafana", "node-exporter"]


# --- a fake docker client: only images.get and images.pull ---------------------------------

class FakeImage:
    def __init__(self, image_id: str, repo_digests: list[str] | None = None) -> None:
        self.id = image_id
        self.attrs: dict[str, Any] = {"RepoDigests": repo_digests or []}


class FakeImages:
    def __init__(self, present: dict[str, FakeImage], registry: dict[str, FakeImage], pull_error: Exception | None) -> None:
        self.present, self.registry, self.pull_error = present, registry, pull_error
        self.pulled: list[str] = []

    def get(self, ref: str) -> FakeImage:
        if ref not in self.present:
            raise ImageNotFound(f"No such image: {ref}")
        return self.present[ref]

    def pull(self, ref: str) -> FakeImage:
        self.pulled.append(ref)
        if self.pull_error is not None:
            raise self.pull_error
        self.present[ref] = self.registry[ref]
        return self.present[ref]


class FakeClient:
    def __init__(
        self,
        present: dict[str, FakeImage] | None = None,
        registry: dict[str, FakeImage] | None = None,
        pull_error: Exception | None = None,
    ) -> None:
        self.images = FakeImages(dict(present or {}), dict(registry or {}), pull_error)


def resolve_one(client: FakeClient, pinned: str, pull: str, override: str | None = None) -> ImageChoice:
    overrides = {"loki": override} if override else {}
    fake: Any = client
    return resolve(fake, {"loki": pinned}, overrides, pull)["loki"]


# --- parse_overrides -------------------------------------------------------------------------

def test_no_cli_and_no_environment_means_no_overrides() -> None:
    assert parse_overrides([], SERVICES, {}) == {}


def test_environment_variable_overrides_a_service_image() -> None:
    assert parse_overrides([], SERVICES, {"OBSGATE_IMAGE_LOKI": "grafana/loki:3.0.0"}) == {"loki": "grafana/loki:3.0.0"}


def test_environment_variable_name_uses_upper_case_and_underscores_for_dashes() -> None:
    assert env_var("node-exporter") == "OBSGATE_IMAGE_NODE_EXPORTER"


def test_environment_override_for_a_dashed_service_name() -> None:
    environ = {"OBSGATE_IMAGE_NODE_EXPORTER": "prom/node-exporter:v1.7.0"}
    assert parse_overrides([], SERVICES, environ) == {"node-exporter": "prom/node-exporter:v1.7.0"}


def test_empty_environment_variable_is_ignored() -> None:
    assert parse_overrides([], SERVICES, {"OBSGATE_IMAGE_LOKI": ""}) == {}


def test_environment_variable_for_a_service_not_in_the_file_is_ignored() -> None:
    assert parse_overrides([], SERVICES, {"OBSGATE_IMAGE_TEMPO": "grafana/tempo:2"}) == {}


def test_cli_overrides_a_service_image() -> None:
    assert parse_overrides(["grafana=grafana/grafana:11.0.0"], SERVICES, {}) == {"grafana": "grafana/grafana:11.0.0"}


def test_cli_wins_over_the_environment() -> None:
    overrides = parse_overrides(["loki=grafana/loki:cli"], SERVICES, {"OBSGATE_IMAGE_LOKI": "grafana/loki:env"})
    assert overrides == {"loki": "grafana/loki:cli"}


def test_cli_and_environment_overrides_for_different_services_combine() -> None:
    overrides = parse_overrides(["loki=l:1"], SERVICES, {"OBSGATE_IMAGE_GRAFANA": "g:2"})
    assert overrides == {"loki": "l:1", "grafana": "g:2"}


def test_cli_reference_may_contain_a_digest() -> None:
    ref = "grafana/loki@sha256:" + "a" * 64
    assert parse_overrides([f"loki={ref}"], SERVICES, {}) == {"loki": ref}


@pytest.mark.parametrize("item", ["loki", "loki=", "=grafana/loki:3"], ids=["no-equals", "no-image", "no-service"])
def test_cli_bad_syntax_is_an_input_error_with_a_fix(item: str) -> None:
    with pytest.raises(InputError) as info:
        parse_overrides([item], SERVICES, {})
    assert info.value.file == "--image"
    assert info.value.fix


def test_cli_unknown_service_is_an_input_error_listing_the_services() -> None:
    with pytest.raises(InputError, match="no such service") as info:
        parse_overrides(["tempo=grafana/tempo:2"], SERVICES, {})
    assert info.value.key == "tempo"
    assert all(service in info.value.fix for service in SERVICES)


# --- resolve ---------------------------------------------------------------------------------

def test_present_image_is_available_with_its_repo_digest() -> None:
    image = FakeImage("sha256:local", ["grafana/loki@sha256:remote"])
    choice = resolve_one(FakeClient(present={"grafana/loki:2.9.3": image}), "grafana/loki:2.9.3", "never")
    assert choice == ImageChoice("loki", "grafana/loki:2.9.3", "grafana/loki:2.9.3", False, True, "grafana/loki@sha256:remote")


def test_present_image_without_repo_digest_is_identified_by_its_id() -> None:
    client = FakeClient(present={"loki:dev": FakeImage("sha256:local")})
    assert resolve_one(client, "loki:dev", "never").digest == "sha256:local"


def test_present_image_is_not_pulled() -> None:
    client = FakeClient(present={"loki:1": FakeImage("sha256:1")})
    resolve_one(client, "loki:1", "missing")
    assert client.images.pulled == []


def test_absent_image_with_pull_never_is_unavailable() -> None:
    client = FakeClient()
    choice = resolve_one(client, "grafana/loki:2.9.3", "never")
    assert (choice.available, choice.digest) == (False, None)
    assert "grafana/loki:2.9.3" in choice.reason and "(--pull never)" in choice.reason
    assert client.images.pulled == []


def test_absent_image_whose_pull_fails_is_unavailable_with_the_first_line_of_the_error() -> None:
    error = APIError("pull access denied for grafana/loki, repository does not exist\nsecond line of detail")
    client = FakeClient(pull_error=error)
    choice = resolve_one(client, "grafana/loki:9.9.9", "missing")
    assert choice.available is False and choice.cause is not None
    assert choice.reason == "image unavailable: grafana/loki:9.9.9 not present locally and not found in its registry"
    assert choice.cause.detail == "pull access denied for grafana/loki, repository does not exist"
    assert client.images.pulled == ["grafana/loki:9.9.9"]


def test_absent_image_whose_pull_fails_without_a_message_names_the_error_type() -> None:
    choice = resolve_one(FakeClient(pull_error=APIError("")), "loki:1", "missing")
    assert choice.available is False and choice.cause is not None
    assert choice.cause.detail == "APIError"


def test_absent_image_that_pulls_is_available() -> None:
    client = FakeClient(registry={"loki:1": FakeImage("sha256:pulled", ["loki@sha256:pulled"])})
    choice = resolve_one(client, "loki:1", "missing")
    assert (choice.available, choice.digest, choice.reason) == (True, "loki@sha256:pulled", "")
    assert client.images.pulled == ["loki:1"]


def test_override_is_used_and_flagged_while_the_pin_is_kept() -> None:
    client = FakeClient(present={"loki:override": FakeImage("sha256:o")})
    choice = resolve_one(client, "loki:pinned", "never", override="loki:override")
    assert (choice.ref, choice.pinned, choice.override, choice.available) == ("loki:override", "loki:pinned", True, True)


def test_services_without_override_are_not_flagged() -> None:
    fake: Any = FakeClient(present={"l:1": FakeImage("a"), "g:2": FakeImage("b")})
    choices = resolve(fake, {"loki": "l:1", "grafana": "g:2"}, {}, "never")
    assert {name: c.override for name, c in choices.items()} == {"loki": False, "grafana": False}


def test_each_service_is_resolved_independently() -> None:
    fake: Any = FakeClient(present={"l:1": FakeImage("a")})
    choices = resolve(fake, {"loki": "l:1", "grafana": "g:2"}, {}, "never")
    assert {name: c.available for name, c in choices.items()} == {"loki": True, "grafana": False}
