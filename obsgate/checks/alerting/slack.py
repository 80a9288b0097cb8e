"""Slack incoming-webhook payloads as the receiver got them: which alert, which state, for whom."""

from __future__ import annotations

from typing import Any

from obsgate.clients.webhook import Delivery


def announces(delivery: Delivery, alertname: str, status: str = "FIRING", marker: str = "") -> bool:
    """Whether a Slack payload reports ``alertname`` in ``status`` (and carries ``marker`` in its text)."""
    return any(alertname in a.title and status in a.title.upper() and marker in a.text
               for a in delivery.slack().attachments)


def payload_summary(delivery: Delivery) -> dict[str, Any]:
    """The payload as evidence, the secret part of the webhook path masked."""
    message = delivery.slack()
    return {"path": delivery.path.rsplit("/", 1)[0] + "/<secret>", "channel": message.channel,
            "username": message.username,
            "attachments": [{"title": a.title, "color": a.color, "text": a.text[:400]} for a in message.attachments]}
