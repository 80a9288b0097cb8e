"""alertmanager.yml as the compose alertmanager service mounts it: the one reader of the file, parsed once."""

from __future__ import annotations

from dataclasses import dataclass

from obsgate.core.yamlio import YamlFile
from obsgate.stackfiles.compose import ServiceSpec
from obsgate.stackfiles.mounts import flag_value, mounted_path

CONFIG_FLAGS = ("--config.file", "-config.file")
DEFAULT_CONFIG = "/etc/alertmanager/alertmanager.yml"


@dataclass(frozen=True)
class AlertmanagerConfig(YamlFile):
    """alertmanager.yml as the compose alertmanager service mounts it."""

    what = "Alertmanager config"

    @classmethod
    def of_service(cls, spec: ServiceSpec) -> AlertmanagerConfig:
        return cls.load(mounted_path(spec, flag_value(spec.command or (), CONFIG_FLAGS, DEFAULT_CONFIG)))

    def slack_channels(self, receiver: str) -> list[str]:
        """The Slack channels a receiver posts to (empty for an unknown receiver)."""
        for entry in self.doc.get("receivers") or []:
            if entry.get("name") == receiver:
                return [str(c.get("channel", "")) for c in entry.get("slack_configs") or []]
        return []
