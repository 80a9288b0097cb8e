"""A deployment the gate did not start (``--target``): its address, its credentials, and its services as
stand-ins that answer for the public surface and refuse container control.

Credentials come from the environment (or ``*_FILE`` variables naming a file), never from the command line:
the same variables ``obsgate up`` exports, so ``. up.env && pytest -m gate --target "$LOCUST_HOST"
--target-ca "$OBSGATE_CA_FILE"`` judges the stack ``obsgate up`` brought up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from obsgate.bringup.secrets import BasicAuth, RunSecrets
from obsgate.bringup.stack import State
from obsgate.core.causes import EXTERNAL, Cause
from obsgate.core.errors import InputError, NotEvaluated
from obsgate.core.options import Target
from obsgate.stackfiles.compose import ServiceSpec

CREDENTIALS = {"push": ("OBSGATE_PUSH_USER", "OBSGATE_PUSH_PASSWORD"),
               "read": ("OBSGATE_READ_USER", "OBSGATE_READ_PASSWORD")}
GRAFANA_TOKEN = "OBSGATE_GRAFANA_TOKEN"    # a Grafana service-account token (optional: Grafana's API checks need it)
GRAFANA_ADMIN_PASSWORD = "OBSGATE_GRAFANA_ADMIN_PASSWORD"  # optional: only the admin-password check needs it


def address(url: str, option: str, default_port: int) -> tuple[str, int]:
    """Host and port of a target URL (scheme, host, optional port, no path): InputError naming the option."""
    parts = urlsplit(url)
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.username:
        raise InputError(option, url, "not a base URL", f"pass scheme://host[:port], e.g. {option} https://obs.example")
    try:
        return parts.hostname, parts.port or default_port
    except ValueError:
        raise InputError(option, url, "the port is not a number", "pass scheme://host[:port]") from None


def validate(target: Target) -> None:
    """Refuse a target the run could not judge safely: plain HTTP or unverified TLS only when asked for."""
    scheme = urlsplit(target.url).scheme
    if scheme not in ("https", "http"):
        raise InputError("--target", target.url, "neither https:// nor http://", "pass the gateway's https:// URL")
    if scheme == "http" and not target.allow_http:
        raise InputError("--target", target.url, "plain HTTP would send the credentials unencrypted",
                         "pass the https:// URL, or --target-allow-http if you mean it")
    address(target.url, "--target", 443 if scheme == "https" else 80)
    if target.http_url is not None:
        if urlsplit(target.http_url).scheme != "http":
            raise InputError("--target-http", target.http_url, "not an http:// URL", "pass http://host[:port]")
        address(target.http_url, "--target-http", 80)
    if target.ca_file is not None and not target.ca_file.is_file():
        raise InputError("--target-ca", str(target.ca_file), "no such file", "pass the PEM file of the CA that "
                         "issued the target's certificate (obsgate up prints it as OBSGATE_CA_FILE)")
    if target.ca_file is not None and target.no_verify:
        raise InputError("--target-no-verify", "--target-ca", "both given", "verify with the CA, or turn verification off")


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """``name`` from the environment, or the content of the file ``name_FILE`` names (a mounted secret)."""
    if environ.get(name):
        return environ[name]
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"{name}_FILE", path, f"cannot read it ({exc.strerror})", "point it at a readable file") from None


def credentials(base: RunSecrets, target: Target, environ: Mapping[str, str] = os.environ) -> RunSecrets:
    """``base`` (the run's generated files, which the static checks read as today) with the target's credentials
    and CA: InputError naming the first variable missing."""
    found: dict[str, BasicAuth] = {}
    for role, (user_var, password_var) in CREDENTIALS.items():
        user, password = environ.get(user_var), _secret(environ, password_var)
        for name, value in ((user_var, user), (password_var, password)):
            if not value:
                raise InputError("environment", name, f"the {role} credential of --target is not set",
                                 f"export {name} (or {name}_FILE for the password; `obsgate up --env-file F` writes them)")
        found[role] = BasicAuth(str(user), str(password))
    return dataclasses.replace(base, push=found["push"], read=found["read"],
                               ca_cert=target.ca_file,
                               grafana_token=_secret(environ, GRAFANA_TOKEN) or "",
                               grafana_admin_password=_secret(environ, GRAFANA_ADMIN_PASSWORD) or "")


def grafana_admin_password(secrets: RunSecrets) -> str:
    """The Grafana admin password the deployment runs with: generated by the run, or a target's when given."""
    if not secrets.grafana_admin_password:
        raise NotEvaluated(f"external target: its Grafana admin password is not given ({GRAFANA_ADMIN_PASSWORD})")
    return secrets.grafana_admin_password


def no_control(what: str) -> NoReturn:
    raise NotEvaluated(f"{EXTERNAL.text} ({what})", EXTERNAL)


@dataclass
class RemoteService:
    """A service of a deployment the gate did not start: its compose spec (what was approved) and, for nginx, the
    target's addresses. Everything needing its container says "not evaluated: external target"."""

    spec: ServiceSpec
    target: Target
    epoch: int = 0      # never restarted by the gate: clients never re-resolve
    # Not a claim that it is up: the gate cannot run it here or not, so no check stops at "cannot run here";
    # what its public surface answers decides.
    state: State = State.READY
    reason: str = ""
    cause: Cause | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def require(self) -> RemoteService:
        return self

    def published(self, port: int, protocol: str = "tcp") -> tuple[str, int]:
        """The target's HTTPS address for 443 and its plain-HTTP one for 80; no other port is the gate's to reach."""
        scheme = urlsplit(self.target.url).scheme
        if protocol == "tcp" and port == 443 and scheme == "https":
            return address(self.target.url, "--target", 443)
        if protocol == "tcp" and port == 80:
            if self.target.http_url is not None:
                return address(self.target.http_url, "--target-http", 80)
            if scheme == "http":
                return address(self.target.url, "--target", 80)
            host, https_port = address(self.target.url, "--target", 443)
            if https_port == 443:
                return host, 80
            raise NotEvaluated(f"external target: the plain-HTTP address of {self.target.url} is unknown "
                               "(pass --target-http URL)")
        no_control(f"{self.name} port {port}/{protocol} is not its public surface")

    @property
    def image(self) -> NoReturn:
        no_control(f"which image {self.name} runs is not observable: the drift checks read its build info")

    @property
    def container(self) -> NoReturn:
        no_control(f"{self.name}'s container")

    @property
    def ip(self) -> NoReturn:
        no_control(f"{self.name}'s own address")

    def url(self, port: int, scheme: str = "http") -> NoReturn:
        no_control(f"{self.name}'s own port {port}")

    def logs(self, tail: int = 0) -> NoReturn:
        no_control(f"{self.name}'s log")

    def exec(self, argv: object, timeout_s: float = 0.0) -> NoReturn:
        no_control(f"a command in {self.name}")

    def stop(self) -> NoReturn:
        no_control(f"stopping {self.name}")

    def start(self) -> NoReturn:
        no_control(f"starting {self.name}")

    def restart(self) -> NoReturn:
        no_control(f"restarting {self.name}")

    def recreate(self) -> NoReturn:
        no_control(f"re-creating {self.name}")
