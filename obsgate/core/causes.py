"""Why checks were not evaluated, normalised so one cause is one line however many checks it hit.

A missing image makes every check needing that service (or a service depending on it)
not evaluated, each with the same long Docker error. `diagnose` turns such a reason into a
short per-check reason and a Cause that keeps the raw error once; `group_causes` counts
checks per cause for the reports. The reasons parsed are the harness's own wording
(obsgate.bringup.images, .stack, obsgate.run); anything else is its own cause, verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from obsgate.core.text import one_line

MAX_CAUSE = 200  # characters of a cause's or reason's text kept on its one line

_SERVICE = r"[A-Za-z0-9][\w.-]*"
_DOWN = rf"\b(?P<down>(?!which\b){_SERVICE}) cannot run here"
_DOCKER = re.compile(r"Docker engine unavailable(?::\s*(?P<detail>.*))?")
_IMAGE = re.compile(r"image unavailable: (?P<ref>\S+) is not present locally")
_PULLED = " and could not be pulled ("
_NEVER = " (--pull never)"
# Who the image clause is about, from the words right before it (first match wins).
_OWNER = (
    (re.compile(rf"depends on (?P<service>{_SERVICE}), which cannot run here \($"), False),
    (re.compile(rf"\b(?P<service>(?!which\b){_SERVICE}) cannot run here \($"), False),
    (re.compile(rf"candidate (?P<service>{_SERVICE})=\S+: $"), True),
    (re.compile(rf"(?:^|\s)(?P<service>{_SERVICE}): $"), False),
)
# Every service a reason names on the way to the image: its own, and those it depends on.
_NAMED = re.compile(rf"^(?P<own>{_SERVICE}): |depends on (?P<dep>{_SERVICE}),|{_DOWN}")

# What a failed pull's Docker error says, as words a person acts on (first match wins).
_PULL_ERRORS = (
    (("dial tcp", "no such host", "lookup ", "connection refused", "i/o timeout", "network is unreachable",
      "name resolution", "timeout"), "and no registry reachable", "pass {option}"),
    (("manifest unknown", "not found", "does not exist", "pull access denied"), "and not found in its registry",
     "check the reference, or pass {option}"),
    (("unauthorized", "authentication required", "denied"), "and the registry refused the pull",
     "docker login to the registry, or pass {option}"),
)


@dataclass(frozen=True)
class Cause:
    """One reason checks could not run: its identity, the words, the fix, and the raw error once."""

    key: str                          # what groups checks: "image:REF", "docker", or the reason itself
    text: str                         # e.g. "grafana/loki:2.9.3 not present locally and no registry reachable"
    hint: str = ""                    # the fix, e.g. "pass --image loki=REF"
    detail: str = ""                  # the raw error behind it (Docker's message), if any
    services: tuple[str, ...] = ()    # services it hit: the one it is about first, then those needing it


def diagnose(reason: str) -> tuple[str, Cause]:
    """A not-evaluated reason as (the check's short reason, its cause)."""
    text = reason.strip().splitlines()[0].strip() if reason.strip() else "no reason given"
    if m := _DOCKER.fullmatch(text):
        return "Docker engine unavailable", Cause(
            "docker", "Docker engine unavailable", "start Docker, or point DOCKER_HOST at a running engine",
            m["detail"] or "")
    if m := _IMAGE.search(text):
        return _image(text, m)
    short = one_line(text, MAX_CAUSE)
    return short, Cause(key=short, text=short)


def _image(text: str, m: re.Match[str]) -> tuple[str, Cause]:
    """ "… image unavailable: REF is not present locally …", inside any "cannot run here (…)" wrappers."""
    prefix, rest = text[: m.start()], text[m.end():]
    depth = max(prefix.count("(") - prefix.count(")"), 0)   # wrappers whose ")" end the text
    owner, candidate = next(((o["service"], c) for pattern, c in _OWNER if (o := pattern.search(prefix))),
                            (None, False))
    option = f"--{'candidate' if candidate else 'image'} {owner or 'SERVICE'}=REF"
    detail = ""
    if rest.startswith(_PULLED):
        detail = _unclose(rest[len(_PULLED):], depth + 1)
        words, hint = _pull_failure(detail, option)
    elif _unclose(rest, depth) == _NEVER:
        words, hint = _NEVER.strip(), f"pass {option}, or --pull missing to pull it"
    else:
        words, hint = _unclose(rest, depth).strip(), f"pass {option}"
    ref = m["ref"]
    what = f"{ref} not present locally" + (f" {words}" if words else "")
    named = [n["own"] or n["dep"] or n["down"] for n in _NAMED.finditer(prefix)]
    services = tuple(dict.fromkeys([owner, *reversed(named)])) if owner else ()
    cause = Cause(("candidate:" if candidate else "image:") + ref, what, hint, detail, services)
    return f"{prefix}image unavailable: {what}" + ")" * depth, cause


def _unclose(text: str, closing: int) -> str:
    """`text` without up to `closing` trailing ")" (a reason cut short may have lost them)."""
    for _ in range(closing):
        text = text.removesuffix(")")
    return text


def _pull_failure(detail: str, option: str) -> tuple[str, str]:
    lowered = detail.lower()
    for needles, words, hint in _PULL_ERRORS:
        if any(n in lowered for n in needles):
            return words, hint.format(option=option)
    return "and could not be pulled", f"pass {option} (the pull error is in gate.json)"
