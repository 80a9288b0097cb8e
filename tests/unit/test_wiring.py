"""The links between the stack's files: what each config points at, and the judges of the other end.

Extraction is tested on small configs, the judges on small compose projects, and both on
the real stack/ (every link lands: the gate checks' baseline).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import crossplane
import pytest
import yaml

from obsgate.checks.static import references as refs
from obsgate.checks.static import wiring
from obsgate.checks.static.files import StackFiles
from obsgate.checks.static.references import Address, FileRef, Where, WrittenDir
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.compose import ComposeProject, load_compose
from obsgate.stackfiles.nginx import NginxConf

ROOT = Path(__file__).resolve().parents[2]
HERE = Where("f.yml", "k", 1)


def doc(text: str) -> YamlDoc:
    return YamlDoc.parse(text, "f.yml")


def nginx(tmp_path: Path, http: str) -> NginxConf:
    path = tmp_path / "nginx.conf"
    path.write_text(f"events {{}}\nhttp {{\n{http}\n}}\n")
    assert crossplane.parse(str(path), single=True)["status"] == "ok"
    return NginxConf.load(path, "nginx.conf")


def compose(tmp_path: Path, services: dict, **top: dict) -> tuple[ComposeProject, YamlDoc]:
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump({"services": services, **top}, sort_keys=False))
    return load_compose(path, {}), YamlDoc.load(path, "docker-compose.yml")


def address(client: str, text: str, **extra: object) -> Address:
    parsed = refs.parse_address(text)
    assert parsed is not None
    return Address(client, HERE, text, *parsed, **extra)  # type: ignore[arg-type]


# --- the real stack ---------------------------------------------------------------------


def real_files(secrets: Path) -> StackFiles:
    """stack/ as the gate reads it, with the secret files a deploy provides (written to ``secrets``)."""
    for name in ("nginx/server.crt", "nginx/server.key", "nginx/htpasswd-push", "nginx/htpasswd-read",
                 "alertmanager/slack_webhook_url"):
        (secrets / name).parent.mkdir(exist_ok=True)
        (secrets / name).write_text("x")
    env = {"OBS_SECRETS_DIR": str(secrets), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y", "OBS_PUBLIC_URL": "https://localhost"}
    run = SimpleNamespace(project=load_compose(ROOT / "stack" / "docker-compose.yml", env))
    return StackFiles(run, ROOT / "tests" / "config" / "promtool")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> StackFiles:
    return real_files(tmp_path_factory.mktemp("secrets"))


def test_every_link_of_the_real_stack_lands(real: StackFiles) -> None:
    assert wiring.unreachable(real.addresses, real.listeners, real.project, real.compose) == []
    assert wiring.unmounted(real.file_refs, real.project, real.compose) == []
    assert wiring.not_persistent(real.written_dirs, real.project, real.compose) == []


def test_the_real_stack_links_are_all_found(real: StackFiles) -> None:
    clients = {(a.client, a.host) for a in real.addresses}
    assert {("grafana", "loki"), ("grafana", "prometheus"), ("prometheus", "alertmanager"), ("prometheus", "localhost"),
            ("nginx", "loki"), ("nginx", "grafana"), ("loki", "127.0.0.1")} <= clients
    assert {str(listener.port) for listener in real.listeners["nginx"]} == {"8081", "80", "443"}
    assert [listener.loopback for listener in real.listeners["nginx"] if listener.port == 8081] == [True]
    assert {r.path for r in real.file_refs} >= {"/etc/prometheus/rules/*.yml", "/etc/nginx/secrets/htpasswd-read",
                                                "/etc/alertmanager/secrets/slack_webhook_url"}
    assert {(d.service, d.path) for d in real.written_dirs} >= {("prometheus", "/prometheus"), ("loki", "/loki/wal"),
                                                               ("alertmanager", "/alertmanager"), ("grafana", "/var/lib/grafana")}


def test_every_file_of_the_real_stack_is_parsed_once_for_all_the_checks(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real_yaml, real_nginx = YamlDoc.parse, crossplane.parse

    def yaml_counted(cls: type[YamlDoc], text: str, name: str) -> YamlDoc:
        parsed.append(name)
        return real_yaml(text, name)

    def nginx_counted(path: str, **options: Any) -> Any:
        parsed.append(path)
        return real_nginx(path, **options)

    monkeypatch.setattr(YamlDoc, "parse", classmethod(yaml_counted))
    monkeypatch.setattr(crossplane, "parse", nginx_counted)
    files = real_files(tmp_path)
    for _ in range(2):
        assert files.addresses and files.listeners and files.file_refs and files.written_dirs and files.alert_rule_files
        assert files.prometheus.alert_rules() and files.nginx.public_https() and files.grafana.datasources()
        assert files.loki.get("server.http_listen_port") and files.alertmanager.get("route")
    assert len(parsed) == len(set(parsed)), sorted(parsed)
    assert {Path(p).name for p in parsed} >= {"docker-compose.yml", "nginx.conf", "prometheus.yml", "alertmanager.yml"}


# --- what configs point at --------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("http://loki:3100/x", ("http", "loki", 3100)),
    ("loki:3100", ("http", "loki", 3100)),
    ("https://hooks.slack.com/services/x", ("https", "hooks.slack.com", 443)),
    ("[::1]:9090", ("http", "::1", 9090)),
    ("grafana:port", ("http", "grafana", None)),
    ("{{ template \"url\" }}", None),
    ("$upstream", None),
])
def test_addresses_parse_as_urls_or_host_port(text: str, expected: tuple | None) -> None:
    assert refs.parse_address(text) == expected


def test_prometheus_targets_take_their_job_scheme() -> None:
    found = refs.prometheus_addresses(doc(
        "scrape_configs:\n  - job_name: a\n    scheme: https\n    static_configs:\n      - targets: [x:9100, y]\n"
        "remote_write:\n  - url: http://mimir:9009/api/v1/push\n"), "prometheus")
    assert [(a.where.key, a.host, a.port) for a in found] == [
        ("scrape_configs[0].static_configs[0].targets[0]", "x", 9100),
        ("scrape_configs[0].static_configs[0].targets[1]", "y", 443), ("remote_write[0].url", "mimir", 9009)]


def test_alertmanager_receiver_urls_and_smarthosts() -> None:
    found = refs.alertmanager_addresses(doc(
        "global:\n  smtp_smarthost: mail:25\nreceivers:\n  - name: x\n    webhook_configs:\n      - url: http://hook:8080/\n"
        "    slack_configs:\n      - api_url_file: /s\n        title_link: '{{ .ExternalURL }}'\n"), "alertmanager")
    assert [(a.where.key, a.host, a.port) for a in found] == [
        ("global.smtp_smarthost", "mail", 25), ("receivers[0].webhook_configs[0].url", "hook", 8080)]


def test_nginx_proxy_pass_through_set_variables_and_upstreams(tmp_path: Path) -> None:
    conf = nginx(tmp_path, "upstream api { server api1:8080; server api2:8080; }\n"
                           "server { listen 80;\n location / { set $u http://grafana:3000; proxy_pass $u; }\n"
                           " location /api/ { proxy_pass http://api; }\n location /x/ { proxy_pass http://unix:/s; } }")
    found = refs.nginx_addresses(conf, "nginx")
    assert [(a.host, a.port, a.context, a.where.line) for a in found] == [
        ("grafana", 3000, "/", 5), ("api1", 8080, "/api/", 3), ("api2", 8080, "/api/", 3)]


def test_config_files_relative_to_the_config_and_nginx_files_relative_to_its_prefix(tmp_path: Path) -> None:
    found = refs.config_file_refs(doc("rule_files: [rules/*.yml]\nglobal:\n  slack_api_url_file: s/url\n"),
                                  "prometheus", "/etc/prometheus/prometheus.yml")
    assert [(r.path, r.glob) for r in found] == [("/etc/prometheus/rules/*.yml", True), ("/etc/prometheus/s/url", False)]
    conf = nginx(tmp_path, "server { ssl_certificate certs/a.crt; auth_basic_user_file $f; auth_basic_user_file off; }")
    assert [r.path for r in refs.nginx_file_refs(conf, "nginx")] == ["/etc/nginx/certs/a.crt"]


# --- the other end ----------------------------------------------------------------------


def services(tmp_path: Path, **extra: dict) -> tuple[ComposeProject, YamlDoc]:
    return compose(tmp_path, {"a": {"image": "x/a:1.0.0", **extra}, "b": {"image": "x/b:1.0.0", "expose": ["8080"]},
                              "c": {"image": "x/c:1.0.0", "networks": ["other"], "expose": ["80"]}},
                   networks={"other": {}})


def test_addresses_must_name_a_service_on_a_shared_network_at_a_port_it_listens_on(tmp_path: Path) -> None:
    project, cdoc = services(tmp_path)
    listeners = {"a": [wiring.Listener(9000, True, "a.conf:1")], "b": wiring.compose_listeners(project.services["b"], cdoc),
                 "c": wiring.compose_listeners(project.services["c"], cdoc)}
    found = wiring.unreachable([
        address("a", "http://b:8080"), address("a", "http://localhost:9000"), address("a", "https://example.com"),
        address("a", "http://bb:8080"), address("a", "http://c:80"), address("a", "http://b:8081"),
        address("b", "http://a:9000"), address("a", "http://b:8080", browser=True)], listeners, project, cdoc)
    expected = ["http://bb:8080: bb is no compose service (docker-compose.yml defines a, b, c)",
                "http://c:80: no shared network: a on ['default']", "c on ['other']",
                "http://b:8081: b does not listen on 8081 for other containers: it listens on 8080 (docker-compose.yml",
                "http://a:9000: a does not listen on 9000 for other containers: it listens on 9000 on loopback only",
                "http://b:8080 is fetched by the user's browser (access: direct), which cannot resolve b"]
    assert len(found) == 5 and all(e in "\n".join(f.problem for f in found) for e in expected)


def test_files_must_be_mounted_and_present(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text("groups: []\n")
    project, cdoc = compose(tmp_path, {"a": {"image": "x/a:1.0.0", "volumes": ["./rules:/rules:ro", "v:/state"]}},
                            volumes={"v": {}})
    paths = ("/rules/*.yml", "/rules/a.yml", "/etc/ssl/certs/ca.crt", "/rules/*.yaml", "/rules/b.yml", "/state/x", "/etc/x")
    found = wiring.unmounted([FileRef("a", HERE, p, glob="*" in p) for p in paths], project, cdoc)
    assert [f.problem for f in found] == [
        "/rules/*.yaml matches no file mounted into a: it loads none and says nothing",
        f"/rules/b.yml is not in the a container: docker-compose.yml:5 services.a.volumes[0] mounts "
        f"{tmp_path / 'rules'} there, which has no such file",
        "/state/x is on volume v (docker-compose.yml:6 services.a.volumes[1]): whatever a container left there, "
        "not a file the repository or the deploy's secrets provide",
        "/etc/x is not in the a container: nothing is mounted there"]


def test_state_directories_must_be_on_writable_persistent_mounts(tmp_path: Path) -> None:
    project, cdoc = compose(tmp_path, {"a": {"image": "x/a:1.0.0", "volumes": ["v:/data", "w:/ro:ro"],
                                             "tmpfs": ["/data/wal:size=64m"]}}, volumes={"v": {}, "w": {}})
    found = wiring.not_persistent([WrittenDir("a", HERE, p) for p in ("/data/chunks", "/data/wal/x", "/ro", "/tmp")],
                                  project, cdoc)
    assert [f.problem.split(":")[0] for f in found] == [
        "/data/wal/x is on tmpfs /data/wal (docker-compose.yml", "/ro is on a read-only mount (docker-compose.yml",
        "/tmp is on no mount"]
