"""Slack incoming-webhook payloads as the receiver got them: which alert, which state, for whom."""

from __future__ import annotations

from typing import Any

from obsgate.clients.webhook import Delivery


def attachments(delivery: Delivery) -> list[dict[str, Any]]:
    """The attachments of a Slack incoming-webhook payload (empty if it is not one)."""
    try:
        body = delivery.json()
    except ValueError:
        return []
    return [a for a in body.get("attachments") or [] if isinstance(a, dict)] if isinstance(body, dict) else []


def announces(delivery: Delivery, alertname: str, status: str = "FIRING", marker: str = "") -> bool:
    """Whether a Slack payload reports ``alertname`` in ``status`` (and carries ``marker`` in its text)."""
    return any(alertname in str(a.get("title", "")) and status in str(a.get("title", "")).upper()
               and marker in str(a.get("text", "")) for a in attachments(delivery))


def payload_summary(delivery: Delivery) -> dict[str, Any]:
    """The payload as evidence, the secret part of the webhook path masked."""
    body = delivery.json()
    return {"path": delivery.path.rsplit("/", 1)[0] + "/<secret>", "channel": body.get("channel"),
            "username": body.get("username"),
            "attachments": [{"title": a.get("title"), "color": a.get("color"), "text": str(a.get("text"))[:400]}
                            for a in attachments(delivery)]}
