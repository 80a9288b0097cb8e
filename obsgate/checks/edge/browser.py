"""A real headless browser pushing a log line with fetch() from a page on a chosen origin.

The page is served by a tiny HTTPS server on 127.0.0.1 with a throwaway certificate;
Chromium reaches it as ``https://<origin host>`` through ``--host-resolver-rules``
(the origin's :443 mapped to the server's loopback port, every other name resolving
nowhere), and trusts exactly two certificates by public key: the page's and nginx's.
All traffic stays on 127.0.0.1. The page reports what fetch() saw back to its own
server (same origin, so CORS does not apply to that report).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from obsgate.core.errors import NotEvaluated
from obsgate.core.wait import poll

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
MAX_BODY = 1 << 16

PAGE = """<!doctype html><meta charset="utf-8"><title>obs-gate push probe</title>
<script>
const cfg = %s;
(async () => {
  let out;
  try {
    const r = await fetch(cfg.url, {method: "POST", body: JSON.stringify(cfg.body),
      headers: {"Authorization": cfg.auth, "Content-Type": "application/json"}});
    out = {fetched: true, status: r.status};
  } catch (e) {
    out = {fetched: false, error: String(e)};
  }
  out.origin = location.origin;
  await fetch("/result?token=" + cfg.token, {method: "POST", body: JSON.stringify(out)});
})();
</script>"""


def find_chromium() -> str:
    """The browser binary, or NotEvaluated (the browser checks need a real browser)."""
    for name in CHROMIUM:
        if path := shutil.which(name):
            return path
    raise NotEvaluated("no headless browser here (Debian's chromium is not installed)")


def browser_hosts(origins: Sequence[str]) -> list[str]:
    """The hosts of the https origins on the default port: those a page can be served on here."""
    hosts = []
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme == "https" and parts.port is None and parts.hostname:
            hosts.append(parts.hostname)
    return hosts


def spki_hash(cert_pem: bytes) -> str:
    """The base64 SHA-256 of a certificate's public key, as --ignore-certificate-errors-spki-list wants it."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def _page_certificate(hosts: Sequence[str], directory: Path) -> tuple[Path, Path]:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "page.crt", directory / "page.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return cert_path, key_path


class PageServer:
    """Serves one probe page per token over HTTPS on 127.0.0.1 and collects what each page reports."""

    def __init__(self, hosts: Sequence[str], directory: Path) -> None:
        self.cert, key = _page_certificate(hosts, directory)
        self.pages: dict[str, dict[str, Any]] = {}
        self.results: dict[str, dict[str, Any]] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                if token not in server.pages:
                    self.send_error(404)
                    return
                body = (PAGE % json.dumps({**server.pages[token], "token": token})).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                token = parse_qs(urlsplit(self.path).query).get("token", [""])[0]
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                try:
                    server.results[token] = json.loads(self.rfile.read(length) or b"{}")
                except ValueError as exc:
                    server.results[token] = {"fetched": False, "error": f"unreadable report: {exc}"}
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="obsgate-pages", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def page(self, config: dict[str, Any]) -> str:
        """Register a page (fetch target, auth header, body) and return its token."""
        token = uuid.uuid4().hex
        self.pages[token] = config
        return token

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Browser:
    """Opens pages in a fresh headless Chromium each time; only loopback is reachable."""

    def __init__(self, binary: str, pages: PageServer, hosts: Sequence[str], trusted_certs: Sequence[bytes],
                 profile_root: Path) -> None:
        self.binary, self.pages, self.hosts, self.profile_root = binary, pages, list(hosts), profile_root
        self.spki = [spki_hash(pages.cert.read_bytes()), *(spki_hash(c) for c in trusted_certs)]

    def _argv(self, url: str, profile: Path) -> list[str]:
        rules = [f"MAP {host}:443 127.0.0.1:{self.pages.port}" for host in self.hosts]
        rules += ["MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1"]
        return [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--disable-extensions", "--disable-default-apps", "--metrics-recording-only",
                "--enable-logging=stderr", "--v=0",
                f"--user-data-dir={profile}", f"--host-resolver-rules={', '.join(rules)}",
                f"--ignore-certificate-errors-spki-list={','.join(self.spki)}", url]

    @contextmanager
    def _running(self, url: str) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
        """Chromium on ``url`` (its own process group, its own profile); yields it and its log file."""
        profile = Path(tempfile.mkdtemp(prefix="profile-", dir=self.profile_root))
        log_path = profile.parent / f"{profile.name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(self._argv(url, profile), stdout=subprocess.DEVNULL, stderr=log,
                                    start_new_session=True)
        try:
            yield proc, log_path
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)   # the process group this call started, nothing else
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            shutil.rmtree(profile, ignore_errors=True)

    def push_from(self, origin_host: str, url: str, auth_header: str, body: dict[str, Any],
                  timeout_s: float = 45.0) -> dict[str, Any]:
        """Load a page on ``https://origin_host`` whose script POSTs ``body`` to ``url``.

        ``timeout_s`` outlasts nginx's proxy_read_timeout on the push (30 s): a push Loki
        does not answer comes back as nginx's 504, reported by the page, not as this wait's timeout.

        Returns what fetch() saw (``fetched``, ``status`` or ``error``) and the page's console messages
        (where Chromium says why it blocked a request)."""
        token = self.pages.page({"url": url, "auth": auth_header, "body": body})
        with self._running(f"https://{origin_host}/?token={token}") as (proc, log_path):
            def reported() -> dict[str, Any] | None:
                if proc.poll() is not None:
                    raise NotEvaluated(f"chromium exited with {proc.returncode} before the page reported: "
                                       f"{log_path.read_text(errors='replace')[-500:]}")
                return self.pages.results.get(token)
            result = poll(reported, timeout_s=timeout_s, what=f"the page on https://{origin_host} to report its fetch()",
                          interval_s=0.2, fatal=(NotEvaluated,))
            console = [line.split("] ", 1)[-1] for line in log_path.read_text(errors="replace").splitlines()
                       if ":CONSOLE" in line]
            return {**result, "console": console}
