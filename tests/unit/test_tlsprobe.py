"""The TLS probes against local ssl servers whose protocol versions we choose.

Proves the probe can *succeed* with TLS 1.1 when a server allows it (so a refusal
seen from nginx is nginx's), that it reports refusals as results, and that the
chain check trusts only the given CA.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Iterator

import pytest

from obsgate.bringup.secrets import RunSecrets, generate
from obsgate.clients.tlsprobe import VERSIONS, ProbeError, probe_context, probe_version, verify_chain
from tests.unit.tlsserver import serve_tls


@pytest.fixture(scope="module")
def tls_material() -> Iterator[tuple[RunSecrets, RunSecrets]]:
    """Two independent CAs with server certificates (the second one is 'someone else's')."""
    ours, theirs = generate("unit-tls"), generate("unit-tls-other")
    yield ours, theirs
    ours.remove()
    theirs.remove()


def serve(material: RunSecrets, low: str, high: str) -> Iterator[int]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(material.root / "nginx" / "server.crt", material.root / "nginx" / "server.key")
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version, ctx.maximum_version = VERSIONS[low], VERSIONS[high]
    yield from serve_tls(ctx)


@pytest.fixture
def legacy_server(tls_material: tuple[RunSecrets, RunSecrets]) -> Iterator[int]:
    """A server that allows TLS 1.1 only."""
    yield from serve(tls_material[0], "TLSv1.1", "TLSv1.1")


@pytest.fixture
def modern_server(tls_material: tuple[RunSecrets, RunSecrets]) -> Iterator[int]:
    """A server like the production nginx: TLS 1.2 and 1.3."""
    yield from serve(tls_material[0], "TLSv1.2", "TLSv1.3")


def test_probe_succeeds_with_tls11_where_the_server_allows_it(legacy_server: int) -> None:
    result = probe_version("127.0.0.1", legacy_server, "TLSv1.1")
    assert result.accepted and result.negotiated == "TLSv1.1", result.describe()


def test_without_security_level_0_the_client_itself_cannot_offer_tls11(legacy_server: int) -> None:
    """Why the probe lowers SECLEVEL: OpenSSL 3's default would refuse on the client side."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", legacy_server), timeout=3) as sock, \
            pytest.raises(ssl.SSLError, match="NO_CIPHERS_AVAILABLE|no ciphers available"):
        ctx.wrap_socket(sock)


def test_probe_reports_refusals_as_results(legacy_server: int, modern_server: int) -> None:
    for version in ("TLSv1", "TLSv1.2", "TLSv1.3"):
        result = probe_version("127.0.0.1", legacy_server, version)
        assert not result.accepted and result.error, result.describe()
    for version in ("TLSv1", "TLSv1.1"):
        assert not probe_version("127.0.0.1", modern_server, version).accepted
    for version in ("TLSv1.2", "TLSv1.3"):
        result = probe_version("127.0.0.1", modern_server, version)
        assert result.accepted and result.negotiated == version, result.describe()


def test_probe_of_a_closed_port_is_an_error_not_a_refusal() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ProbeError, match="cannot connect"):
        probe_version("127.0.0.1", port, "TLSv1.2")


def test_chain_verifies_against_its_own_ca_only(modern_server: int,
                                                tls_material: tuple[RunSecrets, RunSecrets]) -> None:
    ours, theirs = tls_material
    good = verify_chain("127.0.0.1", modern_server, ours.ca_cert, "localhost")
    assert good.verified and "obs-gate run CA" in good.issuer and "localhost" in good.names, good.describe()
    bad = verify_chain("127.0.0.1", modern_server, theirs.ca_cert, "localhost")
    assert not bad.verified and bad.error, bad.describe()
    assert "localhost" in bad.names    # what was served is still shown


def test_chain_check_includes_the_name(modern_server: int, tls_material: tuple[RunSecrets, RunSecrets]) -> None:
    wrong = verify_chain("127.0.0.1", modern_server, tls_material[0].ca_cert, "grafana.example")
    assert not wrong.verified and "mismatch" in (wrong.error or "").lower(), wrong.describe()


def test_unknown_version_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown TLS version"):
        probe_context("SSLv3")

