"""Readiness probes that need nothing inside the image, and probe failures named as such.

Exec'ing a healthcheck needs its program (and, for ``CMD-SHELL``, a ``/bin/sh``) inside the
image; distroless images have neither. So a healthcheck that only fetches a URL of the
container itself (``wget -q -O /dev/null http://127.0.0.1:3100/ready``, ``curl -f ...``) is
run from the host against the container's address on its network; only a healthcheck that
cannot be translated — or a port that does not answer there, e.g. a loopback-only listener
— is exec'd. An exec that cannot run at all (no shell, program missing, crash) is a
``ProbeFailed`` naming the probe, never a timeout blamed on the service.
"""

from __future__ import annotations

import re
import shlex
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from obsgate.core.wait import WaitTimeout, poll
from obsgate.stackfiles.compose import ComposeProject

SHELLS = {"sh", "ash", "dash", "bash"}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
HTTP_TIMEOUT_S = 5.0
# A shell's "ok" tail that changes nothing but the exit code: `... || exit 1`.
_OK_TAILS: tuple[list[str], ...] = (["||", "exit", "1"], ["||", "false"], [])
# Options that do not change what a wget / curl probe asks or what counts as success.
_WGET_FLAGS = {"-q", "--quiet", "-nv", "--no-verbose", "--spider", "-S", "--server-response"}
_WGET_VALUED = {"-O", "--output-document", "-T", "--timeout", "-t", "--tries"}
_CURL_FLAGS = {"-f", "--fail", "--fail-with-body", "-s", "--silent", "-S", "--show-error", "-L", "--location"}
_CURL_VALUED = {"-o", "--output", "-m", "--max-time", "--connect-timeout", "--retry", "-w", "--write-out"}
_NOT_STARTED = re.compile(r"executable file not found|no such file or directory|permission denied", re.I)
_SHELL_MISSING = re.compile(r"(?m)(?:^|: )([^\s:]+): (?:command not found|not found|No such file or directory)\s*$")
_SHELL_CRASH = re.compile(r"Segmentation fault|Illegal instruction|Bus error|Aborted|Floating point exception")


class ProbeFailed(AssertionError):
    """The probe itself cannot run (no shell, program missing, crashed): not the service's fault."""


class Stopped(AssertionError):
    """The probed program is no longer running: waiting for it is over."""


class Target(Protocol):
    """A container a probe can ask: its address on its network, an exec, and whether it still runs."""

    @property
    def ip(self) -> str | None: ...

    def exec(self, argv: Sequence[str], timeout_s: float = ...) -> tuple[int, str]: ...

    def stopped(self) -> str | None: ...


@dataclass(frozen=True)
class HttpProbe:
    """A GET of one of the container's own ports; ``ok_below`` None = any HTTP answer passes."""

    port: int
    path: str
    ok_below: int | None = 400
    follow_redirects: bool = True

    def url(self, host: str) -> str:
        return f"http://{host}:{self.port}{self.path}"

    def passes(self, status: int) -> bool:
        return self.ok_below is None or 200 <= status < self.ok_below

    def get(self, address: str, timeout_s: float) -> httpx.Response:
        """The GET, from this host to ``address`` (never through a proxy); httpx.HTTPError if unanswered."""
        return httpx.get(self.url(address), timeout=timeout_s, follow_redirects=self.follow_redirects, trust_env=False)


def _words(argv: Sequence[str]) -> list[str] | None:
    """The probe command's words: exec form as is, ``sh -c`` only when it is one plain command."""
    if len(argv) == 3 and argv[0].rsplit("/", 1)[-1] in SHELLS and argv[1] == "-c":
        if re.search(r"[$`\\]", argv[2]):
            return None
        lexer = shlex.shlex(argv[2], posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        try:
            tokens = list(lexer)
        except ValueError:
            return None
        for tail in _OK_TAILS:
            head = tokens[: len(tokens) - len(tail)]
            if tokens[len(head):] == tail and head and not any(re.fullmatch(r"[;&|<>()]+", t) for t in head):
                return head
        return None
    return list(argv)


def _options(args: list[str], flags: set[str], valued: set[str]) -> tuple[list[str], set[str]] | None:
    """(positional arguments, flags given), or None when an option is not known to be harmless."""
    positional: list[str] = []
    given: set[str] = set()
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
        elif arg in flags:
            given.add(arg)
        elif arg in valued:
            i += 1
        elif arg.startswith("--"):
            if arg.split("=", 1)[0] not in valued or "=" not in arg:
                return None
        else:  # a cluster such as -qO- or -sf
            for j, char in enumerate(arg[1:], start=1):
                if f"-{char}" in valued:
                    i += 0 if arg[j + 1:] else 1
                    break
                if f"-{char}" not in flags:
                    return None
                given.add(f"-{char}")
        i += 1
    return positional, given


def http_probe(argv: Sequence[str]) -> HttpProbe | None:
    """The GET a healthcheck makes when it is just a wget / curl of the container's own URL; else None."""
    words = _words(argv)
    if not words:
        return None
    program, args = words[0].rsplit("/", 1)[-1], words[1:]
    if program not in ("wget", "curl"):
        return None
    parsed = _options(args, *((_WGET_FLAGS, _WGET_VALUED) if program == "wget" else (_CURL_FLAGS, _CURL_VALUED)))
    if parsed is None or len(parsed[0]) != 1:
        return None
    urls, given = parsed
    url = urlsplit(urls[0])
    if url.scheme != "http" or url.hostname not in LOOPBACK:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    if program == "wget":  # fails on 4xx/5xx, follows redirects
        return HttpProbe(url.port or 80, path)
    fails = bool(given & {"-f", "--fail", "--fail-with-body"})  # without --fail any answer is a success
    return HttpProbe(url.port or 80, path, 400 if fails else None, bool(given & {"-L", "--location"}))


def program_of(argv: Sequence[str]) -> str:
    """The program a probe runs: the first word of a ``sh -c`` script, else argv[0]."""
    if len(argv) == 3 and argv[0].rsplit("/", 1)[-1] in SHELLS and argv[1] == "-c" and argv[2].split():
        return argv[2].split()[0]
    return argv[0]


def cannot_run(argv: Sequence[str], code: int, output: str) -> str | None:
    """Why an exec'd probe did not run at all (missing shell or program, crash); None if it ran."""
    if code == 0:
        return None
    shell = argv[0].rsplit("/", 1)[-1] in SHELLS
    runtime = "OCI runtime" in output or f'"{argv[0]}"' in output  # the engine could not start argv[0] itself
    if code in (126, 127) and runtime and _NOT_STARTED.search(output):
        if "permission denied" in output.lower():
            return f"probe `{argv[0]}` cannot be executed in the image"
        return f"no {argv[0]} in the image" if shell else f"probe `{argv[0]}` is not in the image"
    if shell and (missing := _SHELL_MISSING.search(output)):
        return f"probe `{missing.group(1)}` is not in the image"
    program = program_of(argv)
    if 128 < code <= 128 + 64:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"probe `{program}` exited {code} (crashed: {name})"
    if shell and (crash := _SHELL_CRASH.search(output)):
        return f"probe `{program}` crashed ({crash.group(0)}, as its shell reported)"
    return None


def never_healthy(project: ComposeProject, service: str) -> str:
    """What a healthcheck that never passes does under compose: who never starts because of it."""
    waiting = {n: s for n, s in project.services.items() if any(
        d.service == service and d.condition == "service_healthy" for d in s.depends_on)}
    blocked, queue = list(waiting), list(waiting)
    while queue:  # and whatever depends on those, in any way
        current = queue.pop()
        for name, spec in project.services.items():
            if name not in blocked and any(d.service == current for d in spec.depends_on):
                blocked.append(name)
                queue.append(name)
    text = "the container never becomes healthy"
    if not blocked:
        return text
    named = [f"{n} (depends_on: service_healthy)" if n in waiting else f"{n} (through its dependencies)" for n in blocked]
    return f"{text}, so {' and '.join(named)} never start{'s' if len(named) == 1 else ''}"


class Probe:
    """Readiness of one container: GET from the host where possible, else (or also) exec ``command``.

    ``confirm``: once the host GET passes, ``command`` must also pass in the container
    (compose judges health by it), so a healthcheck that cannot run there is caught.
    """

    def __init__(
        self,
        what: str,
        target: Target,
        *,
        http: HttpProbe | None = None,
        command: Sequence[str] | None = None,
        timeout_s: float = HTTP_TIMEOUT_S,
        confirm: bool = False,
    ) -> None:
        if http is None and command is None:
            raise ValueError("a probe needs an HTTP GET or a command")
        self.what, self.target, self.http, self.command = what, target, http, command
        self.timeout_s, self.confirm = timeout_s, confirm
        self.exec_broken = ""  # why ``command`` cannot run in the container, once known
        self.reached = False  # the host reached the container's port at least once
        self.seen_host = self.seen_exec = ""

    @classmethod
    def healthcheck(cls, what: str, target: Target, command: Sequence[str], timeout_s: float,
                    confirm: bool = True) -> Probe:
        """A compose healthcheck: over HTTP from the host when it is a plain URL fetch, confirmed by exec if ``confirm``."""
        http = http_probe(command)
        return cls(what, target, http=http, command=command, timeout_s=timeout_s, confirm=confirm and http is not None)

    @property
    def seen(self) -> str:
        return "; ".join(s for s in (self.seen_host, self.seen_exec) if s) or "(no probe ran yet)"

    def describe(self) -> str:
        command = f"`{' '.join(self.command)}` in the container" if self.command else ""
        if self.http is None:
            return f"{self.what}: {command}"
        via = f"{self.what}: GET {self.http.url(self.target.ip or '<container ip>')} from the host"
        return f"{via}, {'then' if self.confirm else 'else'} {command}" if command else via

    def _get(self, address: str) -> int | None:
        """The HTTP status, or None when nothing answered on that port."""
        assert self.http is not None
        url = self.http.url(address)
        try:
            response = self.http.get(address, min(self.timeout_s, HTTP_TIMEOUT_S))
        except httpx.TimeoutException as exc:
            self.reached = self.reached or not isinstance(exc, httpx.ConnectTimeout)
            self.seen_host = f"GET {url}: {type(exc).__name__}"
            return None
        except httpx.HTTPError as exc:
            self.reached = self.reached or "refused" in str(exc).lower()
            self.seen_host = f"GET {url}: {exc}"
            return None
        self.reached = True
        self.seen_host = f"GET {url} answered {response.status_code} {response.text.strip()[:80]}".rstrip()
        return response.status_code

    def _exec(self, fatal: bool) -> bool:
        """Run ``command`` in the container; a probe that cannot run raises if ``fatal``, else is remembered."""
        assert self.command is not None
        if self.exec_broken:
            if fatal:
                raise ProbeFailed(self.exec_broken)
            return False
        code, output = self.target.exec(self.command, self.timeout_s)
        broken = cannot_run(self.command, code, output)
        if broken and (why := self.target.stopped()):
            raise Stopped(why)      # the container died under the exec: the service's failure, not the probe's
        if broken:
            self.exec_broken = self.seen_exec = broken
            if fatal:
                raise ProbeFailed(broken)
            return False
        self.seen_exec = f"in the container `{' '.join(self.command)}` exited {code} {output.strip()[-200:]}".rstrip()
        return code == 0

    def check(self) -> bool:
        """One round: True when ready. Stopped if the program ended; ProbeFailed if the probe cannot run."""
        why = self.target.stopped()
        if why:
            raise Stopped(why)
        address = self.target.ip if self.http is not None else None
        if address:
            status = self._get(address)
            if status is not None:
                if not self.http.passes(status):  # type: ignore[union-attr]
                    return False
                return self._exec(fatal=True) if self.confirm and self.command else True
        if self.command is None:
            return False
        return self._exec(fatal=not address)

    def wait(self, timeout_s: float, evidence: Callable[[], str] | None = None) -> float:
        """Poll until ready; seconds waited. WaitTimeout (saying what each probe saw), Stopped or ProbeFailed."""
        started = time.monotonic()

        def shown() -> str:
            return f"last probe: {self.seen}" + (f"\n{evidence()}" if evidence else "")

        try:
            poll(self.check, timeout_s=timeout_s, what=self.describe(), interval_s=0.5, evidence=shown,
                 fatal=(ProbeFailed, Stopped))
        except WaitTimeout:
            if self.exec_broken and not self.reached:
                raise ProbeFailed(f"{self.exec_broken}, and the host could not reach it ({self.seen_host})") from None
            raise
        return time.monotonic() - started
