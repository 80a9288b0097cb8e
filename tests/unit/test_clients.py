"""The clients' typed answers and errors, against answers recorded from the stack's own versions.

tests/unit/fixtures/prometheus, alertmanager and loki hold answers recorded from Prometheus 2.42,
Alertmanager 0.25 and Loki 2.9.3 (as stack/docker-compose.yml pins them): Prometheus scraping
itself, Alertmanager and a target that does not resolve, with an always-firing alert and a
recording rule; Loki with two streams pushed. Grafana's answers are those of its documentation
(tests/unit/fixtures/grafana/README.md). Every client is served them through httpx's MockTransport.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from obsgate.bringup.secrets import generate
from obsgate.clients import AlertmanagerAPI, Endpoint, Gateway, GrafanaAPI, LokiAPI, PrometheusAPI, ServiceError
from obsgate.clients.grafana import Datasource, SearchHit
from obsgate.clients.http import port_of, rfc3339
from obsgate.clients.loki import LokiStream
from obsgate.clients.webhook import Delivery, SlackAttachment
from obsgate.core.errors import NotEvaluated

FIXTURES = Path(__file__).parent / "fixtures"
Answers = dict[str, httpx.Response]


def recorded(name: str, status: int = 200) -> httpx.Response:
    path = FIXTURES / name
    return httpx.Response(status, json=json.loads(path.read_text())) if path.suffix == ".json" \
        else httpx.Response(status, text=path.read_text())


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[Answers], None]:
    """Answer every client's requests by path from ``answers``."""
    real = httpx.Client

    def install(answers: Answers) -> None:
        transport = httpx.MockTransport(lambda request: answers[request.url.path])
        monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=transport, **kw))
    return install


def endpoint(service: str = "") -> Endpoint:
    return Endpoint(lambda: f"http://{service or 'svc'}.test", service=service)


def test_an_error_answer_names_service_request_status_and_loki_s_reason(serve: Callable[[Answers], None]) -> None:
    serve({"/loki/api/v1/query_range": recorded("loki/query-range-400.txt", 400)})
    with pytest.raises(ServiceError) as raised:
        LokiAPI(endpoint("loki")).query_range('{level="error"', 0)
    error = raised.value
    assert str(error) == ("loki: GET /loki/api/v1/query_range -> 400: "
                          "parse error at line 1, col 15: syntax error: unexpected $end, expecting } or ,")
    assert (error.service, error.method, error.status) == ("loki", "GET", 400)
    assert error.url.startswith("http://loki.test/loki/api/v1/query_range?query=")
    assert error.body == "parse error at line 1, col 15: syntax error: unexpected $end, expecting } or ,"
    assert isinstance(error, httpx.HTTPStatusError) and error.response.status_code == 400   # as httpx's own


def test_a_json_error_answer_gives_its_error_member_as_the_reason(serve: Callable[[Answers], None]) -> None:
    serve({"/api/v1/query": recorded("prometheus/query-400.json", 400)})
    with pytest.raises(ServiceError, match=r'^prometheus via nginx: GET /api/v1/query -> 400: invalid parameter '
                                           r'"query": 1:4: parse error: unexpected end of input inside braces$'):
        PrometheusAPI(endpoint("prometheus via nginx")).query("up{")


def test_a_long_error_body_is_one_line_of_at_most_500_characters(serve: Callable[[Answers], None]) -> None:
    serve({"/api/v2/alerts": httpx.Response(503, text="upstream\nunavailable " * 200)})
    with pytest.raises(ServiceError) as raised:
        AlertmanagerAPI(endpoint()).alerts()
    assert len(raised.value.body) == 500 and raised.value.body.endswith("…") and "\n" not in str(raised.value)
    assert str(raised.value).startswith("svc.test: GET /api/v2/alerts -> 503: upstream unavailable upstream")


def test_endpoints_name_who_answers() -> None:
    handle = SimpleNamespace(name="loki", spec=SimpleNamespace(expose=(3100,)), epoch=0,
                             url=lambda port: f"http://192.0.2.2:{port}")
    direct = Endpoint.direct(handle)  # type: ignore[arg-type]
    assert (direct.service, direct.base_url()) == ("loki", "http://192.0.2.2:3100")
    secrets = generate("unit-clients")
    try:
        gateway = Gateway(SimpleNamespace(name="nginx", epoch=0), secrets)  # type: ignore[arg-type]
        assert [gateway.api().endpoint.service, gateway.loki().endpoint.service, gateway.prometheus().endpoint.service,
                gateway.grafana().endpoint.service] == ["nginx", "loki via nginx", "prometheus via nginx", "grafana via nginx"]
    finally:
        secrets.remove()
    with pytest.raises(NotEvaluated, match="loki exposes no port"):
        port_of(SimpleNamespace(name="loki", spec=SimpleNamespace(expose=())))  # type: ignore[arg-type]


def test_prometheus_targets_rules_alerts_and_alertmanagers(serve: Callable[[Answers], None]) -> None:
    serve({"/api/v1/targets": recorded("prometheus/targets.json"), "/api/v1/rules": recorded("prometheus/rules.json"),
           "/api/v1/alerts": recorded("prometheus/alerts.json"),
           "/api/v1/alertmanagers": recorded("prometheus/alertmanagers.json")})
    api = PrometheusAPI(endpoint("prometheus"))
    targets = {t.job: t for t in api.targets()}
    assert set(targets) == {"prometheus", "alertmanager", "loki"}
    assert (targets["alertmanager"].instance, targets["alertmanager"].health, targets["alertmanager"].last_error) == (
        "rec18-am:9093", "up", "")
    assert targets["loki"].health == "down" and "no such host" in targets["loki"].last_error
    assert targets["loki"].scrape_url == "http://rec18-nowhere:3100/metrics"
    (group,) = api.rules()
    assert group.name == "stack" and group.last_evaluation == pytest.approx(rfc3339("2026-12-04T22:05:09.314324757Z"))
    assert [(r.name, r.health, r.last_error) for r in group.rules] == [("AlwaysFiring", "ok", ""), ("job:up:sum", "ok", "")]
    (alert,) = api.alerts()
    assert (dict(alert.labels), alert.state) == ({"alertname": "AlwaysFiring", "severity": "critical"}, "firing")
    assert alert.active_at == rfc3339("2026-12-04T22:04:21.313325049Z")
    assert api.alertmanagers() == ["http://rec18-am:9093/api/v2/alerts"]


def test_prometheus_flags_as_it_runs(serve: Callable[[Answers], None]) -> None:
    # The shape of GET /api/v1/status/flags (trimmed): every flag, defaults included, as strings.
    serve({"/api/v1/status/flags": httpx.Response(200, json={"status": "success", "data": {
        "query.timeout": "2m", "query.max-concurrency": "20", "web.enable-lifecycle": "false"}})})
    flags = PrometheusAPI(endpoint("prometheus")).flags()
    assert flags["query.timeout"] == "2m" and flags["web.enable-lifecycle"] == "false"


def test_prometheus_flags_are_every_flag_with_its_value(serve: Callable[[Answers], None]) -> None:
    """Recorded from Prometheus 2.42 started with --storage.tsdb.retention.size=5GB and no retention time."""
    serve({"/api/v1/status/flags": recorded("prometheus/status-flags-size-only.json")})
    flags = PrometheusAPI(endpoint()).flags()
    assert flags["storage.tsdb.retention.time"] == "0s" and flags["storage.tsdb.retention.size"] == "5GiB"
    assert flags["config.file"] == "/etc/prometheus/prometheus.yml"


def test_prometheus_instant_vector_and_range_selector_answers(serve: Callable[[Answers], None]) -> None:
    serve({"/api/v1/query": recorded("prometheus/query-vector.json")})
    up = {s.labels["job"]: s.value for s in PrometheusAPI(endpoint()).query("up")}
    assert up == {"prometheus": 1.0, "alertmanager": 1.0, "loki": 0.0}
    serve({"/api/v1/query": recorded("prometheus/query-matrix.json")})
    (series,) = PrometheusAPI(endpoint()).query('up{job="prometheus"}[5s]', at_s=1796421909.0)
    assert series.points == ((1796421906.694, 1.0), (1796421908.694, 1.0))


def test_alertmanager_alerts(serve: Callable[[Answers], None]) -> None:
    serve({"/api/v2/alerts": recorded("alertmanager/alerts.json")})
    (alert,) = AlertmanagerAPI(endpoint()).alerts()
    assert alert.labels["alertname"] == "AlwaysFiring" and alert.updated_at == rfc3339("2026-12-04T22:05:23.315Z")


def test_loki_log_query_streams_and_metric_query_series(serve: Callable[[Answers], None]) -> None:
    serve({"/loki/api/v1/query_range": recorded("loki/query-range.json"),
           "/loki/api/v1/query": recorded("loki/query-vector.json")})
    api = LokiAPI(endpoint("loki"))
    streams = api.query_range('{level="error"}', 0)
    assert streams.streams[1] == LokiStream({"level": "error", "service": "pos-frontend"},
                                            ((1796421903766091314, "Scanner lost"),))
    assert streams.entries() == [(1796421903766091312, "Payment failed"), (1796421903766091313, "Card declined"),
                                 (1796421903766091314, "Scanner lost")]
    counted = api.query('sum by (service) (count_over_time({level="error"}[5m]))')
    assert {s.labels["service"]: s.value for s in counted} == {"pos-backend": 2.0, "pos-frontend": 1.0}
    serve({"/loki/api/v1/query_range": recorded("loki/query-vector.json")})
    with pytest.raises(ValueError, match="expected a log query's streams, got 'vector'"):
        LokiAPI(endpoint("loki")).query_range('count_over_time({level="error"}[5m])', 0)


def test_grafana_datasources_and_search(serve: Callable[[Answers], None]) -> None:
    serve({"/api/datasources": recorded("grafana/datasources-provisioned.json"),
           "/api/search": recorded("grafana/search-docs-example.json")})
    api = GrafanaAPI(endpoint("grafana"))
    assert api.datasources() == [Datasource("loki", "Loki", "loki"), Datasource("prometheus", "Prometheus", "prometheus")]
    assert api.search(type="dash-db") == [SearchHit("cIBgcSjkk", "dash-db", "Folder")]


def test_a_slack_delivery_and_one_that_is_not() -> None:
    body = {"channel": "#oncall", "username": "Alertmanager",
            "attachments": [{"title": "[FIRING:1] LokiDown", "color": "danger", "text": "Loki is down"}, "noise"]}
    message = Delivery("/slack/x", {}, json.dumps(body).encode(), 0.0).slack()
    assert (message.channel, message.username) == ("#oncall", "Alertmanager")
    assert message.attachments == (SlackAttachment("[FIRING:1] LokiDown", "danger", "Loki is down"),)
    assert Delivery("/slack/x", {}, b"not json", 0.0).slack().attachments == ()
