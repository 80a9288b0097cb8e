"""obsgate.stackfiles.compose / obsgate.core.yamlio: the compose file read into typed specs, or one clear error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from obsgate.core.errors import InputError
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import (
    ComposeProject,
    Dependency,
    Healthcheck,
    Mount,
    PortSpec,
    ServiceSpec,
    load_compose,
)

FIXTURES = Path(__file__).parent / "fixtures" / "compose"
REAL_COMPOSE = Path(__file__).resolve().parents[2] / "stack" / "docker-compose.yml"


def write_compose(directory: Path, text: str) -> Path:
    path = directory / "docker-compose.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(directory: Path, text: str, env: dict[str, str] | None = None) -> ComposeProject:
    return load_compose(write_compose(directory, text), env or {})


def one_service(directory: Path, body: str, env: dict[str, str] | None = None) -> ServiceSpec:
    """Load a file with a single service ``app`` whose keys (besides image) are ``body``."""
    text = "services:\n  app:\n    image: busybox:1.36\n" + textwrap.indent(textwrap.dedent(body), "    ")
    return load(directory, text, env).services["app"]


def load_error(directory: Path, text: str, env: dict[str, str] | None = None) -> tuple[InputError, Path]:
    path = write_compose(directory, text)
    with pytest.raises(InputError) as info:
        load_compose(path, env or {})
    return info.value, path


def assert_actionable(error: InputError, path: Path, key: str) -> None:
    """Every InputError names the file and key and says how to fix it."""
    assert error.file == str(path)
    assert error.key == key
    assert error.fix.strip()
    assert "(fix: " in str(error)


# --- yamlio --------------------------------------------------------------------------------


def test_yaml_load_of_a_missing_file_is_an_input_error_naming_the_document(tmp_path: Path) -> None:
    path = tmp_path / "absent.yml"
    with pytest.raises(InputError, match="compose file not found") as info:
        YamlDoc.load(path, str(path), "compose file")
    assert_actionable(info.value, path, "(file)")
    assert info.value.line is None


@pytest.mark.parametrize(("text", "problem", "key", "line", "column"), [
    ("a: 1\nb: [unclosed\n", "invalid YAML", "(document)", 3, 1),
    ("a: 1\nb:\n  c: 2\n  c: 3\n", "duplicate key 'c'", "b.c", 4, 3),
    ("1: a\n0x1: b\n", "duplicate key 1", "0x1", 2, 1),           # equal as PyYAML reads them
], ids=["syntax", "duplicate", "equal-values"])
def test_yaml_load_names_the_key_line_and_column_of_a_problem(tmp_path: Path, text: str, problem: str, key: str,
                                                                line: int, column: int) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=problem) as info:
        YamlDoc.load(path, str(path))
    assert (info.value.key, info.value.line, info.value.column) == (key, line, column)
    assert str(info.value).startswith(f"{path}:{line}:{column}: {key}: {problem}")


def test_input_error_says_the_line_and_column_in_its_message_only_when_known() -> None:
    assert str(InputError("gate.yml", "targets", "missing", "add it")) == "gate.yml: targets: missing (fix: add it)"
    error = InputError("gate.yml", "(document)", "invalid YAML: x", "fix it", line=3, column=7)
    assert (error.line, error.column, str(error)) == (3, 7, "gate.yml:3:7: (document): invalid YAML: x (fix: fix it)")


def test_yaml_load_same_key_in_different_mappings_is_not_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "ok.yml"
    path.write_text("a: {x: 1}\nb: {x: 2}\n", encoding="utf-8")
    assert YamlDoc.load(path, str(path)).data == {"a": {"x": 1}, "b": {"x": 2}}


def test_yaml_load_composes_the_text_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    composed: list[str] = []
    real = yaml.compose

    def counted(stream: str, Loader: type) -> yaml.Node | None:  # noqa: N803 - yaml.compose's own name
        composed.append(stream)
        return real(stream, Loader=Loader)

    monkeypatch.setattr(yaml, "compose", counted)
    monkeypatch.setattr(yaml, "load", lambda *_, **__: pytest.fail("parsed a second time"))
    monkeypatch.setattr(yaml, "safe_load", lambda *_, **__: pytest.fail("parsed a second time"))
    doc = YamlDoc.load(write_compose(tmp_path, "services:\n  a:\n    image: busybox\n"))
    assert (len(composed), doc.get("services.a.image"), doc.line("services.a.image")) == (1, "busybox", 3)


def test_compose_project_keeps_the_line_of_every_key_of_the_file(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  a:\n    image: busybox\n    restart: always\n")
    assert project.doc.line("services.a.restart") == 4
    assert project.doc.get("services.a.image") == "busybox"


def test_yaml_merge_keys_from_an_x_extension_anchor_are_applied() -> None:
    project = load_compose(FIXTURES / "merge_keys.yml", {})
    assert project.services["app"].healthcheck == Healthcheck(test=("true",), interval_s=5.0, timeout_s=2.0, retries=2)


# --- project ------------------------------------------------------------------------------


def test_project_name_comes_from_the_name_key(tmp_path: Path) -> None:
    project = load(tmp_path, "name: my-stack\nservices:\n  a:\n    image: busybox\n")
    assert project.name == "my-stack"


def test_project_name_defaults_to_the_compose_directory_name(tmp_path: Path) -> None:
    directory = tmp_path / "shop-stack"
    directory.mkdir()
    assert load(directory, "services:\n  a:\n    image: busybox\n").name == "shop-stack"


def test_project_path_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_compose(tmp_path, "services:\n  a:\n    image: busybox\n")
    monkeypatch.chdir(tmp_path)
    assert load_compose(Path("docker-compose.yml"), {}).path == tmp_path.resolve() / "docker-compose.yml"


def test_raw_keeps_the_document_before_interpolation(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  a:\n    image: busybox:${TAG}\n", {"TAG": "1.36"})
    assert project.raw["services"]["a"]["image"] == "busybox:${TAG}"
    assert project.services["a"].image == "busybox:1.36"


def test_x_extension_top_level_keys_are_allowed(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        x-common: {retries: 3}
        services:
          a:
            image: busybox
        """,
    )
    assert list(project.services) == ["a"]


def test_version_key_is_accepted(tmp_path: Path) -> None:
    assert load(tmp_path, "version: '3.8'\nservices:\n  a:\n    image: busybox\n").services


def test_declared_volumes_are_listed(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        volumes:
          data: {}
          cache:
        services:
          a:
            image: busybox
        """,
    )
    assert project.volumes == ("data", "cache")


def test_image_is_interpolated(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  a:\n    image: ${IMG:-alpine}:3\n")
    assert project.services["a"].image == "alpine:3"


# --- command / entrypoint ------------------------------------------------------------------


def test_command_string_is_split_like_a_shell(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "command: run --name 'a b'\n")
    assert spec.command == ("run", "--name", "a b")


def test_command_list_is_kept_as_argv(tmp_path: Path) -> None:
    spec = one_service(tmp_path, 'command: ["-config.file=/etc/x.yml", 3]\n')
    assert spec.command == ("-config.file=/etc/x.yml", "3")


def test_entrypoint_is_parsed_like_command(tmp_path: Path) -> None:
    assert one_service(tmp_path, "entrypoint: [/bin/sh, -c]\n").entrypoint == ("/bin/sh", "-c")


def test_command_absent_is_none(tmp_path: Path) -> None:
    assert one_service(tmp_path, "").command is None


# --- healthcheck ---------------------------------------------------------------------------


def test_healthcheck_cmd_form_is_exec_argv(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: [CMD, wget, -q, http://x/ready]\n")
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("wget", "-q", "http://x/ready")


def test_healthcheck_cmd_shell_form_runs_under_sh(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: [CMD-SHELL, wget -q http://x || exit 1]\n")
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("/bin/sh", "-c", "wget -q http://x || exit 1")


def test_healthcheck_string_form_runs_under_sh(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: curl -f http://x\n")
    assert spec.healthcheck is not None
    assert spec.healthcheck.test == ("/bin/sh", "-c", "curl -f http://x")


def test_healthcheck_none_form_means_no_healthcheck(tmp_path: Path) -> None:
    assert one_service(tmp_path, "healthcheck:\n  test: [NONE]\n").healthcheck is None


def test_healthcheck_disable_means_no_healthcheck(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: [CMD, 'true']\n  disable: true\n")
    assert spec.healthcheck is None


def test_service_without_healthcheck_has_none(tmp_path: Path) -> None:
    assert one_service(tmp_path, "").healthcheck is None


def test_healthcheck_defaults_match_compose(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: [CMD, 'true']\n")
    assert spec.healthcheck == Healthcheck(test=("true",), interval_s=30.0, timeout_s=30.0, retries=3, start_period_s=0.0)


def test_healthcheck_double_dollar_becomes_a_literal_dollar(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "healthcheck:\n  test: [CMD-SHELL, 'test -n \"$$HOME\"']\n")
    assert spec.healthcheck is not None
    assert spec.healthcheck.test[-1] == 'test -n "$HOME"'


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15s", 15.0), ("1m30s", 90.0), ("500ms", 0.5), ("1h", 3600.0), ("1.5s", 1.5), ("250us", 0.00025), ("10", 10.0)],
    ids=["seconds", "minutes-and-seconds", "milliseconds", "hours", "fractional", "microseconds", "bare-number"],
)
def test_healthcheck_durations_are_parsed_to_seconds(tmp_path: Path, text: str, seconds: float) -> None:
    spec = one_service(tmp_path, f"healthcheck:\n  test: [CMD, 'true']\n  interval: {text}\n")
    assert spec.healthcheck is not None
    assert spec.healthcheck.interval_s == pytest.approx(seconds)


def test_healthcheck_timing_fields_are_all_read(tmp_path: Path) -> None:
    spec = one_service(
        tmp_path,
        """\
        healthcheck:
          test: [CMD, 'true']
          interval: 5s
          timeout: 2s
          retries: 4
          start_period: 1m
        """,
    )
    assert spec.healthcheck == Healthcheck(test=("true",), interval_s=5.0, timeout_s=2.0, retries=4, start_period_s=60.0)


def test_healthcheck_deadline_is_start_period_plus_retries_intervals_plus_timeout() -> None:
    hc = Healthcheck(test=("true",), interval_s=5.0, timeout_s=2.0, retries=3, start_period_s=10.0)
    assert hc.deadline_s == pytest.approx(10.0 + 3 * 5.0 + 2.0)


# --- environment and labels ----------------------------------------------------------------


def test_environment_mapping_values_become_strings(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  A: text\n  B: 3\n  C: 1.5\n")
    assert spec.environment == {"A": "text", "B": "3", "C": "1.5"}


def test_environment_boolean_values_become_lowercase_strings(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  DEBUG: true\n  VERBOSE: false\n")
    assert spec.environment == {"DEBUG": "true", "VERBOSE": "false"}


def test_environment_list_form_splits_at_the_first_equals(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  - A=1\n  - URL=http://x/?a=b\n")
    assert spec.environment == {"A": "1", "URL": "http://x/?a=b"}


def test_environment_list_entry_with_empty_value_is_empty_not_passed_through(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  - EMPTY=\n", {"EMPTY": "from-host"})
    assert spec.environment == {"EMPTY": ""}


def test_environment_list_name_only_passes_the_variable_through(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  - TOKEN\n", {"TOKEN": "abc"})
    assert spec.environment == {"TOKEN": "abc"}


def test_environment_mapping_null_value_passes_the_variable_through(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  TOKEN:\n", {"TOKEN": "abc"})
    assert spec.environment == {"TOKEN": "abc"}


def test_environment_pass_through_of_unset_variable_is_an_error(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  app:\n    image: busybox\n    environment: [TOKEN]\n")
    assert_actionable(error, path, "services.app.environment.TOKEN")


def test_environment_values_are_interpolated(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "environment:\n  URL: http://${HOST:-loki}:3100\n")
    assert spec.environment == {"URL": "http://loki:3100"}


def test_labels_accept_list_and_mapping_forms(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        services:
          a:
            image: busybox
            labels: [team=sre]
          b:
            image: busybox
            labels: {team: sre}
        """,
    )
    assert project.services["a"].labels == project.services["b"].labels == {"team": "sre"}


# --- volumes -------------------------------------------------------------------------------


def test_short_bind_mount_resolves_relative_to_the_compose_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    (stack / "app.yml").write_text("x: 1\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load(stack, "services:\n  a:\n    image: busybox\n    volumes: ['./app.yml:/etc/app.yml:ro']\n").services["a"]
    assert spec.mounts == (Mount("bind", str((stack / "app.yml").resolve()), "/etc/app.yml", True),)


def test_short_bind_mount_with_parent_path_is_resolved(tmp_path: Path) -> None:
    stack = tmp_path / "stack"
    stack.mkdir()
    (tmp_path / "shared").mkdir()
    spec = load(stack, "services:\n  a:\n    image: busybox\n    volumes: ['../shared:/shared']\n").services["a"]
    assert spec.mounts == (Mount("bind", str((tmp_path / "shared").resolve()), "/shared", False),)


def test_short_bind_mount_with_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    spec = one_service(tmp_path, f"volumes: ['{tmp_path / 'data'}:/data:rw']\n")
    assert spec.mounts == (Mount("bind", str((tmp_path / "data").resolve()), "/data", False),)


def test_short_bind_mount_with_home_path_expands_tilde(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "conf").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    spec = one_service(tmp_path, "volumes: ['~/conf:/conf:ro']\n")
    assert spec.mounts == (Mount("bind", str((home / "conf").resolve()), "/conf", True),)


def test_short_bind_mount_source_may_come_from_a_variable(tmp_path: Path) -> None:
    (tmp_path / "secrets" / "nginx").mkdir(parents=True)
    spec = one_service(
        tmp_path, "volumes: ['${SECRETS:?set it}/nginx:/etc/nginx/secrets:ro']\n", {"SECRETS": str(tmp_path / "secrets")}
    )
    assert spec.mounts[0].source == str((tmp_path / "secrets" / "nginx").resolve())


def test_short_named_volume_mount(tmp_path: Path) -> None:
    project = load(tmp_path, "volumes:\n  data: {}\nservices:\n  a:\n    image: busybox\n    volumes: ['data:/var/lib/data']\n")
    assert project.services["a"].mounts == (Mount("volume", "data", "/var/lib/data", False),)


def test_long_bind_mount_read_only(tmp_path: Path) -> None:
    (tmp_path / "conf.yml").write_text("x: 1\n")
    spec = one_service(
        tmp_path,
        """\
        volumes:
          - type: bind
            source: ./conf.yml
            target: /etc/conf.yml
            read_only: true
        """,
    )
    assert spec.mounts == (Mount("bind", str((tmp_path / "conf.yml").resolve()), "/etc/conf.yml", True),)


def test_long_volume_mount_defaults_to_read_write(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        volumes:
          data: {}
        services:
          a:
            image: busybox
            volumes:
              - type: volume
                source: data
                target: /data
        """,
    )
    assert project.services["a"].mounts == (Mount("volume", "data", "/data", False),)


# --- ports and expose ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("'3000'", PortSpec(3000)),
        ("3000", PortSpec(3000)),
        ("'8080:80'", PortSpec(80, "tcp", "8080", None)),
        ("'127.0.0.1:8443:443'", PortSpec(443, "tcp", "8443", "127.0.0.1")),
        ("'53:53/udp'", PortSpec(53, "udp", "53", None)),
        ("'127.0.0.1:514:514/udp'", PortSpec(514, "udp", "514", "127.0.0.1")),
    ],
    ids=["target-only", "int", "published", "host-ip", "udp", "host-ip-udp"],
)
def test_short_port_syntax(tmp_path: Path, entry: str, expected: PortSpec) -> None:
    assert one_service(tmp_path, f"ports: [{entry}]\n").ports == (expected,)


def test_long_port_syntax_with_host_ip_and_protocol(tmp_path: Path) -> None:
    spec = one_service(
        tmp_path,
        """\
        ports:
          - target: 514
            published: 1514
            host_ip: 127.0.0.1
            protocol: udp
        """,
    )
    assert spec.ports == (PortSpec(514, "udp", "1514", "127.0.0.1"),)


def test_long_port_syntax_defaults_to_tcp_unpublished(tmp_path: Path) -> None:
    assert one_service(tmp_path, "ports:\n  - target: 80\n").ports == (PortSpec(80, "tcp", None, None),)


def test_expose_accepts_strings_ints_and_protocol_suffix(tmp_path: Path) -> None:
    assert one_service(tmp_path, "expose: ['3100', 9090, '53/udp']\n").expose == (3100, 9090, 53)


# --- depends_on ----------------------------------------------------------------------------


def test_depends_on_list_form_means_service_started(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  db:\n    image: pg\n  app:\n    image: app\n    depends_on: [db]\n")
    assert project.services["app"].depends_on == (Dependency("db", "service_started"),)


def test_depends_on_mapping_form_keeps_the_condition(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        services:
          db:
            image: pg
            healthcheck: {test: [CMD, pg_isready]}
          migrate:
            image: app
          app:
            image: app
            depends_on:
              db: {condition: service_healthy}
              migrate: {condition: service_completed_successfully}
        """,
    )
    assert project.services["app"].depends_on == (
        Dependency("db", "service_healthy"),
        Dependency("migrate", "service_completed_successfully"),
    )


def test_depends_on_mapping_without_condition_means_service_started(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  db:\n    image: pg\n  app:\n    image: app\n    depends_on:\n      db:\n")
    assert project.services["app"].depends_on == (Dependency("db", "service_started"),)


# --- deploy, restart, networks, the rest -----------------------------------------------------


def test_deploy_resources_limits_and_reservations(tmp_path: Path) -> None:
    spec = one_service(
        tmp_path,
        """\
        deploy:
          resources:
            limits: {memory: 2g, cpus: '0.5'}
            reservations: {memory: 512m}
        """,
    )
    assert (spec.mem_limit, spec.mem_reservation, spec.cpus) == ("2g", "512m", 0.5)


def test_no_deploy_means_no_resource_limits(tmp_path: Path) -> None:
    spec = one_service(tmp_path, "")
    assert (spec.mem_limit, spec.mem_reservation, spec.cpus) == (None, None, None)


@pytest.mark.parametrize("policy", ["no", "always", "on-failure", "on-failure:3", "unless-stopped"])
def test_restart_policies_are_accepted(tmp_path: Path, policy: str) -> None:
    assert one_service(tmp_path, f"restart: '{policy}'\n").restart == policy


def test_restart_absent_is_none(tmp_path: Path) -> None:
    assert one_service(tmp_path, "").restart is None


def test_service_without_networks_joins_the_default_network(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  a:\n    image: busybox\n")
    assert project.services["a"].networks == ("default",)
    assert project.networks == ("default",)


def test_service_joins_declared_networks_in_list_form(tmp_path: Path) -> None:
    project = load(tmp_path, "networks:\n  backend: {}\nservices:\n  a:\n    image: busybox\n    networks: [backend]\n")
    assert project.services["a"].networks == ("backend",)


def test_service_joins_declared_networks_in_mapping_form(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        networks:
          backend: {}
        services:
          a:
            image: busybox
            networks:
              backend: {aliases: [api]}
        """,
    )
    assert project.services["a"].networks == ("backend",)


def test_project_networks_are_the_networks_services_use(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        networks:
          front: {}
          back: {}
          unused: {}
        services:
          a: {image: busybox, networks: [front, back]}
          b: {image: busybox}
        """,
    )
    assert project.networks == ("back", "default", "front")


def test_security_and_runtime_settings_are_carried_through(tmp_path: Path) -> None:
    spec = one_service(
        tmp_path,
        """\
        user: "1000:1000"
        read_only: true
        tmpfs: [/tmp]
        cap_drop: [ALL]
        cap_add: [NET_BIND_SERVICE]
        security_opt: ["no-new-privileges:true"]
        stop_grace_period: 1m30s
        """,
    )
    assert (spec.user, spec.read_only, spec.tmpfs, spec.cap_drop, spec.cap_add, spec.security_opt, spec.stop_grace_period_s) == (
        "1000:1000",
        True,
        ("/tmp",),
        ("ALL",),
        ("NET_BIND_SERVICE",),
        ("no-new-privileges:true",),
        90.0,
    )


# --- start levels ----------------------------------------------------------------------------


def test_independent_services_start_in_one_level(tmp_path: Path) -> None:
    project = load(tmp_path, "services:\n  c: {image: x}\n  a: {image: x}\n  b: {image: x}\n")
    assert project.start_levels() == [["a", "b", "c"]]


def test_dependents_start_after_their_dependencies(tmp_path: Path) -> None:
    project = load(
        tmp_path,
        """\
        services:
          web: {image: x, depends_on: [api]}
          api: {image: x, depends_on: [db, cache]}
          db: {image: x}
          cache: {image: x}
          metrics: {image: x}
        """,
    )
    assert project.start_levels() == [["cache", "db", "metrics"], ["api"], ["web"]]


def test_stack_shape_fixture_loads_with_expected_services_and_order(tmp_path: Path) -> None:
    (tmp_path / "nginx").mkdir()
    env = {"OBS_SECRETS_DIR": str(tmp_path), "GRAFANA_ADMIN_PASSWORD": "s3cret", "GRAFANA_SECRET_KEY": "k3y"}
    project = load_compose(FIXTURES / "stack_shape" / "docker-compose.yml", env)
    assert project.name == "shape-stack"
    assert project.start_levels() == [["loki", "prometheus"], ["grafana"], ["nginx"]]
    assert project.services["grafana"].environment["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"
    assert project.services["nginx"].mounts[1] == Mount("bind", str(tmp_path.resolve() / "nginx"), "/etc/nginx/secrets", True)
    assert project.services["loki"].mem_limit == "2g"
    assert project.networks == ("observability",)


def test_real_stack_compose_file_loads(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    (secrets_dir / "nginx").mkdir(parents=True)
    (secrets_dir / "alertmanager").mkdir()
    env = {"OBS_SECRETS_DIR": str(secrets_dir), "GRAFANA_ADMIN_PASSWORD": "s3cret", "GRAFANA_SECRET_KEY": "k3y",
           "OBS_PUBLIC_URL": "https://obs.example"}
    project = load_compose(REAL_COMPOSE, env)
    assert {"loki", "prometheus", "alertmanager", "grafana", "nginx"} <= set(project.services)
    assert all(spec.healthcheck is not None for spec in project.services.values())
    level = {name: i for i, names in enumerate(project.start_levels()) for name in names}
    assert level["grafana"] > max(level["loki"], level["prometheus"])
    assert project.services["grafana"].environment["GF_SECURITY_ADMIN_PASSWORD"] == "s3cret"


# --- error paths: one per problem, each naming file, key and fix -----------------------------


def test_error_missing_compose_file(tmp_path: Path) -> None:
    path = tmp_path / "docker-compose.yml"
    with pytest.raises(InputError, match="not found") as info:
        load_compose(path, {})
    assert_actionable(info.value, path, "(file)")


@pytest.mark.parametrize("key", ["secrets", "configs", "include"])
def test_error_unsupported_top_level_key(tmp_path: Path, key: str) -> None:
    error, path = load_error(tmp_path, f"{key}: {{}}\nservices:\n  a:\n    image: busybox\n")
    assert_actionable(error, path, key)


@pytest.mark.parametrize("key", ["build", "secrets", "privileged"])
def test_error_unsupported_service_key(tmp_path: Path, key: str) -> None:
    error, path = load_error(tmp_path, f"services:\n  a:\n    image: busybox\n    {key}: x\n")
    assert_actionable(error, path, f"services.a.{key}")
    assert "not supported" in error.problem


@pytest.mark.parametrize("services", ["", "{}"], ids=["null", "empty"])
def test_error_no_services(tmp_path: Path, services: str) -> None:
    error, path = load_error(tmp_path, f"name: x\nservices: {services}\n")
    assert_actionable(error, path, "services")


def test_error_service_without_image(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    command: [run]\n")
    assert_actionable(error, path, "services.a.image")


def test_error_unknown_restart_policy(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    restart: sometimes\n")
    assert_actionable(error, path, "services.a.restart")
    assert "sometimes" in error.problem


def test_error_undeclared_network(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    networks: [backend]\n")
    assert_actionable(error, path, "services.a.networks")
    assert "backend" in error.problem


def test_error_undeclared_named_volume(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    volumes: ['data:/data']\n")
    assert_actionable(error, path, "services.a.volumes[0]")
    assert "data" in error.problem


def test_error_missing_bind_source(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    volumes: ['./missing.yml:/etc/x.yml:ro']\n")
    assert_actionable(error, path, "services.a.volumes[0]")
    assert str(tmp_path.resolve() / "missing.yml") in error.problem


def test_error_unknown_depends_on_service(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    depends_on: [ghost]\n")
    assert_actionable(error, path, "services.a.depends_on.ghost")


def test_error_unknown_depends_on_condition(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path,
        """\
        services:
          b: {image: busybox}
          a:
            image: busybox
            depends_on:
              b: {condition: service_ready}
        """,
    )
    assert_actionable(error, path, "services.a.depends_on.b.condition")
    assert "service_ready" in error.problem


def test_error_service_healthy_on_a_service_without_healthcheck(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path,
        """\
        services:
          b: {image: busybox}
          a:
            image: busybox
            depends_on:
              b: {condition: service_healthy}
        """,
    )
    assert_actionable(error, path, "services.a.depends_on.b.condition")


def test_error_dependency_cycle(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path,
        """\
        services:
          a: {image: x, depends_on: [b]}
          b: {image: x, depends_on: [c]}
          c: {image: x, depends_on: [a]}
        """,
    )
    assert_actionable(error, path, "services.*.depends_on")
    assert "cycle" in error.problem and all(name in error.problem for name in "abc")


def test_error_unset_required_variable_names_service_and_key_path(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path,
        """\
        services:
          grafana:
            image: grafana/grafana:10.2.3
            environment:
              GF_SECURITY_ADMIN_PASSWORD: ${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}
        """,
    )
    assert_actionable(error, path, "services.grafana.environment.GF_SECURITY_ADMIN_PASSWORD")
    assert "GRAFANA_ADMIN_PASSWORD" in error.problem


def test_error_unset_bare_variable(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox:${TAG}\n")
    assert_actionable(error, path, "services.a.image")
    assert "TAG" in error.problem


def test_error_invalid_yaml(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: [busybox\n")
    assert error.file == str(path)
    assert (error.key, error.line) == ("(document)", 4)
    assert "invalid YAML" in error.problem and error.fix


def test_error_duplicate_key(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    image: alpine\n")
    assert_actionable(error, path, "services.a.image")
    assert (error.line, error.column) == (4, 5)
    assert "duplicate key 'image'" in error.problem


@pytest.mark.parametrize("test", ["[curl, -f, http://x]", "[]", "{cmd: x}"], ids=["no-form", "empty-list", "mapping"])
def test_error_malformed_healthcheck_test(tmp_path: Path, test: str) -> None:
    error, path = load_error(tmp_path, f"services:\n  a:\n    image: busybox\n    healthcheck:\n      test: {test}\n")
    assert_actionable(error, path, "services.a.healthcheck.test")


@pytest.mark.parametrize("test", ["[CMD]", "[CMD-SHELL]"])
def test_error_empty_healthcheck_command(tmp_path: Path, test: str) -> None:
    error, path = load_error(tmp_path, f"services:\n  a:\n    image: busybox\n    healthcheck:\n      test: {test}\n")
    assert_actionable(error, path, "services.a.healthcheck.test")


@pytest.mark.parametrize("retries", ["0", "-1", "three", "1.5", "true"])
def test_error_bad_retries(tmp_path: Path, retries: str) -> None:
    error, path = load_error(
        tmp_path, f"services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [CMD, 'true']\n      retries: {retries}\n"
    )
    assert_actionable(error, path, "services.a.healthcheck.retries")


@pytest.mark.parametrize("interval", ["fast", "'15'", "-5s", "1m 30s", "''", "10d"])
def test_error_bad_duration(tmp_path: Path, interval: str) -> None:
    error, path = load_error(
        tmp_path,
        f"services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [CMD, 'true']\n      interval: {interval}\n",
    )
    assert_actionable(error, path, "services.a.healthcheck.interval")


def test_error_unsupported_healthcheck_key(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path, "services:\n  a:\n    image: busybox\n    healthcheck:\n      test: [CMD, 'true']\n      start_interval: 1s\n"
    )
    assert_actionable(error, path, "services.a.healthcheck.start_interval")


@pytest.mark.parametrize("port", ["'8080:http'", "'3000-3005:3000-3005'", "{published: 80}"], ids=["name", "range", "no-target"])
def test_error_bad_port(tmp_path: Path, port: str) -> None:
    error, path = load_error(tmp_path, f"services:\n  a:\n    image: busybox\n    ports: [{port}]\n")
    assert_actionable(error, path, "services.a.ports[0]")


def test_error_bad_expose_port(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    expose: ['80', http]\n")
    assert_actionable(error, path, "services.a.expose[1]")


def test_error_unsupported_deploy_key(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    deploy:\n      replicas: 2\n")
    assert_actionable(error, path, "services.a.deploy.replicas")


def test_error_unsupported_resource_key(tmp_path: Path) -> None:
    error, path = load_error(
        tmp_path, "services:\n  a:\n    image: busybox\n    deploy:\n      resources:\n        reservations: {cpus: '1'}\n"
    )
    assert_actionable(error, path, "services.a.deploy.resources.reservations.cpus")


@pytest.mark.parametrize("mode", ["z", "ro,z", "delegated"])
def test_error_unsupported_mount_mode(tmp_path: Path, mode: str) -> None:
    (tmp_path / "conf.yml").write_text("x: 1\n")
    error, path = load_error(tmp_path, f"services:\n  a:\n    image: busybox\n    volumes: ['./conf.yml:/etc/conf.yml:{mode}']\n")
    assert_actionable(error, path, "services.a.volumes[0]")
    assert mode in error.problem


def test_error_unsupported_long_mount_type(tmp_path: Path) -> None:
    error, path = load_error(tmp_path, "services:\n  a:\n    image: busybox\n    volumes:\n      - {type: tmpfs, target: /tmp}\n")
    assert_actionable(error, path, "services.a.volumes[0]")


def test_mount_over_picks_the_innermost_mount_a_path_lies_in() -> None:
    spec = ServiceSpec(name="loki", image="grafana/loki:2.9.3", mounts=(
        Mount("volume", "loki-data", "/loki", False), Mount("bind", "/srv/rules", "/loki/rules/", True)))
    assert spec.mount_over("/loki/chunks/fake").source == "loki-data"          # type: ignore[union-attr]
    assert spec.mount_over("/loki/rules/a.yml").source == "/srv/rules"         # type: ignore[union-attr]
    assert spec.mount_over("/loki/rules").kind == "bind"                       # type: ignore[union-attr]
    assert spec.mount_over("/loki/rules/a.yml", "volume").source == "loki-data"  # type: ignore[union-attr]
    assert spec.mount_over("/lokix") is None and spec.mount_over("/etc", "bind") is None
