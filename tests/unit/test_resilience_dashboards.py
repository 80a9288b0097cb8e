"""obsgate.checks.resilience.dashboards against recorded Grafana answers (httpx.MockTransport): what is created,
and what a restart that lost the dashboard, moved it or lost its folder looks like."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from obsgate.checks.resilience.dashboards import Dashboard, create_dashboard, dashboard_missing
from obsgate.clients import Endpoint, GrafanaAPI


class FakeGrafana:
    """Grafana 10's folder and dashboard endpoints, answering as it does (bodies recorded from its API docs)."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[str, Any]] = {}
        self.dashboards: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        path = request.url.path
        if request.method == "POST" and path == "/api/folders":
            self.folders[body["uid"]] = {"id": len(self.folders) + 1, "uid": body["uid"], "title": body["title"]}
            return httpx.Response(200, json=self.folders[body["uid"]])
        if request.method == "POST" and path == "/api/dashboards/db":
            if body["folderUid"] not in self.folders:
                return httpx.Response(400, json={"message": "folder not found"})
            uid = body["dashboard"]["uid"]
            self.dashboards[uid] = {"dashboard": {**body["dashboard"], "id": 7, "version": 1},
                                    "meta": {"folderUid": body["folderUid"], "folderTitle": "x"}}
            return httpx.Response(200, json={"id": 7, "uid": uid, "status": "success", "version": 1,
                                             "url": f"/d/{uid}/x", "slug": "x"})
        if path.startswith("/api/dashboards/uid/"):
            found = self.dashboards.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=found) if found else httpx.Response(404, json={"message": "Dashboard not found"})
        if path.startswith("/api/folders/"):
            folder = self.folders.get(path.rsplit("/", 1)[1])
            return httpx.Response(200, json=folder) if folder else httpx.Response(404, json={"message": "folder not found"})
        return httpx.Response(404)


@pytest.fixture
def grafana(monkeypatch: pytest.MonkeyPatch) -> FakeGrafana:
    fake = FakeGrafana()
    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(fake.handle), **kw))
    return fake


@pytest.fixture
def api(grafana: FakeGrafana) -> GrafanaAPI:
    return GrafanaAPI(Endpoint(lambda: "http://grafana.test"))


def test_creates_a_folder_then_a_dashboard_in_it(grafana: FakeGrafana, api: GrafanaAPI) -> None:
    dashboard = create_dashboard(api, "run1")
    assert dashboard == Dashboard("obsgate-d-run1", "obs-gate resilience check run1", "obsgate-f-run1",
                                  "obs-gate resilience run1")
    (m1, p1, folder), (m2, p2, body) = grafana.requests
    assert (m1, p1, m2, p2) == ("POST", "/api/folders", "POST", "/api/dashboards/db")
    assert folder == {"uid": "obsgate-f-run1", "title": "obs-gate resilience run1"}
    assert body["folderUid"] == "obsgate-f-run1" and body["overwrite"] is False and body["dashboard"]["id"] is None
    assert dashboard_missing(api, dashboard) is None


def test_uids_fit_grafanas_limit(api: GrafanaAPI) -> None:
    dashboard = create_dashboard(api, "x" * 60)
    assert len(dashboard.uid) == len(dashboard.folder_uid) == 40


def test_a_refused_creation_names_grafanas_answer(grafana: FakeGrafana, api: GrafanaAPI,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    original = grafana.handle

    def no_folders(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/folders":
            return httpx.Response(403, json={"message": "Permission denied"})
        return original(request)

    monkeypatch.setattr(grafana, "handle", no_folders)
    with pytest.raises(AssertionError, match="creating folder obsgate-f-r answered 403: .*Permission denied"):
        create_dashboard(GrafanaAPI(Endpoint(lambda: "http://grafana.test")), "r")


def test_lost_moved_retitled_dashboard_and_lost_folder_are_named(grafana: FakeGrafana, api: GrafanaAPI) -> None:
    dashboard = create_dashboard(api, "r")
    grafana.folders["obsgate-f-r"]["title"] = "renamed"
    assert dashboard_missing(api, dashboard) == "folder obsgate-f-r is titled 'renamed', not 'obs-gate resilience r'"
    del grafana.folders["obsgate-f-r"]
    assert dashboard_missing(api, dashboard).startswith("folder obsgate-f-r answered 404")
    grafana.dashboards["obsgate-d-r"]["meta"]["folderUid"] = "general"
    assert dashboard_missing(api, dashboard) == "dashboard obsgate-d-r is in folder 'general', not 'obsgate-f-r'"
    grafana.dashboards["obsgate-d-r"]["dashboard"]["title"] = "other"
    assert "is titled 'other'" in dashboard_missing(api, dashboard)
    grafana.dashboards.clear()
    assert dashboard_missing(api, dashboard) == 'dashboard obsgate-d-r answered 404: {"message":"Dashboard not found"}'
