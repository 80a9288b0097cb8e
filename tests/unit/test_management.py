"""The management audit's logic: verdicts, the order and restraint of its requests, the gateway routes
nginx.conf's reader derives, the switches the static check reads, and Grafana's admin API answers as
recorded from Grafana's documented behaviour (its image cannot run here)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from obsgate.bringup.secrets import BasicAuth
from obsgate.checks.edge import management as mg
from obsgate.checks.static import management as static
from obsgate.stackfiles.compose import load_compose
from obsgate.stackfiles.mounts import bool_flag
from obsgate.stackfiles.nginx import NginxConf
from obsgate.stackfiles.project import ProjectFiles

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stack"
NGINX_403 = ("<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n<center><h1>403 Forbidden</h1></center>"
             "\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
NGINX_401 = NGINX_403.replace("403 Forbidden", "401 Authorization Required")
NGINX_502 = NGINX_403.replace("403 Forbidden", "502 Bad Gateway").replace("nginx<", "nginx/1.22.1<")
READ, PUSH = BasicAuth("sre-read", "r"), BasicAuth("pos-push", "p")


def answer(status: int, text: str = "") -> mg.Answer:
    return mg.Answer(status, bool(mg._NGINX_PAGE.search(text)), text[:40])


# --- verdicts ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "text", "probe", "expected"), [
    (403, NGINX_403, False, mg.Verdict.REFUSED),
    (401, NGINX_401, True, mg.Verdict.REFUSED),
    (405, NGINX_403.replace("403 Forbidden", "405 Not Allowed"), True, mg.Verdict.REFUSED),
    (404, NGINX_403.replace("403 Forbidden", "404 Not Found"), False, mg.Verdict.ABSENT),
    (403, "Lifecycle API is not enabled.", False, mg.Verdict.REFUSED),          # Prometheus without the flag
    (404, "remote write receiver needs to be enabled", False, mg.Verdict.ABSENT),
    (405, "Method Not Allowed", True, mg.Verdict.REACHED),                      # the service's route is there
    (405, "Method Not Allowed", False, mg.Verdict.ABSENT),                      # it does not serve that method
    (200, "", False, mg.Verdict.REACHED),
    (400, '{"error":"invalid parameter \\"skip_head\\""}', False, mg.Verdict.REACHED),
    (503, '{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}', False, mg.Verdict.REACHED),
    (502, NGINX_502, False, mg.Verdict.REACHED),                                # passed on, nobody answered
    (429, NGINX_403.replace("403 Forbidden", "429 Too Many Requests"), False, mg.Verdict.RATE_LIMITED),
])
def test_verdict(status: int, text: str, probe: bool, expected: mg.Verdict) -> None:
    assert mg.verdict(answer(status, text), probe) == expected


def test_nginx_pages_are_told_from_the_service_answers() -> None:
    assert answer(403, NGINX_403).by_nginx and answer(502, NGINX_502).by_nginx
    assert not answer(403, "Lifecycle API is not enabled.").by_nginx


# --- the audit's requests ----------------------------------------------------------------


class Recorded:
    """A fake gateway: answers by (method, URI, caller), records what was sent, in order."""

    def __init__(self, answers: Callable[[str, str, mg.Caller], mg.Answer]) -> None:
        self.answers, self.sent = answers, []

    def __call__(self, method: str, uri: str, params: Mapping[str, str], body: Any, caller: mg.Caller) -> mg.Answer:
        self.sent.append((method, uri, dict(params), body, caller.name))
        return self.answers(method, uri, caller)


def once(ask: Callable[[], mg.Answer | None]) -> mg.Answer:
    for _ in range(5):
        got = ask()
        if got is not None:
            return got
    raise AssertionError("still rate limited")


WHO = mg.callers({"no credential": None, "push credential": PUSH, "read credential": READ}, "https://pos.retail.example")


def prometheus_routes(endpoint: mg.Endpoint) -> list[str]:
    return ["/prometheus" + endpoint.path]


def open_prometheus(method: str, uri: str, caller: mg.Caller) -> mg.Answer:
    """The pre-fix edge with both flags on: nginx asks for the read credential, Prometheus does the rest."""
    if caller.auth != READ:
        return answer(401, NGINX_401)
    if method == mg.PROBE_METHOD:
        return answer(405, "Method Not Allowed")
    return answer(400 if "admin" in uri else 200, "ok")


def test_a_reached_trigger_is_a_finding_and_is_never_pulled() -> None:
    send = Recorded(open_prometheus)
    audit = mg.run(mg.catalogue(mg.PROMETHEUS), prometheus_routes, WHO, send, once)
    quits = [s for s in send.sent if s[1] == "/prometheus/-/quit"]
    assert {(m, who) for m, _, _, _, who in quits if m != mg.PROBE_METHOD} == {("POST", "no credential"),
                                                                             ("POST", "push credential"),
                                                                             ("PUT", "no credential"),
                                                                             ("PUT", "push credential")}
    assert "PATCH /prometheus/-/quit with read credential → 405 from the service (Method Not Allowed): reaches " \
           "prometheus's POST /-/quit (stops Prometheus); not sent" in audit.findings
    assert "POST /prometheus/-/reload with read credential and Origin https://pos.retail.example → 200 from the " \
           "service (ok): prometheus's POST /-/reload (reloads the configuration)" in audit.findings
    assert not [f for f in audit.findings if "with no credential" in f or "with push credential" in f]


def test_triggers_go_last_and_harmless_requests_carry_their_bad_arguments() -> None:
    send = Recorded(open_prometheus)
    mg.run(mg.catalogue(mg.PROMETHEUS), prometheus_routes, WHO, send, once)
    kinds = [mg.Kind.TRIGGER if m == mg.PROBE_METHOD or u.endswith(("/-/quit", "clean_tombstones")) else mg.Kind.HARMLESS
             for m, u, _, _, _ in send.sent]
    assert kinds == sorted(kinds, key=lambda k: k == mg.Kind.TRIGGER)
    assert ("POST", "/prometheus/api/v1/admin/tsdb/snapshot", {"skip_head": "obs-gate-probe"}, None,
            "read credential") in send.sent
    assert send.sent[-1][1] == "/prometheus/-/quit"


def test_the_edge_refusing_everything_passes_and_confirms_the_triggers_real_method() -> None:
    send = Recorded(lambda method, uri, caller: answer(403, NGINX_403))
    audit = mg.run(mg.catalogue(mg.PROMETHEUS), prometheus_routes, WHO, send, once)
    assert not audit.findings
    assert ("POST", "/prometheus/-/quit", {}, None, "read credential") in send.sent


def test_a_trigger_the_service_does_not_serve_is_absent_and_not_sent() -> None:
    send = Recorded(lambda method, uri, caller: answer(404, "404 page not found"))
    audit = mg.run([e for e in mg.catalogue(mg.LOKI) if e.path == "/ingester/shutdown"],
                   lambda e: [e.path], WHO, send, once)
    assert not audit.findings and {s[0] for s in send.sent} == {mg.PROBE_METHOD}


def test_rate_limited_answers_are_asked_again_and_unrouted_endpoints_listed() -> None:
    answers = iter([answer(429, NGINX_403.replace("403 Forbidden", "429 Too Many Requests")), answer(403, NGINX_403)])
    send = Recorded(lambda method, uri, caller: next(answers))
    endpoints = [e for e in mg.catalogue(mg.ALERTMANAGER) if e.kind == mg.Kind.READ]
    audit = mg.run(endpoints, lambda e: [e.path], [mg.Caller("read credential", READ)], send, once)
    assert [a.answer.status for a in audit.asked] == [403] and len(send.sent) == 2
    assert mg.run(endpoints, lambda e: [], WHO, send, once).unrouted == ["alertmanager GET /api/v2/status"]


# --- Grafana's admin API, as Grafana 10 answers (recorded) ----------------------------------

# test_grafana_admin_api_refused_to_non_admin_users cannot run here (no Grafana image): its judgement is this.
GRAFANA_401 = '{"message":"Invalid username or password"}'
GRAFANA_403 = '{"accessErrorId":"ACE0123","message":"You\'ll need additional permissions to perform this action."}'


def grafana(broken: bool) -> Callable[[str, str, mg.Caller], mg.Answer]:
    """Grafana behind nginx's ``location /``: nginx's credentials are no Grafana users; a Viewer or Editor gets
    403 from the admin API, unless ``broken`` (a role check missing: the admin handlers answer)."""
    def answers(method: str, uri: str, caller: mg.Caller) -> mg.Answer:
        if caller.auth is None or caller.auth in (READ, PUSH):
            return answer(401, GRAFANA_401)
        if not broken:
            return answer(403, GRAFANA_403)
        return answer(200 if method == "GET" else 400, '{"message":"bad request data"}')
    return answers


GRAFANA_WHO = mg.callers({"no credential": None, "push credential": PUSH, "read credential": READ,
                          "Grafana Viewer": BasicAuth("v", "v"), "Grafana Editor": BasicAuth("e", "e")}, None)


def test_grafana_admin_api_refusing_non_admins_passes() -> None:
    audit = mg.run(mg.catalogue(mg.GRAFANA), lambda e: [e.path], GRAFANA_WHO, Recorded(grafana(False)), once)
    assert not audit.findings and len(audit.asked) == len(mg.catalogue(mg.GRAFANA)) * 5


def test_grafana_admin_api_answering_a_viewer_is_a_finding() -> None:
    """What fails test_grafana_admin_api_refused_to_non_admin_users: its audit, on Grafana's recorded answers."""
    audit = mg.run(mg.catalogue(mg.GRAFANA), lambda e: [e.path], GRAFANA_WHO, Recorded(grafana(True)), once)
    assert "GET /api/admin/settings with Grafana Viewer → 200 from the service" in audit.findings[0]
    assert any(f.startswith("POST /api/admin/users with Grafana Editor → 400") for f in audit.findings)
    assert not [f for f in audit.findings if "credential" in f]


# --- routes nginx.conf's reader derives ------------------------------------------------------


def nginx(tmp_path: Path, server: str) -> NginxConf:
    path = tmp_path / "nginx.conf"
    path.write_text("events {}\nhttp {\n  server {\n    listen 443 ssl;\n" + textwrap.indent(server, "    ") + "  }\n}\n")
    return NginxConf.load(path)


def test_routes_follow_prefix_strip_variables_and_returns(tmp_path: Path) -> None:
    conf = nginx(tmp_path, textwrap.dedent("""\
        location /prometheus/ {
            location ~ ^/prometheus/-/quit$ { return 403; }
            set $up http://prometheus:9090;
            rewrite ^/prometheus/(.*)$ /$1 break;
            proxy_pass $up;
        }
        location /am/ { proxy_pass http://alertmanager:9093/; }
        location ~ ^/loki/api/v1/(query|config)$ { proxy_pass http://loki:3100; }
        location / { proxy_pass http://grafana:3000; }
        """))
    assert [(r.uri, r.upstream.host) for r in conf.gateway_routes("prometheus", "/-/reload")] == [
        ("/prometheus/-/reload", "prometheus")]
    assert [(r.uri, r.upstream.returns) for r in conf.gateway_routes("prometheus", "/-/quit")] == [
        ("/prometheus/-/quit", "403")]
    assert [r.uri for r in conf.gateway_routes("alertmanager", "/-/reload")] == ["/am/-/reload"]
    assert [r.uri for r in conf.gateway_routes("loki", "/loki/api/v1/config")] == ["/loki/api/v1/config"]
    assert conf.gateway_routes("loki", "/flush") == []          # nginx hands /flush to Grafana
    assert conf.gateway_routes("grafana", "/api/admin/settings")[0].uri == "/api/admin/settings"


def test_todays_nginx_conf_refuses_prometheus_admin_and_lifecycle_and_routes_no_loki_admin() -> None:
    conf = NginxConf.load(STACK / "nginx" / "nginx.conf")
    for endpoint in mg.catalogue(mg.PROMETHEUS):
        routes = conf.gateway_routes("prometheus", endpoint.path)
        assert routes and all(r.upstream.returns == "403" for r in routes) or endpoint.path == "/api/v1/write"
    assert not [e for e in mg.catalogue(mg.LOKI) for r in conf.gateway_routes("loki", e.path) if r.upstream.host]
    assert not [e for e in mg.catalogue(mg.ALERTMANAGER) if conf.gateway_routes("alertmanager", e.path)]


# --- switches, read statically ---------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    ([], (False, None)), (["--web.enable-lifecycle"], (True, 0)), (["-x", "--web.enable-lifecycle=false"], (False, 1)),
    (["--web.enable-lifecycle", "--no-web.enable-lifecycle"], (False, 1)), (["--web.enable-lifecycle=true"], (True, 0)),
])
def test_bool_flag(argv: list[str], expected: tuple[bool, int | None]) -> None:
    assert bool_flag(argv, "web.enable-lifecycle") == expected


def project(tmp_path: Path, flags: list[str], nginx_conf: Path | None = None) -> ProjectFiles:
    doc = yaml.safe_load((STACK / "docker-compose.yml").read_text())
    for svc in doc["services"].values():
        svc["volumes"] = [str(STACK / v[2:]) if isinstance(v, str) and v.startswith("./") else v
                          for v in svc.get("volumes", [])]
    doc["services"]["prometheus"]["command"] += flags
    if nginx_conf is not None:
        doc["services"]["nginx"]["volumes"][0] = f"{nginx_conf}:/etc/nginx/nginx.conf:ro"
    for part in ("nginx", "alertmanager"):
        (tmp_path / "secrets" / part).mkdir(parents=True, exist_ok=True)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    env = {"OBS_SECRETS_DIR": str(tmp_path / "secrets"), "GRAFANA_ADMIN_PASSWORD": "x", "GRAFANA_SECRET_KEY": "y",
           "OBS_PUBLIC_URL": "https://obs.example"}
    return ProjectFiles(load_compose(path, env))


def test_flags_on_behind_the_edge_refusal_are_no_finding(tmp_path: Path) -> None:
    files = project(tmp_path, ["--web.enable-lifecycle", "--web.enable-admin-api"])
    assert [s.on for s in static.prometheus_switches(files)] == [True, True, False]
    assert static.exposed(files) == []


def test_flags_on_and_routed_name_the_flag_line_and_route(tmp_path: Path) -> None:
    text = (STACK / "nginx" / "nginx.conf").read_text()
    start = text.index("            # The TSDB admin API")
    broad = tmp_path / "nginx.conf"
    broad.write_text(text[:start] + text[text.index("            limit_req zone=api_read", start):])
    files = project(tmp_path, ["--web.enable-lifecycle"], broad)
    findings = static.exposed(files)
    assert len(findings) == 1
    assert findings[0].key == "services.prometheus.command[5]" and findings[0].line is not None
    assert "--web.enable-lifecycle switches on prometheus's POST /-/reload, PUT /-/reload, POST /-/quit" in \
        findings[0].problem and "/prometheus/-/quit (location /prometheus/)" in findings[0].problem


def test_loki_delete_switch_follows_retention_and_deletion_mode(tmp_path: Path) -> None:
    files = project(tmp_path, [])
    deletes, rules = static.loki_switches(files)
    assert deletes.on and deletes.key == "compactor.retention_enabled"     # today: on, but nginx refuses /loki/...
    assert not rules.on


def test_seed_nginx_conf_hands_prometheus_lifecycle_and_loki_deletes_through() -> None:
    """The seed's `location /prometheus/ { proxy_pass http://prometheus/; }` (with its --web.enable-lifecycle) and
    `location /loki/ { proxy_pass http://loki; }`: the prefix replaced by proxy_pass's URI, Loki's path unchanged."""
    conf = NginxConf.load(ROOT / "tests" / "config" / "fixtures" / "seed" / "nginx" / "nginx.conf")
    assert [(r.uri, r.upstream.host, r.upstream.uri) for r in conf.gateway_routes("prometheus", "/-/quit")] == [
        ("/prometheus/-/quit", "prometheus", "/-/quit")]
    assert [r.uri for r in conf.gateway_routes("loki", "/loki/api/v1/delete")] == ["/loki/api/v1/delete"]
