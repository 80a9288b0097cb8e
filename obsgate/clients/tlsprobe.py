"""TLS handshake probes with the standard library's ssl module.

``probe_version`` pins one protocol version per attempt (minimum = maximum) and
lowers the client's OpenSSL security level to 0, so that a refused TLS 1.0/1.1
handshake is the server's refusal and not OpenSSL 3's own client-side policy
(which would otherwise offer no cipher at all for those versions). ``probe_ciphers``
does the same for a list of cipher suites at one version. A handshake the client
itself could not start raises ``ProbeError`` instead of counting as "refused".
``suites_of`` is what this Python's OpenSSL makes of a cipher string (as nginx's
``ssl_ciphers`` hands it to the same OpenSSL call); ``served_key`` the type of the
served certificate's key, which decides the suites a server can negotiate at all.
``verify_chain`` trusts only the given CA file and verifies strictly
(``obsgate.clients.tls``), as Python 3.13+ clients do.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from obsgate.clients.tls import client_context

VERSIONS: dict[str, ssl.TLSVersion] = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}
OPENSSL = ssl.OPENSSL_VERSION     # this Python's OpenSSL: what the probes can offer depends on it
# Reasons OpenSSL gives when the *client* cannot offer the pinned version at all.
_CLIENT_SIDE = {"NO_CIPHERS_AVAILABLE", "NO_PROTOCOLS_AVAILABLE", "NO_SUITABLE_SIGNATURE_ALGORITHM"}


class ProbeError(Exception):
    """The probe could not make a meaningful attempt (port closed, client cannot offer the version)."""


class CannotOffer(ProbeError):
    """This client's OpenSSL cannot offer what was asked (a version, or suites): nothing was tried."""


@dataclass(frozen=True)
class Handshake:
    """One handshake attempt with a single pinned protocol version (and, for cipher probes, the suites offered)."""

    version: str                    # the version offered, e.g. "TLSv1.1"
    accepted: bool
    negotiated: str | None = None   # what the connection ended up with
    cipher: str | None = None
    error: str | None = None        # the server's refusal as OpenSSL reports it
    offered: tuple[str, ...] = ()   # the suites offered; () = the client's default list

    def describe(self) -> str:
        what = f"{self.version} offering {':'.join(self.offered)}" if self.offered else self.version
        if self.accepted:
            return f"{what}: accepted ({self.negotiated}, {self.cipher})"
        return f"{what}: refused ({self.error})"


@dataclass(frozen=True)
class Suite:
    """A TLS 1.2-or-older cipher suite as this Python's OpenSSL describes it (``SSLContext.get_ciphers``)."""

    name: str               # OpenSSL's name, e.g. "ECDHE-ECDSA-AES128-GCM-SHA256"
    kx: str                 # key exchange: "ecdhe", "dhe", "rsa", "psk", "ecdhe-psk", "srp" ...
    auth: str               # server authentication: "ecdsa", "rsa", "dss", "psk", "null" (anonymous)
    cipher: str | None      # e.g. "aes-128-gcm"; None for NULL encryption
    digest: str | None      # the MAC's digest; None for AEAD suites
    aead: bool


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


def suites_of(cipher_string: str) -> list[Suite]:
    """The TLS 1.2-or-older suites OpenSSL enables for ``cipher_string``, in its order.

    TLS 1.3 suites are left out: a cipher string does not control them. Names this OpenSSL does
    not know are dropped silently, as OpenSSL does; a string that selects no suite at all is a
    ValueError with OpenSSL's words (nginx refuses to start on it).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers(cipher_string)
    except ssl.SSLError as exc:
        raise ValueError(f"{OPENSSL} rejects it: {str(exc.args[-1] if exc.args else exc).rstrip('.')}") from None
    return [Suite(c["name"], c["kea"].removeprefix("kx-"), c["auth"].removeprefix("auth-"), c["symmetric"],
                  c["digest"], c["aead"])
            for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"]


def _handshake(ctx: ssl.SSLContext, host: str, port: int, version: str, offered: tuple[str, ...],
               server_hostname: str | None, timeout_s: float) -> Handshake:
    try:
        sock = socket.create_connection((host, port), timeout=timeout_s)
    except OSError as exc:
        raise ProbeError(f"cannot connect to {host}:{port}: {exc}") from None
    with sock:
        try:
            with ctx.wrap_socket(sock, server_hostname=server_hostname) as tls:
                cipher = tls.cipher()
                return Handshake(version, True, tls.version(), cipher[0] if cipher else None, offered=offered)
        except ssl.SSLError as exc:
            if exc.reason in _CLIENT_SIDE:
                raise CannotOffer(f"this client cannot offer {':'.join(offered) or version}: {exc}") from None
            return Handshake(version, False, error=str(exc.reason or exc), offered=offered)
        except (ConnectionError, TimeoutError) as exc:
            return Handshake(version, False, error=f"{type(exc).__name__}: {exc}", offered=offered)


def probe_version(host: str, port: int, version: str, server_hostname: str | None = None,
                  timeout_s: float = 5.0) -> Handshake:
    """Try one handshake offering only ``version``; refusals are results, not errors."""
    return _handshake(probe_context(version), host, port, version, (), server_hostname, timeout_s)


def probe_ciphers(host: str, port: int, suites: Sequence[str], version: str = "TLSv1.2",
                  server_hostname: str | None = None, timeout_s: float = 5.0) -> Handshake:
    """Try one handshake at ``version`` offering only ``suites`` (OpenSSL names), at security level 0
    so that OpenSSL's own client policy does not drop the old ones; refusals are results."""
    ctx = probe_context(version)
    try:
        ctx.set_ciphers(":".join(suites) + ":@SECLEVEL=0")
    except ssl.SSLError as exc:
        raise CannotOffer(f"this client cannot offer {':'.join(suites)}: {exc}") from None
    return _handshake(ctx, host, port, version, tuple(suites), server_hostname, timeout_s)


def served_key(host: str, port: int, timeout_s: float = 5.0) -> str:
    """The served certificate's key type as a suite's ``auth`` names it ("ecdsa", "rsa", "dss"): a
    server negotiates only suites authenticated with its certificate's key (or anonymous ones)."""
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname, lax.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock, lax.wrap_socket(sock) as tls:
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"cannot fetch the certificate of {host}:{port}: {exc}") from None
    if not der:
        raise ProbeError(f"{host}:{port} served no certificate")
    key = x509.load_der_x509_certificate(der).public_key()
    kinds: tuple[tuple[type, str], ...] = ((rsa.RSAPublicKey, "rsa"), (ec.EllipticCurvePublicKey, "ecdsa"),
                                           (dsa.DSAPublicKey, "dss"))
    return next((name for kind, name in kinds if isinstance(key, kind)), type(key).__name__)


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


def verify_chain(host: str, port: int, ca_file: Path | None, server_hostname: str, timeout_s: float = 5.0) -> Chain:
    """Handshake trusting only ``ca_file`` (the system store if None) and checking ``server_hostname``; reports
    what was served."""
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
