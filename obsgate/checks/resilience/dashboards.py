"""Grafana dashboards and folders: the state users create in Grafana (its database on the named volume).

Provisioned dashboards come back from files whatever happens to the volume; what users
build in the UI lives only in Grafana's database, so that is what a restart must keep.
Created and read through Grafana's documented HTTP API (``POST /api/folders``,
``POST /api/dashboards/db``, ``GET /api/dashboards/uid/<uid>``, ``GET /api/folders/<uid>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgate.clients.grafana import GrafanaAPI

UID_MAX = 40        # Grafana's limit on a dashboard or folder uid


@dataclass(frozen=True)
class Dashboard:
    """A dashboard created for the check, and the folder it is in."""

    uid: str
    title: str
    folder_uid: str
    folder_title: str


def create_dashboard(api: GrafanaAPI, tag: str) -> Dashboard:
    """A folder and a dashboard in it, both named after ``tag``; AssertionError with Grafana's answer."""
    folder_uid, uid = f"obsgate-f-{tag}"[:UID_MAX], f"obsgate-d-{tag}"[:UID_MAX]
    folder_title, title = f"obs-gate resilience {tag}", f"obs-gate resilience check {tag}"
    response = api.post("/api/folders", json={"uid": folder_uid, "title": folder_title})
    if response.status_code != 200:
        raise AssertionError(f"creating folder {folder_uid} answered {response.status_code}: {response.text[:200]}")
    body = {"dashboard": {"id": None, "uid": uid, "title": title, "tags": ["obs-gate"], "panels": []},
            "folderUid": folder_uid, "overwrite": False, "message": "resilience check: must survive restarts"}
    response = api.post("/api/dashboards/db", json=body)
    if response.status_code != 200:
        raise AssertionError(f"creating dashboard {uid} answered {response.status_code}: {response.text[:200]}")
    return Dashboard(str(response.json().get("uid", uid)), title, folder_uid, folder_title)


def dashboard_missing(api: GrafanaAPI, dashboard: Dashboard) -> str | None:
    """None when the dashboard is still there, unchanged, in its folder, and the folder too; else what is not."""
    response = api.get(f"/api/dashboards/uid/{dashboard.uid}")
    if response.status_code != 200:
        return f"dashboard {dashboard.uid} answered {response.status_code}: {response.text[:200].strip()}"
    found = response.json()
    if found["dashboard"].get("title") != dashboard.title:
        return f"dashboard {dashboard.uid} is titled {found['dashboard'].get('title')!r}, not {dashboard.title!r}"
    if found["meta"].get("folderUid") != dashboard.folder_uid:
        return f"dashboard {dashboard.uid} is in folder {found['meta'].get('folderUid')!r}, not {dashboard.folder_uid!r}"
    response = api.get(f"/api/folders/{dashboard.folder_uid}")
    if response.status_code != 200:
        return f"folder {dashboard.folder_uid} answered {response.status_code}: {response.text[:200].strip()}"
    if response.json().get("title") != dashboard.folder_title:
        return f"folder {dashboard.folder_uid} is titled {response.json().get('title')!r}, not {dashboard.folder_title!r}"
    return None
