"""Live: which weak cipher suites the running proxy negotiates at TLS 1.2.

Each weakness of ``obsgate.checks.tlsprofile`` is one offer of all its suites this client can
make; when the server picks one, that suite is taken out and the rest offered again, so every
accepted suite is named with one handshake each plus one refusal per weakness. What cannot be
tried is said, never passed: suites this Python's OpenSSL does not have (OpenSSL 3 has no RC4,
3DES or EXPORT), suites needing a certificate of another key type than the one served (a server
cannot negotiate them; the static check judges ssl_ciphers for them), and PSK/SRP suites (they need
a shared key or password, which nginx has not). When nothing at all could be offered the check is
not evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsgate.checks.tlsprofile import WEAKNESSES, Weakness, weakness, weaknesses
from obsgate.clients.tlsprobe import OPENSSL, CannotOffer, Suite, probe_ciphers, served_key, suites_of
from obsgate.core.errors import NotEvaluated

VERSION = "TLSv1.2"                              # TLS 1.3 has no weak suites; older versions are refused
EVERYTHING = "ALL:COMPLEMENTOFALL:@SECLEVEL=0"   # every suite this client's OpenSSL has
SHARED_SECRET_KX = ("psk", "srp")


@dataclass
class Tried:
    """One weakness: what was offered, what the server negotiated, what could not be offered and why."""

    weakness: Weakness
    offered: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    last_answer: str = ""                       # the refusal that ended the offers, as OpenSSL reports it
    not_tried: dict[str, list[str]] = field(default_factory=dict)   # reason -> suites

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.offered:
            out.update(offered=self.offered, accepted=self.accepted, last_answer=self.last_answer)
        if self.not_tried:
            out["not tried"] = self.not_tried
        return out


@dataclass
class WeakSuites:
    """The probe of every weakness against one server."""

    client: str
    certificate_key: str
    kinds: list[Tried]

    def accepted(self) -> dict[str, list[str]]:
        return {str(t.weakness): t.accepted for t in self.kinds if t.accepted}

    def untried(self) -> str:
        """Which weaknesses could not be tried, wholly or in part (the evidence names the suites and why)."""
        whole = [str(t.weakness) for t in self.kinds if t.not_tried and not t.offered]
        part = [str(t.weakness) for t in self.kinds if t.not_tried and t.offered]
        return (f"not tried: {', '.join(whole) or 'none'} wholly, {', '.join(part) or 'none'} in part "
                "(the evidence names the suites and why)")

    def evidence(self) -> dict[str, Any]:
        return {"client": self.client, "version offered": VERSION, "certificate key": self.certificate_key,
                **{f"{t.weakness}": t.evidence() for t in self.kinds}}

    def require_tried(self) -> None:
        """Nothing offered is no verdict: not evaluated, never a pass."""
        if not any(t.offered for t in self.kinds):
            raise NotEvaluated(f"no weak cipher suite could be offered by this client ({self.client}, "
                               f"{self.certificate_key.upper()} certificate): {self.untried()}")


def plan(client_suites: list[Suite], certificate_key: str) -> list[Tried]:
    """What to offer per weakness, and what cannot be offered with the reason."""
    kinds = {w: Tried(w) for w in WEAKNESSES}
    for suite in client_suites:
        kind = weakness(suite)
        if kind not in kinds:
            continue                                    # in the profile, or only outside it
        tried = kinds[kind]
        if any(k in suite.kx for k in SHARED_SECRET_KX):
            tried.not_tried.setdefault("needs a pre-shared key or password, which nginx has not", []).append(suite.name)
        elif suite.auth not in ("null", certificate_key):
            tried.not_tried.setdefault(f"needs a certificate for {suite.auth.upper()} authentication, the "
                                       f"server's key is {certificate_key.upper()}", []).append(suite.name)
        else:
            tried.offered.append(suite.name)
    for tried in kinds.values():
        if tried.offered or tried.not_tried:
            continue
        earlier = {s.name: weakness(s) for s in client_suites if tried.weakness in weaknesses(s)}
        for name, first in earlier.items():
            tried.not_tried.setdefault(f"also {first}: offered, or said why not, under that", []).append(name)
        if not earlier:
            tried.not_tried[f"{OPENSSL} here has none of them"] = list(tried.weakness.examples)
    return list(kinds.values())


def _offer(host: str, port: int, tried: Tried) -> None:
    """Offer the weakness's suites until the server refuses; each negotiated one is accepted and withdrawn."""
    remaining = list(tried.offered)
    while remaining:
        try:
            answer = probe_ciphers(host, port, remaining, VERSION)
        except CannotOffer as exc:
            tried.not_tried.setdefault(str(exc), []).extend(remaining)
            tried.offered = [s for s in tried.offered if s not in remaining]
            return
        if not answer.accepted or answer.cipher is None:
            tried.last_answer = answer.error or "refused"
            return
        tried.accepted.append(answer.cipher)
        if answer.cipher not in remaining:
            tried.last_answer = f"negotiated {answer.cipher}, which was not offered"
            return
        remaining.remove(answer.cipher)
    tried.last_answer = "every offered suite was accepted"


def probe_weak_suites(host: str, port: int) -> WeakSuites:
    """Offer each weakness's suites to ``host:port`` at TLS 1.2; ProbeError when the server cannot be reached."""
    key = served_key(host, port)
    kinds = plan(suites_of(EVERYTHING), key)
    for tried in kinds:
        _offer(host, port, tried)
    return WeakSuites(OPENSSL, key, kinds)
