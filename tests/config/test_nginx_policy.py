"""Static policy on the nginx.conf the compose file mounts (crossplane; nginx's inheritance rules)."""

import pytest

from obsgate.checks.static import nginx
from obsgate.checks.static.files import StackFiles, require_none
from obsgate.core.recorder import GateRecorder


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_redirects_http_to_https(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Credentials must never cross the network in clear text."""
    require_none(nginx.https_redirect(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_allows_only_tls_1_2_and_newer(stack_files: StackFiles, gate: GateRecorder) -> None:
    """TLS 1.0/1.1 are broken; nginx 1.22 still enables them unless told otherwise."""
    require_none(nginx.tls_protocols(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_ciphers_follow_mozilla_intermediate(stack_files: StackFiles, gate: GateRecorder) -> None:
    """nginx.conf claims Mozilla intermediate: no anonymous, NULL, RC4, 3DES, CBC or static-RSA suite."""
    require_none(nginx.tls_ciphers(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_sends_hsts_and_nosniff_everywhere(stack_files: StackFiles, gate: GateRecorder) -> None:
    """A location with its own add_header silently drops the server's security headers."""
    require_none(nginx.security_headers(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_cors_origin_is_an_allow_list(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed: Access-Control-Allow-Origin '*'. Only the POS origins may push from a browser."""
    require_none(nginx.cors_allow_list(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=1)
def test_nginx_conf_cors_headers_are_always_sent(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Without `always`, a 401/429 loses CORS and the browser hides the real status."""
    require_none(nginx.cors_always(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=1)
def test_nginx_conf_cors_allows_authorization(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Push needs credentials, so the preflight must allow the Authorization header."""
    require_none(nginx.cors_authorization(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=3)
def test_nginx_conf_requires_auth_for_push_query_and_prometheus(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed #10 'no authentication on Loki endpoint': logs and metrics are not public."""
    require_none(nginx.auth(stack_files.nginx), gate)


@pytest.mark.gate(category="Security", weight=2)
def test_nginx_conf_rate_limits_push(stack_files: StackFiles, gate: GateRecorder) -> None:
    """Seed #9: a store in an error loop must not overwhelm Loki."""
    require_none(nginx.push_rate_limit(stack_files.nginx), gate)
