"""obsgate.bringup.secrets: per-run TLS material, htpasswd files and passwords.

The certificates' RFC 5280 profile is checked here field by field; that strict verifiers accept
them (OpenSSL's X509_STRICT, ``openssl verify``, cryptography's verifier) is in test_tls.py.
"""

from __future__ import annotations

import ipaddress
import stat
import tempfile
from pathlib import Path
from typing import TypeVar

import bcrypt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from obsgate.bringup.secrets import RunSecrets, generate

E = TypeVar("E", bound=x509.ExtensionType)


@pytest.fixture(scope="module")
def run(generated_secrets: RunSecrets) -> RunSecrets:
    return generated_secrets


@pytest.fixture()
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make generate() create its directory under tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def extension(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def htpasswd_entry(path: Path) -> tuple[str, bytes]:
    user, _, hashed = path.read_text().strip().partition(":")
    return user, hashed.encode()


@pytest.mark.parametrize(
    "relative",
    [
        "ca.crt",
        "nginx/server.crt",
        "nginx/server.key",
        "nginx/htpasswd-push",
        "nginx/htpasswd-read",
        "alertmanager/slack_webhook_url",
    ],
)
def test_secrets_directory_has_every_file_the_compose_file_mounts(run: RunSecrets, relative: str) -> None:
    assert (run.root / relative).is_file()


def test_secrets_directory_is_named_after_the_run(run: RunSecrets) -> None:
    assert run.root.name.startswith("obsgate-unit-run-secrets-")


def test_ca_cert_path_points_at_the_ca_file(run: RunSecrets) -> None:
    assert run.ca_cert == run.root / "ca.crt"


def test_server_key_is_readable_by_owner_only(run: RunSecrets) -> None:
    assert stat.S_IMODE((run.root / "nginx" / "server.key").stat().st_mode) == 0o600


def test_push_htpasswd_verifies_the_push_password(run: RunSecrets) -> None:
    user, hashed = htpasswd_entry(run.root / "nginx" / "htpasswd-push")
    assert user == run.push.user
    assert bcrypt.checkpw(run.push.password.encode(), hashed)


def test_read_htpasswd_verifies_the_read_password(run: RunSecrets) -> None:
    user, hashed = htpasswd_entry(run.root / "nginx" / "htpasswd-read")
    assert user == run.read.user
    assert bcrypt.checkpw(run.read.password.encode(), hashed)


@pytest.mark.parametrize("name", ["htpasswd-push", "htpasswd-read"])
def test_htpasswd_rejects_a_wrong_password(run: RunSecrets, name: str) -> None:
    _, hashed = htpasswd_entry(run.root / "nginx" / name)
    assert not bcrypt.checkpw(b"wrong-password", hashed)


def test_push_htpasswd_does_not_accept_the_read_password(run: RunSecrets) -> None:
    _, hashed = htpasswd_entry(run.root / "nginx" / "htpasswd-push")
    assert not bcrypt.checkpw(run.read.password.encode(), hashed)


@pytest.mark.parametrize("name", ["htpasswd-push", "htpasswd-read"])
def test_htpasswd_uses_the_2a_bcrypt_prefix(run: RunSecrets, name: str) -> None:
    _, hashed = htpasswd_entry(run.root / "nginx" / name)
    assert hashed.startswith(b"$2a$")


def test_push_and_read_users_differ(run: RunSecrets) -> None:
    assert run.push.user != run.read.user


def test_basic_auth_pair_is_user_and_password(run: RunSecrets) -> None:
    assert run.push.pair == (run.push.user, run.push.password)


def test_server_certificate_is_issued_by_the_run_ca(run: RunSecrets) -> None:
    server = load_cert(run.root / "nginx" / "server.crt")
    server.verify_directly_issued_by(load_cert(run.ca_cert))


def test_ca_certificate_is_a_ca(run: RunSecrets) -> None:
    constraints = load_cert(run.ca_cert).extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca is True


def test_ca_certificate_has_the_extensions_strict_verification_requires(run: RunSecrets) -> None:
    ca = load_cert(run.ca_cert)
    constraints, usage = extension(ca, x509.BasicConstraints), extension(ca, x509.KeyUsage)
    assert constraints.critical and usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    ski = extension(ca, x509.SubjectKeyIdentifier)
    assert not ski.critical and ski.value == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())


def test_server_certificate_names_the_ca_key_that_signed_it(run: RunSecrets) -> None:
    ca_ski = extension(load_cert(run.ca_cert), x509.SubjectKeyIdentifier).value
    aki = extension(load_cert(run.root / "nginx" / "server.crt"), x509.AuthorityKeyIdentifier)
    assert not aki.critical and aki.value.key_identifier == ca_ski.digest


def test_server_certificate_is_a_tls_server_end_entity(run: RunSecrets) -> None:
    server = load_cert(run.root / "nginx" / "server.crt")
    constraints, usage = extension(server, x509.BasicConstraints), extension(server, x509.KeyUsage)
    assert constraints.value.ca is False and usage.critical
    assert usage.value.digital_signature and not usage.value.key_cert_sign and not usage.value.key_encipherment
    assert ExtendedKeyUsageOID.SERVER_AUTH in extension(server, x509.ExtendedKeyUsage).value
    assert extension(server, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(server.public_key())


def test_server_certificate_names_localhost_and_nginx(run: RunSecrets) -> None:
    sans = load_cert(run.root / "nginx" / "server.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "nginx"} <= set(sans.get_values_for_type(x509.DNSName))


def test_server_certificate_names_127_0_0_1(run: RunSecrets) -> None:
    sans = load_cert(run.root / "nginx" / "server.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)


def test_server_key_matches_the_server_certificate(run: RunSecrets) -> None:
    key = serialization.load_pem_private_key((run.root / "nginx" / "server.key").read_bytes(), password=None)
    cert = load_cert(run.root / "nginx" / "server.crt")
    pem, spki = serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(pem, spki) == cert.public_key().public_bytes(pem, spki)


def test_webhook_file_holds_the_webhook_url(run: RunSecrets) -> None:
    assert (run.root / "alertmanager" / "slack_webhook_url").read_text().strip() == run.slack_webhook_url


def test_generated_webhook_url_cannot_reach_slack(run: RunSecrets) -> None:
    assert run.slack_webhook_url.startswith("https://hooks.slack.invalid/")


def test_given_webhook_url_is_used(private_tmp: Path) -> None:
    secrets = generate("given", slack_webhook_url="http://127.0.0.1:9999/hook")
    assert (secrets.root / "alertmanager" / "slack_webhook_url").read_text().strip() == "http://127.0.0.1:9999/hook"


def test_env_gives_the_variables_the_compose_file_requires(run: RunSecrets) -> None:
    assert run.env == {"OBS_SECRETS_DIR": str(run.root), "GRAFANA_ADMIN_PASSWORD": run.grafana_admin_password,
                       "GRAFANA_SECRET_KEY": run.grafana_secret_key}


@pytest.mark.parametrize("attribute", ["push", "read"])
def test_values_contain_the_basic_auth_passwords(run: RunSecrets, attribute: str) -> None:
    auth = getattr(run, attribute)
    assert auth.password in run.values


def test_values_contain_the_grafana_admin_password(run: RunSecrets) -> None:
    assert run.grafana_admin_password in run.values


def test_values_contain_the_webhook_url(run: RunSecrets) -> None:
    assert run.slack_webhook_url in run.values


def test_values_contain_the_server_key_pem(run: RunSecrets) -> None:
    assert (run.root / "nginx" / "server.key").read_text().strip() in run.values


def test_values_have_no_empty_strings(run: RunSecrets) -> None:
    assert all(run.values)


def test_passwords_are_long_and_distinct(run: RunSecrets) -> None:
    passwords = [run.push.password, run.read.password, run.grafana_admin_password]
    assert len(set(passwords)) == 3 and all(len(p) >= 24 for p in passwords)


def test_two_runs_get_different_passwords_and_directories(private_tmp: Path) -> None:
    first, second = generate("one"), generate("two")
    assert first.root != second.root
    assert first.push.password != second.push.password
    assert first.read.password != second.read.password
    assert first.grafana_admin_password != second.grafana_admin_password
    assert first.slack_webhook_url != second.slack_webhook_url


def test_remove_deletes_the_directory(private_tmp: Path) -> None:
    secrets = generate("gone")
    secrets.remove()
    assert not secrets.root.exists()


def test_remove_twice_is_harmless(private_tmp: Path) -> None:
    secrets = generate("twice")
    secrets.remove()
    secrets.remove()
    assert not secrets.root.exists()
