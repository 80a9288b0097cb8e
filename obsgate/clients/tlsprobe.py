"""TLS handshake probes with the standard library's ssl module.

``probe_version`` pins one protocol version per attempt (minimum = maximum) and
lowers the client's OpenSSL security level to 0, so that a refused TLS 1.0/1.1
handshake is the server's refusal and not OpenSSL 3's own client-side policy
(which would otherwise offer no cipher at all for those versions). A handshake
the client itself could not start raises ``ProbeError`` instead of counting as
"refused". ``verify_chain`` trusts only the given CA file and verifies strictly
(``obsgate.clients.tls``), as Python 3.13+ clients do.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from obsgate.clients.tls import client_context

VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
# Reasons OpenSSL gives when the *client* cannot offer the pinned version at all.
_CLIENT_SIDE = {"NO_CIPHERS_AVAILABLE", "NO_PROTOCOLS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"}


class ProbeError(Exception):
    """The probe could not make a meaningful attempt (port closed, client cannot offer the version)."""


@dataclass(frozen=True)
class Handshake:
    """One handshake attempt with a single pinned protocol version."""

    version: str                    # the version offered, e.g. "TLSv1.1"
    accepted: bool
    negotiated: str | None = None   # what the connection ended up with
    cipher: str | None = None
    error: str | None = None        # the server's refusal as OpenSSL reports it

    def describe(self) -> str:
        if self.accepted:
            return f"{self.version}: accepted ({self.negotiated}, {self.cipher})"
        return f"{self.version}: refused ({self.error})"


def probe_context(version: str) -> ssl.SSLContext:
    """A client context offering exactly ``version``, any cipher, no certificate checks."""
    if version not in VERSIONS:
        raise ValueError(f"unknown TLS version {version!r} (known: {', '.join(VERSIONS)})")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TLSv1/TLSv1_1 members are deprecated
        ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    return ctx


def probe_version(host: str, port: int, version: str, server_hostname: str | None = None,
                  timeout_s: float = 5.0) -> Handshake:
    """Try one handshake offering only ``version``; refusals are results, not errors."""
    ctx = probe_context(version)
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise ProbeError(f"cannot connect to {host}:{port}: {exc}") from None
    with sock:
        try:
            with ctx.wrap_socket(sock, server_hostname=server_hostname) as tls:
                cipher = tls.cipher()
                return Handshake(version, True, tls.version(), cipher[0] if cipher else None)
        except ssl.SSLError as exc:
            if exc.reason in _CLIENT_SIDE:
                raise ProbeError(f"this client cannot offer {version}: {exc}") from None
            return Handshake(version, False, error=str(exc.reason or exc))
        except (ConnectionError, TimeoutError) as exc:
            return Handshake(version, False, error=f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Chain:
    """The server certificate as a client trusting only one CA sees it."""

    verified: bool
    error: str | None = None
    subject: str = ""
    issuer: str = ""
    not_after: str = ""
    names: tuple[str, ...] = ()

    def describe(self) -> str:
        head = "verified" if self.verified else f"NOT verified ({self.error})"
        return f"{head}; subject {self.subject!r}, issuer {self.issuer!r}, names {list(self.names)}, until {self.not_after}"


def _certificate(der: bytes | None) -> dict[str, object]:
    if not der:
        return {}
    cert = x509.load_der_x509_certificate(der)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n.value) for n in sans)
    except x509.ExtensionNotFound:
        names = ()
    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "not_after": cert.not_valid_after_utc.isoformat(), "names": names}


def verify_chain(host: str, port: int, ca_file: Path, server_hostname: str, timeout_s: float = 5.0) -> Chain:
    """Handshake trusting only ``ca_file`` (and checking ``server_hostname``); reports what was served."""
    strict = client_context(ca_file)
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock, \
                strict.wrap_socket(sock, server_hostname=server_hostname) as tls:
            return Chain(True, **_certificate(tls.getpeercert(binary_form=True)))  # type: ignore[arg-type]
    except ssl.SSLCertVerificationError as exc:
        error = exc.verify_message or str(exc)
    except ssl.SSLError as exc:
        error = str(exc)
    except OSError as exc:
        raise ProbeError(f"cannot connect to {host}:{port}: {exc}") from None
    # Not verified: fetch the certificate without verification, to show what was served.
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname, lax.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout_s) as sock, \
            lax.wrap_socket(sock, server_hostname=server_hostname) as tls:
        return Chain(False, error, **_certificate(tls.getpeercert(binary_form=True)))  # type: ignore[arg-type]
