"""Static Grafana policy: its security settings and provisioning judged from the files, no Grafana needed.

Where Grafana's image cannot run (no registry, air-gapped runner) these still say what
Grafana will do: settings as Grafana resolves them (compose environment over a mounted
grafana.ini over its defaults), provisioning as it reads it.
"""

import pytest

from obsgate.checks.static import grafana
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Security", weight=2)
def test_grafana_anonymous_access_is_off(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed P0-5: anonymous access shows every dashboard and proxies queries to Loki and Prometheus."""
    require_none(grafana.anonymous_access(stack_files.grafana), gate)


@pytest.mark.gate(category="Security", weight=1)
def test_grafana_self_sign_up_is_off(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Accounts are made by an admin; an open sign-up form gives anyone a Viewer login."""
    require_none(grafana.sign_up(stack_files.grafana), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_grafana_admin_password_is_a_required_secret(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed P0-5 default passwords: an admin password left unset is 'admin'."""
    require_none(grafana.admin_password(stack_files.grafana), gate)


@pytest.mark.gate(category="Security", weight=1)
def test_grafana_secret_key_is_a_required_secret(stack_files: StackFiles, gate: GateRecorder) -> None:
    """With the published default secret_key, a copy of grafana.db (a backup) reveals every datasource password."""
    require_none(grafana.secret_key(stack_files.grafana), gate)


@pytest.mark.gate(category="Security", weight=1)
def test_grafana_ini_holds_no_literal_secrets(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A mounted grafana.ini is committed: its passwords and keys must be references to deploy-time secrets."""
    require_none(grafana.ini_secrets(stack_files.grafana), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_root_url_is_the_public_url(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Links in alerts and login redirects use root_url: it must be where nginx serves Grafana."""
    served = stack_files.served_by_proxy(stack_files.grafana.spec.name)
    require_none(grafana.root_url(stack_files.grafana, stack_files.public_url, served), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_provisioning_files_parse(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed P1-1: a provisioning file Grafana cannot read provisions nothing, and only its log says so."""
    require_none(grafana.provisioning_parses(stack_files.grafana), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_datasources_have_unique_names_and_uids(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Two datasources with one name or uid: Grafana keeps one, and dashboards may show the other's data."""
    require_none(grafana.unique_datasources(stack_files.grafana), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_dashboard_provider_reads_the_shipped_dashboards(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed P1-1: a provider path nothing is mounted at provisions no dashboard, without an error."""
    require_none(grafana.dashboard_providers(stack_files.grafana), gate)


@pytest.mark.gate(category="Configuration", weight=1)
def test_grafana_dashboards_reference_provisioned_datasources(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A panel naming a datasource uid nothing provisions is empty ('datasource not found')."""
    require_none(grafana.datasource_references(stack_files.grafana), gate)
