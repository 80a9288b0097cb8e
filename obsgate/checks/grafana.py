"""Grafana provisioning and access judged from its HTTP API answers (shapes as Grafana documents them).

Pure functions over status codes and parsed JSON, so they are unit-tested with
recorded responses; the gate checks feed them live answers. Expectations come
from the provisioning files the compose file mounts, never repeated here.
Each judging function returns the problems it found (empty = fine).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import httpx

from obsgate.clients.grafana import Datasource, SearchHit
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.grafana import IMAGE_ENV, GrafanaConf, provider_path, strict

PROVISIONING = IMAGE_ENV["GF_PATHS_PROVISIONING"]
_LOGFMT_LEVEL = re.compile(r"\b(?:level|lvl)=(error|eror|crit)\b")


@dataclass(frozen=True)
class Reply:
    """An HTTP answer reduced to what the judges need."""

    status: int
    body: Any

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        return cls(response.status_code, body)

    def short(self) -> str:
        text = self.body if isinstance(self.body, str) else json.dumps(self.body)
        return f"{self.status} {text[:300]}"


@dataclass(frozen=True)
class DashboardFolder:
    folder: str
    dashboards: dict[str, str]      # uid -> title


def provisioned_datasources(spec: ServiceSpec) -> list[Datasource]:
    """The datasources Grafana's mounted provisioning files declare."""
    conf = GrafanaConf(spec)
    strict(conf.datasource_files)
    return [Datasource(str(d.get("uid", "")), str(d["name"]), str(d["type"])) for _, _, d in conf.datasources()]


def provisioned_dashboards(spec: ServiceSpec) -> list[DashboardFolder]:
    """Per file provider: its folder and the dashboards (uid -> title) in the directory it reads."""
    conf = GrafanaConf(spec)
    strict(conf.dashboard_provider_files)
    folders = []
    for _, _, provider in conf.file_providers():
        boards = {}
        for board in strict(conf.dashboards(provider_path(provider) or "")):
            assert board.doc is not None
            boards[str(board.doc.get("uid", ""))] = str(board.doc.get("title", board.host.stem))
        folders.append(DashboardFolder(str(provider.get("folder", "")), boards))
    return folders


def health_problems(reply: Reply) -> list[str]:
    """``GET /api/health``: 200 and ``database: ok``."""
    if reply.status != 200 or not isinstance(reply.body, dict):
        return [f"/api/health answered {reply.short()}"]
    if reply.body.get("database") != "ok":
        return [f"/api/health reports database {reply.body.get('database')!r}"]
    return []


def datasource_problems(expected: list[Datasource], listed: list[Datasource]) -> list[str]:
    """``GET /api/datasources``: every provisioned datasource present with its uid, name and type."""
    by_uid = {d.uid: d for d in listed}
    problems = []
    for want in expected:
        got = by_uid.get(want.uid)
        if got is None:
            problems.append(f"datasource uid {want.uid!r} ({want.name}, {want.type}) missing; "
                            f"Grafana has uids {sorted(by_uid)}")
        elif (got.type, got.name) != (want.type, want.name):
            problems.append(f"datasource uid {want.uid!r} is {got.name!r} of type {got.type!r}, "
                            f"provisioned as {want.name!r} of type {want.type!r}")
    return problems


def datasource_health_problems(uid: str, reply: Reply) -> list[str]:
    """``GET /api/datasources/uid/:uid/health``: 200 with ``status: OK``."""
    status = reply.body.get("status") if isinstance(reply.body, dict) else None
    if reply.status != 200 or status != "OK":
        return [f"datasource {uid!r} health: {reply.short()}"]
    return []


def dashboard_problems(expected: list[DashboardFolder], hits: list[SearchHit]) -> list[str]:
    """``GET /api/search?type=dash-db``: every provisioned dashboard present, in its provider's folder."""
    boards = {h.uid: h for h in hits if h.type == "dash-db"}
    problems = []
    for folder in expected:
        for uid, title in folder.dashboards.items():
            hit = boards.get(uid)
            if hit is None:
                problems.append(f"dashboard {title!r} (uid {uid!r}) missing; Grafana has {sorted(boards)}")
            elif folder.folder and hit.folder_title != folder.folder:
                problems.append(f"dashboard {title!r} is in folder {hit.folder_title or '(General)'!r}, "
                                f"provisioned into {folder.folder!r}")
    return problems


def provisioning_errors(log: str) -> list[str]:
    """Error lines of Grafana's provisioning loggers in its (logfmt) log."""
    errors = []
    for line in log.splitlines():
        if not _LOGFMT_LEVEL.search(line):
            continue
        try:
            fields = dict(f.split("=", 1) for f in shlex.split(line) if "=" in f)
        except ValueError:
            fields = {}
        if fields.get("logger", "").startswith("provisioning") or "provision" in fields.get("msg", "").lower():
            errors.append(line.strip())
    return errors


def auth_refused_problems(what: str, reply: Reply) -> list[str]:
    """Anything but 401 means the request was not refused as unauthenticated."""
    return [] if reply.status == 401 else [f"{what}: expected 401, got {reply.short()}"]


def admin_user_problems(login: str, reply: Reply) -> list[str]:
    """``GET /api/user`` with the admin credentials: 200 as that user, a Grafana admin."""
    if reply.status != 200 or not isinstance(reply.body, dict):
        return [f"admin credentials: GET /api/user answered {reply.short()}"]
    if reply.body.get("login") != login or reply.body.get("isGrafanaAdmin") is not True:
        return [f"admin credentials signed in as {reply.body.get('login')!r} "
                f"(isGrafanaAdmin={reply.body.get('isGrafanaAdmin')!r}), expected {login!r} as Grafana admin"]
    return []


def signup_problems(reply: Reply) -> list[str]:
    """``POST /api/user/signup`` must be refused (Grafana answers 401 "User signup is disabled")."""
    if reply.status in (401, 403):
        return []
    return [f"self sign-up is open: POST /api/user/signup answered {reply.short()}"]


def loki_lines(reply: Reply) -> list[str]:
    """The log lines in a Loki ``query_range`` answer (streams), as proxied by Grafana."""
    if reply.status != 200 or not isinstance(reply.body, dict):
        return []
    data = reply.body.get("data") or {}
    if data.get("resultType") != "streams":
        return []
    return [str(value[1]) for stream in data.get("result") or [] for value in stream.get("values") or []]
