"""Static policy on the switches of management APIs, with what nginx.conf routes to them."""

import pytest

from obsgate.checks.static import management
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Security", weight=2)
def test_management_apis_switched_on_are_not_routed_by_nginx(stack_files: StackFiles, gate: GateRecorder) -> None:
    """--web.enable-lifecycle, --web.enable-admin-api, Loki's delete and ruler APIs: on only out of nginx's reach."""
    require_none(management.exposed(stack_files), gate)
