"""Per-run secrets: TLS material, htpasswd files, passwords, the Slack webhook URL.

Generated fresh for every run into a private temp directory laid out as the compose
file's ``OBS_SECRETS_DIR`` expects, never committed, removed at teardown, and listed
in ``values`` so reports can scrub them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets as _secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from obsgate.bringup.cleanup import scratch_dir

# Low bcrypt cost on purpose: nginx re-hashes on every request, and these passwords are
# 32 random characters, so the cost factor buys nothing but CPU under load.
_BCRYPT_ROUNDS = 5
SERVER_NAMES = ("localhost", "nginx")
# How the run's own clients name the stack (its OBS_PUBLIC_URL): nginx's certificate is issued for it.
PUBLIC_URL = "https://localhost"


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password: str

    @property
    def pair(self) -> tuple[str, str]:
        return self.user, self.password


@dataclass
class RunSecrets:
    """Where the run's secrets live and what they are (never printed: see ``values``)."""

    root: Path
    ca_cert: Path | None        # None: a --target verified against the system store
    push: BasicAuth
    read: BasicAuth
    grafana_admin_password: str
    grafana_secret_key: str
    slack_webhook_url: str
    grafana_token: str = ""     # a target's Grafana service-account token (--target only)

    @property
    def env(self) -> dict[str, str]:
        """Variables stack/docker-compose.yml requires."""
        return {"OBS_SECRETS_DIR": str(self.root), "GRAFANA_ADMIN_PASSWORD": self.grafana_admin_password,
                "GRAFANA_SECRET_KEY": self.grafana_secret_key}

    @property
    def values(self) -> tuple[str, ...]:
        """Every secret string, for scrubbing reports and logs."""
        key = (self.root / "nginx" / "server.key").read_text() if (self.root / "nginx" / "server.key").exists() else ""
        return tuple(v for v in (self.push.password, self.read.password, self.grafana_admin_password,
                                 self.grafana_secret_key, self.slack_webhook_url, self.grafana_token,
                                 key.strip()) if v)

    def set_slack_webhook_url(self, url: str) -> None:
        """Point Alertmanager's Slack receiver at ``url`` (before Alertmanager starts)."""
        self.slack_webhook_url = url
        _write(self.root / "alertmanager" / "slack_webhook_url", url + "\n")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _password() -> str:
    return _secrets.token_urlsafe(24)


def _htpasswd(auth: BasicAuth) -> str:
    # $2a$ rather than $2b$: musl (nginx:alpine) and glibc crypt(3) both verify it.
    hashed = bcrypt.hashpw(auth.password.encode(), bcrypt.gensalt(_BCRYPT_ROUNDS, prefix=b"2a"))
    return f"{auth.user}:{hashed.decode()}\n"


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o755)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def _tls(root: Path) -> Path:
    """A throwaway CA and a server certificate for nginx; returns the CA certificate path.

    Both follow the RFC 5280 profile that strict verifiers demand: OpenSSL's ``X509_STRICT``
    (Python 3.13+ sets it in ``ssl.create_default_context``, and ``obsgate.clients.tls`` on every
    Python) refuses a CA without a Subject Key Identifier and a leaf without an Authority Key
    Identifier, and cryptography's ``PolicyBuilder`` checks the same profile.
    """
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "obs-gate run CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        # An ECDSA key only signs the handshake (ECDHE does the key exchange): digitalSignature alone.
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path = root / "ca.crt"
    _write(ca_path, ca_cert.public_bytes(pem))
    _write(root / "nginx" / "server.crt", cert.public_bytes(pem))
    _write(root / "nginx" / "server.key", key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), 0o600)
    return ca_path


def _key_usage(*, digital_signature: bool = False, key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
                         encipher_only=False, decipher_only=False)


def generate(run_id: str, slack_webhook_url: str | None = None) -> RunSecrets:
    """Create the run's secrets directory with everything the compose file mounts."""
    root = scratch_dir(run_id, "secrets")
    root.chmod(0o755)
    push, read = BasicAuth("pos-push", _password()), BasicAuth("sre-read", _password())
    _write(root / "nginx" / "htpasswd-push", _htpasswd(push))
    _write(root / "nginx" / "htpasswd-read", _htpasswd(read))
    run = RunSecrets(root, _tls(root), push, read, _password(), _password(), "")
    # Until the run's webhook receiver exists, an address that resolves nowhere.
    run.set_slack_webhook_url(slack_webhook_url or f"https://hooks.slack.invalid/services/{_secrets.token_hex(16)}")
    return run
