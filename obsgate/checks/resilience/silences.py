"""Alertmanager silences: the state an operator writes into Alertmanager (snapshot on its volume)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from obsgate.clients import AlertmanagerAPI

SILENCE_FOR = timedelta(hours=1)


def create_silence(api: AlertmanagerAPI, label: str, value: str) -> str:
    """Silence alerts with ``label=value`` for an hour; the silence id."""
    now = datetime.now(UTC)
    body = {"matchers": [{"name": label, "value": value, "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(), "endsAt": (now + SILENCE_FOR).isoformat(),
            "createdBy": "obs-gate", "comment": "resilience check: must survive restarts"}
    response = api.post("/api/v2/silences", json=body)
    if response.status_code != 200:
        raise AssertionError(f"creating a silence answered {response.status_code}: {response.text[:200]}")
    return str(response.json()["silenceID"])


def silence_missing(api: AlertmanagerAPI, silence_id: str) -> str | None:
    """None when the silence is still there and active; otherwise what Alertmanager answered."""
    response = api.get(f"/api/v2/silence/{silence_id}")
    if response.status_code != 200:
        return f"silence {silence_id} answered {response.status_code}: {response.text[:200].strip()}"
    state = response.json()["status"]["state"]
    return None if state == "active" else f"silence {silence_id} is {state}, not active"
