"""Strict TLS verification, as Python 3.13+ does it, on the Python running these tests.

The run's generated chain must pass every strict verifier a user's client may bring
(``client_context``, ``openssl verify -x509_strict``, cryptography's RFC 5280 verifier),
and the gate's clients must be strict themselves. The control: a chain built as the gate
used to build it (no Subject/Authority Key Identifiers), which a lax 3.11 context accepts
and every strict verifier must refuse — so these tests would have caught that bug.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from obsgate.bringup.secrets import RunSecrets
from obsgate.clients.gateway import Gateway
from obsgate.clients.tls import STRICT_FLAGS, client_context
from obsgate.clients.tlsprobe import verify_chain

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Chain:
    """A CA certificate and the server certificate and key it signed, as files."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def run(generated_secrets: RunSecrets) -> RunSecrets:
    return generated_secrets


@pytest.fixture(scope="module")
def generated(run: RunSecrets) -> Chain:
    return Chain(run.ca_cert, run.root / "nginx" / "server.crt", run.root / "nginx" / "server.key")


@pytest.fixture(scope="module")
def without_key_ids(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    """The chain as the gate generated it before: otherwise sound, but no SKI on the CA, no AKI on the leaf."""
    root = tmp_path_factory.mktemp("old-chain")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old run CA")])

    def builder(subject: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1)))

    ca = (builder(ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = (builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), key.public_key())
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = Chain(root / "ca.crt", root / "server.crt", root / "server.key")
    chain.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    chain.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return chain


class _NoContent(BaseHTTPRequestHandler):
    """Completes the handshake (bounded by ``timeout``), then answers any POST 204, as Loki's push does."""

    timeout = TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        self.connection.do_handshake()

    def do_POST(self) -> None:  # the name http.server dispatches to
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, *_: Any) -> None:
        pass    # refused handshakes are what some tests are about


def serve(chain: Chain) -> Iterator[int]:
    """An HTTPS server on 127.0.0.1 presenting ``chain``; yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain.cert, chain.key)
    server = _Server(("127.0.0.1", 0), _NoContent)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    thread.join(timeout=TIMEOUT_S)
    server.server_close()


@pytest.fixture(scope="module")
def generated_server(generated: Chain) -> Iterator[int]:
    yield from serve(generated)


@pytest.fixture(scope="module")
def old_server(without_key_ids: Chain) -> Iterator[int]:
    yield from serve(without_key_ids)


def handshake(port: int, context: ssl.SSLContext) -> str | None:
    """The negotiated protocol version of a verified handshake with server name "localhost"."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock, \
            context.wrap_socket(sock, server_hostname="localhost") as tls:
        return tls.version()


def lax_context(cafile: Path) -> ssl.SSLContext:
    """What ``ssl.create_default_context`` gave before Python 3.13 (cleared explicitly, so on any Python)."""
    context = ssl.create_default_context(cafile=str(cafile))
    context.verify_flags &= ~STRICT_FLAGS
    return context


def test_client_context_sets_what_python_313_sets() -> None:
    context = client_context(None)
    assert context.verify_flags & ssl.VERIFY_X509_STRICT
    assert context.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_client_context_makes_the_context_with_the_given_factory(generated: Chain) -> None:
    """How the Locust user gets a gevent context with the same flags."""
    calls: list[dict[str, Any]] = []

    def factory(**kwargs: Any) -> ssl.SSLContext:
        calls.append(kwargs)
        return ssl.create_default_context(**kwargs)

    context = client_context(generated.ca, factory)
    assert calls == [{"cafile": str(generated.ca)}] and context.verify_flags & ssl.VERIFY_X509_STRICT


def test_generated_chain_handshakes_in_strict_mode(generated_server: int, generated: Chain) -> None:
    assert handshake(generated_server, client_context(generated.ca)) in ("TLSv1.2", "TLSv1.3")


def test_chain_without_key_identifiers_passes_lax_verification(old_server: int, without_key_ids: Chain) -> None:
    """The control is otherwise sound: only strict mode (3.13+'s default) tells it apart."""
    assert handshake(old_server, lax_context(without_key_ids.ca)) in ("TLSv1.2", "TLSv1.3")


def test_chain_without_key_identifiers_fails_strict_verification(old_server: int, without_key_ids: Chain) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        handshake(old_server, client_context(without_key_ids.ca))
    assert "Key Identifier" in (caught.value.verify_message or ""), caught.value


def openssl_verify(chain: Chain) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl binary on PATH: cannot cross-check with `openssl verify -x509_strict`")
    return subprocess.run([openssl, "verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", str(chain.ca),
                           str(chain.cert)], capture_output=True, text=True, timeout=30)


def test_openssl_strict_verify_accepts_the_generated_chain(generated: Chain) -> None:
    result = openssl_verify(generated)
    assert result.returncode == 0, result.stdout + result.stderr


def test_openssl_strict_verify_refuses_a_chain_without_key_identifiers(without_key_ids: Chain) -> None:
    result = openssl_verify(without_key_ids)
    assert result.returncode != 0 and "Key Identifier" in result.stdout + result.stderr, result.stdout + result.stderr


def rfc5280_verify(chain: Chain, name: x509.DNSName | x509.IPAddress) -> list[x509.Certificate]:
    """cryptography's verifier: RFC 5280 and CA/B Forum profile checks, no OpenSSL involved."""
    ca = x509.load_pem_x509_certificate(chain.ca.read_bytes())
    leaf = x509.load_pem_x509_certificate(chain.cert.read_bytes())
    verifier = PolicyBuilder().store(Store([ca])).build_server_verifier(name)
    return verifier.verify(leaf, [])


@pytest.mark.parametrize("name", [x509.DNSName("localhost"), x509.DNSName("nginx"),
                                  x509.IPAddress(ipaddress.ip_address("127.0.0.1"))], ids=str)
def test_rfc5280_verifier_accepts_the_generated_chain(generated: Chain, name: x509.DNSName | x509.IPAddress) -> None:
    assert len(rfc5280_verify(generated, name)) == 2


def test_rfc5280_verifier_refuses_a_chain_without_key_identifiers(without_key_ids: Chain) -> None:
    with pytest.raises(VerificationError):
        rfc5280_verify(without_key_ids, x509.DNSName("localhost"))


def test_gateway_verifies_strictly(run: RunSecrets) -> None:
    tls = Gateway(cast(Any, None), run).tls
    assert tls.verify_flags & STRICT_FLAGS == STRICT_FLAGS


def test_chain_probe_verifies_strictly(old_server: int, without_key_ids: Chain) -> None:
    chain = verify_chain("127.0.0.1", old_server, without_key_ids.ca, "localhost")
    assert not chain.verified and "Key Identifier" in (chain.error or ""), chain.describe()


_LOCUST_SIDE = """
import ssl, socket, sys
from types import SimpleNamespace
from obsgate.load.user import _ssl_factory, preflight

port, ca = int(sys.argv[1]), sys.argv[2]
options = SimpleNamespace(host=f"https://localhost:{port}", ca_file=ca, push_auth=None, tls=True)
context = _ssl_factory(options)()
print(type(context).__module__, bool(context.verify_flags & ssl.VERIFY_X509_STRICT))
print(preflight(options, 5.0))
"""


def locust_side(port: int, chain: Chain) -> list[str]:
    """The Locust user's two contexts, in a process of their own (importing it monkey-patches with gevent)."""
    proc = subprocess.run([sys.executable, "-c", _LOCUST_SIDE, str(port), str(chain.ca)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def test_locust_user_verifies_strictly(generated_server: int, generated: Chain) -> None:
    assert locust_side(generated_server, generated) == ["gevent.ssl True", "None"]


def test_locust_preflight_refuses_a_chain_without_key_identifiers(old_server: int, without_key_ids: Chain) -> None:
    _, outcome = locust_side(old_server, without_key_ids)
    assert "TLS failed" in outcome and "Key Identifier" in outcome, outcome
