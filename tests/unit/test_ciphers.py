"""Cipher suites against the Mozilla intermediate profile: the static judgement of nginx.conf's ssl_ciphers and
the live probe of a server's TLS 1.2 suites.

Static: nginx.conf snippets written to tmp_path (and the real file). Live: local ssl servers with the
certificate key and cipher string each test chooses, so an accepted weak suite is shown to be found and
what this client cannot offer to be listed, never passed.
"""

from __future__ import annotations

import datetime as dt
import ssl
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from obsgate.bringup.secrets import RunSecrets
from obsgate.checks.edge.ciphers import EVERYTHING, WeakSuites, plan, probe_weak_suites
from obsgate.checks.static import nginx as nginx_policy
from obsgate.checks.tlsprofile import (
    ANONYMOUS,
    CBC,
    DES,
    EXPORT,
    FORWARD_SECRET,
    MD5,
    MOZILLA_INTERMEDIATE,
    NO_FORWARD_SECRECY,
    NULL,
    RC4,
    UNKNOWN,
    weakness,
    weakness_of_name,
    weaknesses,
)
from obsgate.clients.tlsprobe import OPENSSL, CannotOffer, probe_ciphers, served_key, suites_of
from obsgate.core.errors import NotEvaluated
from obsgate.stackfiles.nginx import NginxConf
from tests.unit.tlsserver import serve_tls

ROOT = Path(__file__).resolve().parents[2]
PROFILE = MOZILLA_INTERMEDIATE.cipher_string


def conf(tmp_path: Path, server: str, http: str = "") -> NginxConf:
    path = tmp_path / "nginx.conf"
    path.write_text(textwrap.dedent("""\
        events {}
        http {
        %s
            server {
                listen 443 ssl;
        %s
            }
        }
        """) % (textwrap.indent(http, "    "), textwrap.indent(server, "        ")))
    return NginxConf.load(path)


def problems(findings: list) -> str:
    return "\n".join(str(f) for f in findings)


# --- the profile ------------------------------------------------------------------------


def test_every_profile_suite_is_known_forward_secret_and_aead() -> None:
    suites = suites_of(PROFILE)
    assert {s.name for s in suites} == set(MOZILLA_INTERMEDIATE.ciphers)
    assert all(s.kx in FORWARD_SECRET and s.aead and weakness(s) is None for s in suites)
    assert nginx_policy.MODERN_TLS == MOZILLA_INTERMEDIATE.versions == ("TLSv1.2", "TLSv1.3")


def test_a_suite_is_named_by_its_first_weakness() -> None:
    named = {s.name: s for s in suites_of(EVERYTHING)}
    assert weaknesses(named["NULL-MD5"]) == [NULL, MD5, NO_FORWARD_SECRECY, CBC]
    assert weakness(named["AECDH-AES128-SHA"]) is ANONYMOUS
    assert weakness(named["AES128-GCM-SHA256"]) is NO_FORWARD_SECRECY
    assert weakness(named["ECDHE-ECDSA-AES128-SHA"]) is CBC
    assert weakness(named["ECDHE-ECDSA-AES128-CCM"]).name == "other non-profile"


@pytest.mark.parametrize(("name", "kind"), [("RC4-SHA", RC4), ("DES-CBC3-SHA", DES), ("EDH-RSA-DES-CBC3-SHA", DES),
                                            ("EXP-RC4-MD5", EXPORT), ("ADH-RC4-MD5", ANONYMOUS),
                                            ("ECDHE-RSA-AES128-GCM-SHA265", UNKNOWN)])
def test_names_this_openssl_lacks_are_judged_by_name(name: str, kind: object) -> None:
    assert weakness_of_name(name) is kind


def test_a_cipher_string_selecting_nothing_is_an_error_with_openssls_words() -> None:
    with pytest.raises(ValueError, match="rejects it: No cipher can be selected"):
        suites_of("DES-CBC3-SHA:RC4-SHA")


# --- static: nginx.conf -------------------------------------------------------------------


def test_todays_nginx_conf_follows_the_profile() -> None:
    assert nginx_policy.tls_ciphers(NginxConf.load(ROOT / "stack" / "nginx" / "nginx.conf")) == []


def test_the_profile_and_a_subset_of_it_pass(tmp_path: Path) -> None:
    assert nginx_policy.tls_ciphers(conf(tmp_path, f"ssl_ciphers {PROFILE};\nssl_prefer_server_ciphers off;")) == []
    assert nginx_policy.tls_ciphers(conf(tmp_path, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;")) == []


def test_a_wide_cipher_string_names_every_weak_suite_by_weakness(tmp_path: Path) -> None:
    found = nginx_policy.tls_ciphers(conf(tmp_path, "ssl_ciphers ALL:@SECLEVEL=0:AES256-SHA:DES-CBC3-SHA;"))
    text = problems(found)
    assert all(f.key == "server(443 ssl).ssl_ciphers" and f.line == 6 for f in found), text
    assert [f.problem.split(":")[0] for f in found] == [
        "enables anonymous (aNULL) suites", "enables 3DES/DES suites",
        "enables no forward secrecy (static RSA/PSK key exchange) suites", "enables CBC (MAC-then-encrypt) suites",
        "enables other non-profile suites"]
    assert "AECDH-AES128-SHA" in found[0].problem and "AES256-SHA," in found[2].problem
    assert "DES-CBC3-SHA (none in this OpenSSL)" in found[1].problem and "Sweet32" in found[1].problem
    assert "ECDHE-ECDSA-AES128-SHA," in found[3].problem
    assert found[0].fix.startswith(f"ssl_ciphers {PROFILE};") and "5.7" in found[0].fix


def test_unset_ciphers_are_nginxs_default_which_enables_static_rsa(tmp_path: Path) -> None:
    found = nginx_policy.tls_ciphers(conf(tmp_path, "ssl_protocols TLSv1.2 TLSv1.3;"))
    assert found and all(f.problem.startswith("not set, so nginx's default HIGH:!aNULL:!MD5 ") for f in found)
    assert "AES128-GCM-SHA256" in problems(found) and found[0].line == 4        # the server block


def test_ciphers_are_inherited_from_http(tmp_path: Path) -> None:
    found = nginx_policy.tls_ciphers(conf(tmp_path, "", http="ssl_ciphers HIGH;"))
    assert found and {f.line for f in found} == {3}, problems(found)
    assert nginx_policy.tls_ciphers(conf(tmp_path, f"ssl_ciphers {PROFILE};", http="ssl_ciphers HIGH;")) == []


def test_tls13_only_takes_no_suite_from_ssl_ciphers(tmp_path: Path) -> None:
    assert nginx_policy.tls_ciphers(conf(tmp_path, "ssl_protocols TLSv1.3;\nssl_ciphers ALL:@SECLEVEL=0;")) == []


def test_a_string_openssl_rejects_and_a_typo_are_findings(tmp_path: Path) -> None:
    rejected = nginx_policy.tls_ciphers(conf(tmp_path, "ssl_ciphers NO-SUCH-SUITE;\nssl_prefer_server_ciphers on;"))
    assert len(rejected) == 2 and "No cipher can be selected: nginx refuses to start" in rejected[0].problem
    assert rejected[1].key.endswith("ssl_prefer_server_ciphers")
    typo = nginx_policy.tls_ciphers(conf(tmp_path, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA265;"))
    assert len(typo) == 1 and typo[0].problem.startswith("selects nothing in OpenSSL"), problems(typo)
    assert "ECDHE-RSA-AES128-GCM-SHA265 (none in this OpenSSL)" in typo[0].problem


def test_server_preference_is_left_to_the_client(tmp_path: Path) -> None:
    found = nginx_policy.tls_ciphers(conf(tmp_path, f"ssl_ciphers {PROFILE};\nssl_prefer_server_ciphers on;"))
    assert [f.key for f in found] == ["server(443 ssl).ssl_prefer_server_ciphers"]
    assert found[0].fix == "ssl_prefer_server_ciphers off;"


# --- live: the probe ----------------------------------------------------------------------


def _rsa_material(directory: Path) -> tuple[Path, Path]:
    """A self-signed RSA certificate: the gate's own are ECDSA, a deployment's may be RSA."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "rsa.crt", directory / "rsa.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def serve(cert: Path, key: Path, ciphers: str) -> Iterator[int]:
    """A TLS 1.2+ server with ``ciphers`` until the test ends; yields its port."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_ciphers(ciphers)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    yield from serve_tls(ctx)


@pytest.fixture
def wide_ecdsa(generated_secrets: RunSecrets) -> Iterator[int]:
    nginx = generated_secrets.root / "nginx"
    yield from serve(nginx / "server.crt", nginx / "server.key", "ALL:@SECLEVEL=0")


@pytest.fixture
def profile_ecdsa(generated_secrets: RunSecrets) -> Iterator[int]:
    nginx = generated_secrets.root / "nginx"
    yield from serve(nginx / "server.crt", nginx / "server.key", PROFILE)


@pytest.fixture
def wide_rsa(tmp_path: Path) -> Iterator[int]:
    yield from serve(*_rsa_material(tmp_path), "ALL:@SECLEVEL=0")


def test_probe_names_every_accepted_weak_suite(wide_ecdsa: int) -> None:
    probe = probe_weak_suites("127.0.0.1", wide_ecdsa)
    accepted = probe.accepted()
    assert probe.certificate_key == "ecdsa"
    assert {"AECDH-AES128-SHA", "AECDH-AES256-SHA"} <= set(accepted["anonymous (aNULL)"]), accepted
    assert {"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384"} <= set(accepted["CBC (MAC-then-encrypt)"])
    no_fs = probe.evidence()["no forward secrecy (static RSA/PSK key exchange)"]
    assert "no forward secrecy (static RSA/PSK key exchange)" not in accepted       # needs an RSA certificate
    assert "AES128-GCM-SHA256" in no_fs["not tried"]["needs a certificate for RSA authentication, the server's key is ECDSA"]
    assert "no forward secrecy (static RSA/PSK key exchange)" in probe.untried().partition(" wholly")[0]


def test_probe_finds_static_rsa_where_the_certificate_is_rsa(wide_rsa: int) -> None:
    probe = probe_weak_suites("127.0.0.1", wide_rsa)
    assert probe.certificate_key == "rsa"
    assert {"AES128-GCM-SHA256", "AES256-SHA"} <= set(probe.accepted()["no forward secrecy (static RSA/PSK key exchange)"])


def test_profile_server_accepts_no_weak_suite_and_says_what_was_not_tried(profile_ecdsa: int) -> None:
    probe = probe_weak_suites("127.0.0.1", profile_ecdsa)
    probe.require_tried()
    assert probe.accepted() == {}
    evidence = probe.evidence()
    assert evidence["anonymous (aNULL)"]["offered"] and evidence["anonymous (aNULL)"]["last_answer"]
    if not evidence["RC4"].get("offered"):                   # an OpenSSL that still has RC4 offers it
        assert evidence["RC4"]["not tried"] == {f"{OPENSSL} here has none of them": list(RC4.examples)}
    if not evidence["MD5"].get("offered"):                   # NULL-MD5 is tried (or not) as NULL encryption
        assert "NULL-MD5" in evidence["MD5"]["not tried"]["also NULL encryption (eNULL): offered, or said why not, under that"]


def test_nothing_offerable_is_not_evaluated_never_a_pass() -> None:
    probe = WeakSuites("OpenSSL test", "ecdsa", plan([], "ecdsa"))
    with pytest.raises(NotEvaluated, match="no weak cipher suite could be offered .* not tried: anonymous .*RC4"):
        probe.require_tried()
    only_rsa = [s for s in suites_of(EVERYTHING) if s.auth == "rsa" and s.kx == "rsa"]
    unoffered = WeakSuites("OpenSSL test", "ecdsa", plan(only_rsa, "ecdsa"))
    with pytest.raises(NotEvaluated, match="ECDSA certificate"):
        unoffered.require_tried()
    assert "AES128-GCM-SHA256" in unoffered.evidence()["no forward secrecy (static RSA/PSK key exchange)"]["not tried"][
        "needs a certificate for RSA authentication, the server's key is ECDSA"]


def test_a_suite_the_client_cannot_offer_is_no_refusal(profile_ecdsa: int) -> None:
    with pytest.raises(CannotOffer, match="cannot offer NO-SUCH-SUITE"):
        probe_ciphers("127.0.0.1", profile_ecdsa, ["NO-SUCH-SUITE"])
    assert served_key("127.0.0.1", profile_ecdsa) == "ecdsa"
