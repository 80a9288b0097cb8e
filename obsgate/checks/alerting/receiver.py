"""A Slack receiver of its own for an overlay's Alertmanager, so an overlay can never page the run's receiver.

Every file Alertmanager reads a Slack webhook URL from gets a directory of the overlay's
own, and so does every mount of the run's secrets; the URL files point to a webhook
receiver on the overlay network's gateway, started before the services.
"""

from __future__ import annotations

import posixpath
import uuid
from pathlib import Path

from obsgate.bringup.context import RunContext
from obsgate.bringup.overlay import with_mount
from obsgate.bringup.stack import Stack
from obsgate.clients.webhook import WebhookReceiver
from obsgate.stackfiles.alertmanager import AlertmanagerConfig
from obsgate.stackfiles.compose import ServiceSpec


def readable_dir(path: Path) -> Path:
    """A new directory the containers' unprivileged users can read."""
    path.mkdir()
    path.chmod(0o755)
    return path


def slack_url_files(config: AlertmanagerConfig) -> list[str]:
    """Every file Alertmanager reads a Slack webhook URL from (global and per receiver)."""
    files = [str((config.doc.get("global") or {}).get("slack_api_url_file", ""))]
    files += [str(s["api_url_file"]) for r in config.doc.get("receivers") or [] for s in r.get("slack_configs") or []
              if s.get("api_url_file")]
    return sorted({f for f in files if f})


class OwnReceiver:
    """The overlay's webhook receiver and the secret directories that point Alertmanager at it."""

    def __init__(self, run: RunContext, workdir: Path) -> None:
        self.dirs: dict[str, Path] = {}
        self.url_files: list[Path] = []
        self.webhook: WebhookReceiver | None = None
        spec = run.project.services.get("alertmanager")
        if spec is None:
            return      # nothing to point anywhere
        root = run.secrets.root.resolve()
        mounts = [m.target for m in spec.mounts if m.kind == "bind" and Path(m.source).resolve().is_relative_to(root)]
        self.dirs = {target: readable_dir(workdir / f"alertmanager-secrets-{i}") for i, target in enumerate(mounts)}
        for path in slack_url_files(AlertmanagerConfig.of_service(spec)):
            directory, name = posixpath.split(path)
            if directory not in self.dirs:
                self.dirs[directory] = readable_dir(workdir / f"alertmanager-secrets-{len(self.dirs)}")
            self.url_files.append(self.dirs[directory] / name)

    def alertmanager(self, spec: ServiceSpec) -> ServiceSpec:
        """``spec`` with the receiver's directories mounted over every secret and Slack URL directory."""
        for directory, host in self.dirs.items():
            spec = with_mount(spec, directory, host)
        return spec

    def start(self, stack: Stack) -> None:
        """Listen on the overlay's gateway and write the URL files (``overlay_stack``'s before-services hook)."""
        self.webhook = WebhookReceiver(stack.gateway_ip())
        url = self.webhook.url(f"/slack/{uuid.uuid4().hex}")
        for file in self.url_files:
            file.write_text(url + "\n")
            file.chmod(0o644)

    def close(self) -> None:
        if self.webhook is not None:
            self.webhook.close()
