"""The TLS profile the edge is judged against, and what is wrong with a suite outside it.

nginx.conf claims Mozilla's "intermediate" configuration; its values are copied here once, with
their version and source, for the static check of nginx.conf (``obsgate.checks.static.nginx``)
and the live probe of the running proxy (``obsgate.checks.edge.ciphers``). A suite outside the
profile is named with its first weakness, in the order of ``WEAKNESSES``; one without any is
still outside the profile (AES-CCM, ARIA, Camellia, DSS: not weak, but not what nginx.conf claims).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from obsgate.clients.tlsprobe import Suite


@dataclass(frozen=True)
class Profile:
    """A published server-side TLS configuration, in OpenSSL's names."""

    name: str
    version: str
    source: str
    versions: tuple[str, ...]           # protocol versions, as ssl_protocols spells them
    ciphers: tuple[str, ...]            # TLS 1.2 suites (ssl_ciphers), in the profile's order
    ciphersuites: tuple[str, ...]       # TLS 1.3 suites (not controlled by ssl_ciphers)
    server_preferred_order: bool        # ssl_prefer_server_ciphers

    @property
    def cipher_string(self) -> str:
        """The profile's suites as one ``ssl_ciphers`` value."""
        return ":".join(self.ciphers)


# https://ssl-config.mozilla.org/guidelines/5.7.json, "intermediate" (its CHANGELOG: 5.7, 2023-05-15,
# appended DHE-RSA-CHACHA20-POLY1305); explained at https://wiki.mozilla.org/Security/Server_Side_TLS.
# Every suite is forward secret (ECDHE/DHE) and AEAD (GCM, ChaCha20-Poly1305).
MOZILLA_INTERMEDIATE = Profile(
    name="Mozilla intermediate",
    version="5.7",
    source="https://ssl-config.mozilla.org/guidelines/5.7.json",
    versions=("TLSv1.2", "TLSv1.3"),
    ciphers=(
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
    ),
    ciphersuites=("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"),
    server_preferred_order=False,
)

# Key exchanges with ephemeral keys: a stolen server key does not decrypt recorded sessions.
FORWARD_SECRET = ("ecdhe", "dhe", "ecdhe-psk", "dhe-psk")


@dataclass(frozen=True)
class Weakness:
    """A class of cipher suites the profile leaves out, and why."""

    name: str
    why: str
    markers: tuple[str, ...] = ()       # upper-case parts of suite names of this class, for names
                                        # this OpenSSL does not know (it dropped RC4, 3DES, EXPORT)
    examples: tuple[str, ...] = ()      # well-known suites of the class, to name what was not tried

    def __str__(self) -> str:
        return self.name


ANONYMOUS = Weakness("anonymous (aNULL)", "no server authentication: anyone on the path can impersonate the server",
                     ("ADH", "AECDH", "ANULL"), ("AECDH-AES128-SHA", "ADH-AES256-GCM-SHA384"))
NULL = Weakness("NULL encryption (eNULL)", "the traffic, credentials included, is sent in clear text",
                ("NULL",), ("ECDHE-ECDSA-NULL-SHA", "NULL-SHA256"))
EXPORT = Weakness("EXPORT", "deliberately weakened 40/56-bit keys (FREAK, Logjam)", ("EXP",),
                  ("EXP-RC4-MD5", "EXP-DES-CBC-SHA", "EXP-EDH-RSA-DES-CBC-SHA"))
RC4 = Weakness("RC4", "biased keystream, prohibited by RFC 7465", ("RC4",),
               ("RC4-SHA", "RC4-MD5", "ECDHE-RSA-RC4-SHA", "ECDHE-ECDSA-RC4-SHA"))
DES = Weakness("3DES/DES", "64-bit blocks (Sweet32, CVE-2016-2183); single DES has 56-bit keys",
               ("3DES", "DES-CBC", "DES-EDE", "EDE-CBC"),
               ("DES-CBC3-SHA", "ECDHE-RSA-DES-CBC3-SHA", "EDH-RSA-DES-CBC3-SHA", "DES-CBC-SHA"))
MD5 = Weakness("MD5", "MD5 message authentication", ("MD5",), ("NULL-MD5", "RC4-MD5"))
NO_FORWARD_SECRECY = Weakness(
    "no forward secrecy (static RSA/PSK key exchange)",
    "whoever obtains the server key later decrypts every recorded session", (),
    ("AES128-GCM-SHA256", "AES256-SHA"))
CBC = Weakness("CBC (MAC-then-encrypt)",
               "padding-oracle attacks (Lucky13 and kin) and SHA-1 MACs: Mozilla dropped CBC from intermediate in 5.0",
               ("CBC",), ("ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384"))
# In the order a suite is named by: the first that applies.
WEAKNESSES = (ANONYMOUS, NULL, EXPORT, RC4, DES, MD5, NO_FORWARD_SECRECY, CBC)
OUTSIDE = Weakness("other non-profile", "not weak, but not a suite of the profile nginx.conf claims")
UNKNOWN = Weakness("selecting nothing here",
                   "OpenSSL drops a name that selects nothing without a word: a typo, or suites this OpenSSL "
                   "no longer has (another build may still enable them)")


def weaknesses(suite: Suite) -> list[Weakness]:
    """Every weakness of ``suite`` in the order of WEAKNESSES: [] when it is in the profile, [OUTSIDE] when
    it has none (NULL-MD5 is both NULL and MD5)."""
    if suite.name in MOZILLA_INTERMEDIATE.ciphers:
        return []
    checks = (
        (ANONYMOUS, suite.auth == "null"),
        (NULL, suite.cipher is None),
        (EXPORT, suite.name.startswith("EXP")),
        (RC4, "rc4" in (suite.cipher or "")),
        (DES, "des" in (suite.cipher or "")),
        (MD5, suite.digest == "md5"),
        (NO_FORWARD_SECRECY, suite.kx not in FORWARD_SECRET),
        (CBC, not suite.aead),
    )
    return [w for w, applies in checks if applies] or [OUTSIDE]


def weakness(suite: Suite) -> Weakness | None:
    """The weakness ``suite`` is named by (its first); None when it is in the profile."""
    return next(iter(weaknesses(suite)), None)


def weakness_of_name(name: str) -> Weakness:
    """The weakness a suite name this OpenSSL does not know reads as (UNKNOWN when it says none)."""
    upper = name.upper()
    return next((w for w in WEAKNESSES if any(m in upper for m in w.markers)), UNKNOWN)


def by_weakness(suites: Iterable[Suite], named: Iterable[tuple[Weakness, str]] = ()) -> dict[Weakness, list[str]]:
    """The suites outside the profile, by weakness, in the order of WEAKNESSES, then OUTSIDE and UNKNOWN;
    ``named`` adds (weakness, label) pairs for names this OpenSSL does not know."""
    found: dict[Weakness, list[str]] = {}
    for suite in suites:
        if (kind := weakness(suite)) is not None:
            found.setdefault(kind, []).append(suite.name)
    for kind, label in named:
        found.setdefault(kind, []).append(label)
    order = (*WEAKNESSES, OUTSIDE, UNKNOWN)
    return dict(sorted(found.items(), key=lambda item: order.index(item[0])))
