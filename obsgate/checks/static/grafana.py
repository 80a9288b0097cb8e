"""Grafana judged from its files alone: security settings and provisioning, where its image cannot run.

Settings are resolved as Grafana resolves them (``obsgate.stackfiles.grafana``: compose
environment over a mounted grafana.ini over Grafana 10.2's defaults). The compose
environment's own secret forms (literal, ``${VAR:-default}``) are judged by the compose
secrets check; here Grafana's settings and files: what it does when a value is absent,
what a grafana.ini says, and whether provisioning, dashboards and datasources fit together.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from obsgate.checks.static.compose import REQUIRED_VAR
from obsgate.checks.static.credentials import SECRET_KEY
from obsgate.checks.static.references import Address
from obsgate.core.errors import InputError
from obsgate.core.findings import ConfigUnreadable, Finding, shown
from obsgate.core.yamlio import YamlDoc
from obsgate.stackfiles.grafana import FILE_REF, GrafanaConf, ProvisioningFile, Setting, provider_path
from obsgate.stackfiles.mounts import mounted_path

ADMIN_PASSWORD = "security.admin_password"
PASSWORD_VAR = "GF_SECURITY_ADMIN_PASSWORD"
SECRET_KEY_SETTING, SECRET_KEY_VAR = "security.secret_key", "GF_SECURITY_SECRET_KEY"
# Datasource uids Grafana itself provides (annotations, mixed, dashboard, the built-in "grafana").
BUILTIN_UIDS = ("grafana",)
_ENV_REFS = ("$__env{", "${")
# Secret grafana.ini keys the generic pattern misses ([security] secret_key encrypts datasource passwords).
GRAFANA_SECRETS = ("secret_key",)


def _readable(conf: GrafanaConf) -> list[Finding]:
    """The mounted grafana.ini's parse error, if any (settings cannot be judged without it)."""
    try:
        conf.ini  # noqa: B018 - parsed once, cached
    except ConfigUnreadable as exc:
        return [exc.finding]
    return []


def _must_be_off(conf: GrafanaConf, name: str, what: str, why: str, fix: str) -> list[Finding]:
    unreadable = _readable(conf)
    if unreadable or not conf.flag(name):
        return unreadable
    setting = conf.setting(name)
    return [setting.finding(f"{what} is on ({name} = {setting.value!r}): {why}", fix)]


def anonymous_access(conf: GrafanaConf) -> list[Finding]:
    """``[auth.anonymous] enabled`` is false: no dashboard, and no datasource proxy, without a login."""
    return _must_be_off(conf, "auth.anonymous.enabled", "anonymous access",
                        "anyone reaching Grafana reads every dashboard and queries Loki and Prometheus through it",
                        'set GF_AUTH_ANONYMOUS_ENABLED: "false" (or [auth.anonymous] enabled = false)')


def sign_up(conf: GrafanaConf) -> list[Finding]:
    """``[users] allow_sign_up`` is false: nobody creates their own account."""
    return _must_be_off(conf, "users.allow_sign_up", "self sign-up", "anyone reaching Grafana can create an account",
                        'set GF_USERS_ALLOW_SIGN_UP: "false" (or [users] allow_sign_up = false)')


def _secret_file(conf: GrafanaConf, path: str) -> str | None:
    """Why ``path`` (a container file holding a secret) is not a deploy-time secret, None when it is.

    Whether anything is mounted there at all is the wiring check's (referenced files are mounted).
    """
    try:
        host = mounted_path(conf.spec, path)
    except InputError:
        return None
    mount = conf.spec.mount_over(path, "bind")
    if mount is not None and not conf.from_deploy(mount):
        return f"{path} is mounted from {shown(host)}, a file that ships with the compose file (committed)"
    return None


def _file_env(conf: GrafanaConf, file_env: Setting, what: str) -> list[Finding]:
    """A ``GF_..._FILE`` variable: the file it names must be a deploy-time secret."""
    problem = _secret_file(conf, file_env.value)
    return [file_env.finding(f"{what}: {problem}", "mount it from OBS_SECRETS_DIR")] if problem else []


def _ini_reference(conf: GrafanaConf, raw: str) -> str | None:
    """Why a grafana.ini secret value is not a reference to a required secret, None when it is."""
    file = FILE_REF.fullmatch(raw.strip())
    if file:
        return _secret_file(conf, file[1])
    if raw.strip().startswith(_ENV_REFS) and raw.strip().endswith("}"):
        var = raw.strip().removeprefix("$__env{").removeprefix("${").removesuffix("}")
        written = conf.env_setting(var)
        if written is None or written.origin != "compose" or not REQUIRED_VAR.match(written.raw):
            return f"it reads ${var}, which the compose file does not set as a required ${{VAR:?}} secret"
        return None
    return f"it is a literal ({len(raw)} characters) committed in grafana.ini"


def admin_password(conf: GrafanaConf) -> list[Finding]:
    """The admin password is set, from a required secret: absent means admin/admin."""
    unreadable = _readable(conf)
    if unreadable or conf.flag("security.disable_initial_admin_creation"):
        return unreadable                   # no admin account is created at all
    fix = f"{PASSWORD_VAR}: ${{GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}} (or {PASSWORD_VAR}__FILE)"
    env, file_env = conf.env_setting(PASSWORD_VAR), conf.env_setting(f"{PASSWORD_VAR}__FILE")
    if env and file_env:
        return [file_env.finding(f"both {PASSWORD_VAR} and {PASSWORD_VAR}__FILE are set: the image's entrypoint "
                                 "refuses that and Grafana does not start", "keep one of them")]
    if env:
        return []                           # its form is the compose secrets check's (literal, default, optional)
    if file_env:
        return _file_env(conf, file_env, "the admin password file")
    setting = conf.setting(ADMIN_PASSWORD)
    if setting.origin == "ini":
        problem = _ini_reference(conf, setting.raw)
        return [setting.finding(problem, f"admin_password = $__file{{...}} or {fix}")] if problem else []
    return [setting.finding("no admin password is set anywhere: Grafana creates user admin with password 'admin'", fix)]


def secret_key(conf: GrafanaConf) -> list[Finding]:
    """[security] secret_key is a deploy-time secret: Grafana's default is published in its docs and source.

    Grafana encrypts datasource passwords, basic-auth secrets and API tokens in its database
    with it, so with the default anyone holding a copy of grafana.db (a backup) reads them.
    """
    unreadable = _readable(conf)
    if unreadable:
        return unreadable
    fix = f"{SECRET_KEY_VAR}: ${{GRAFANA_SECRET_KEY:?set GRAFANA_SECRET_KEY}} (or {SECRET_KEY_VAR}__FILE)"
    if conf.env_setting(SECRET_KEY_VAR):
        return []                           # its form is the compose secrets check's (literal, default, optional)
    file_env = conf.env_setting(f"{SECRET_KEY_VAR}__FILE")
    if file_env:
        return _file_env(conf, file_env, "the secret_key file")
    setting = conf.setting(SECRET_KEY_SETTING)
    if setting.origin == "ini":
        return []                           # a grafana.ini value's form is the ini secrets check's
    return [setting.finding("secret_key is not set: Grafana encrypts datasource passwords and API tokens with its "
                            "published default key", fix)]


def ini_secrets(conf: GrafanaConf) -> list[Finding]:
    """Secret settings in a mounted grafana.ini (database, OAuth, SMTP, secret_key) are references, not values."""
    unreadable = _readable(conf)
    if unreadable:
        return unreadable
    host = conf.ini_path[1]
    out = []
    for name, (raw, line) in conf.ini.items():
        key = name.rpartition(".")[2]
        if name == ADMIN_PASSWORD or not (SECRET_KEY.search(key) or key in GRAFANA_SECRETS) or not raw:
            continue
        problem = _ini_reference(conf, raw)
        if problem:
            out.append(Finding(shown(host) if host else conf.ini_path[0], name, line, problem,
                               "use $__file{/path/of/a/mounted/secret} or $__env{VAR} with VAR: ${VAR:?} in compose"))
    return out


def root_url(conf: GrafanaConf, public_url: str, served: Sequence[Address]) -> list[Finding]:
    """``[server] root_url`` is the public URL nginx serves Grafana at (links, redirects, cookies).

    ``served`` are nginx's proxy addresses to Grafana; the shortest prefix location is where
    Grafana's root is.
    """
    unreadable = _readable(conf)
    if unreadable:
        return unreadable
    setting = conf.setting("server.root_url")
    prefixes = sorted({a.context.removeprefix("^~ ") for a in served if not a.context.startswith(("=", "~"))}, key=len)
    if not prefixes:
        return [setting.finding(f"nginx proxies no prefix location to {conf.spec.name}: Grafana is not served at "
                                f"the public URL {public_url}", f"add location / {{ proxy_pass http://{conf.spec.name}:...; }}")]
    expected = public_url.rstrip("/") + prefixes[0]
    actual = conf.root_url()
    if actual.rstrip("/") == expected.rstrip("/"):
        return []
    at = next(a for a in served if a.context.removeprefix("^~ ") == prefixes[0])
    unset = " (unset: Grafana's default)" if setting.origin == "default" else ""
    return [setting.finding(
        f"root_url is {actual}{unset}, but Grafana is served at {expected} (the public URL, "
        f"OBS_PUBLIC_URL, and {at.where}): links in alerts and e-mails and login redirects point elsewhere",
        "set GF_SERVER_ROOT_URL: ${OBS_PUBLIC_URL:?...}" + prefixes[0])]


# --- provisioning ---------------------------------------------------------------------


def _shape(f: ProvisioningFile, list_key: str, required: Sequence[str]) -> list[Finding]:
    doc = f.doc
    assert doc is not None
    if doc.data is None:
        return []                           # an empty file: Grafana skips it
    if not isinstance(doc.data, dict) or doc.data.get("apiVersion") != 1:
        return [doc.finding("apiVersion", "no apiVersion: 1: Grafana reads it in the old v0 layout and fails",
                            "start the file with apiVersion: 1")]
    items = doc.data.get(list_key) or []
    if not isinstance(items, list):
        return [doc.finding(list_key, f"{list_key} is not a list", f"write {list_key}: as a list of entries")]
    out = []
    for i, item in enumerate(items):
        missing = [k for k in required if not (isinstance(item, dict) and item.get(k))]
        if isinstance(item, dict) and list_key == "providers" and item.get("type", "file") == "file" \
                and not provider_path(item):
            missing.append("options.path")
        if missing:
            out.append(doc.finding(f"{list_key}[{i}]", f"entry lacks {', '.join(missing)}: Grafana refuses the file",
                                   f"give every entry {', '.join(missing)}"))
    return out


def provisioning_parses(conf: GrafanaConf) -> list[Finding]:
    """grafana.ini, the provisioning files and the dashboards they load all parse, in the layout Grafana reads."""
    out = _readable(conf)
    for files, list_key, required in ((conf.datasource_files, "datasources", ("name", "type")),
                                      (conf.dashboard_provider_files, "providers", ("name",))):
        for f in files:
            out += [f.error] if f.error else _shape(f, list_key, required)
    for board in _dashboards(conf):
        if board.error:
            out.append(board.error)
        elif not isinstance(board.doc.data if board.doc else None, dict):
            out.append(Finding(shown(board.host), "(document)", 1, "not a dashboard (a JSON object)",
                               "export the dashboard as JSON from Grafana"))
    return out


def unique_datasources(conf: GrafanaConf) -> list[Finding]:
    """Datasource names and uids are unique per organisation (Grafana keeps one; dashboards pick either)."""
    seen: dict[tuple[str, Any, Any], tuple[YamlDoc, str]] = {}
    out = []
    for doc, key, ds in conf.datasources():
        for field in ("name", "uid"):
            if not ds.get(field):
                continue
            ident = (field, ds.get("orgId", 1), ds[field])
            if ident in seen:
                first_doc, first_key = seen[ident]
                out.append(doc.finding(f"{key}.{field}", f"{field} {ds[field]!r} again: first at "
                                       f"{first_doc.name}:{first_doc.line(f'{first_key}.{field}')} {first_key}",
                                       f"give each datasource its own {field}"))
            else:
                seen[ident] = (doc, key)
    return out


def _dashboards(conf: GrafanaConf) -> list[ProvisioningFile]:
    return [b for _, _, p in conf.file_providers() if provider_path(p) for b in conf.dashboards(provider_path(p) or "")]


def _shipped(conf: GrafanaConf) -> list[tuple[str, Path]]:
    """(container path, host path) of every dashboard JSON that ships with the compose file, mounted into Grafana."""
    out = []
    for m in conf.spec.mounts:
        source = Path(m.source)
        if m.kind != "bind" or conf.from_deploy(m) or m.target.startswith(conf.provisioning_dir):
            continue
        files = sorted(source.rglob("*.json")) if source.is_dir() else [source] if source.suffix == ".json" else []
        out += [(f"{m.target.rstrip('/')}/{p.relative_to(source).as_posix()}" if source.is_dir() else m.target, p)
                for p in files]
    return out


def dashboard_providers(conf: GrafanaConf) -> list[Finding]:
    """Each file provider reads a directory compose mounts, holding dashboards; every shipped dashboard is read."""
    out = []
    paths = []
    for doc, key, provider in conf.file_providers():
        path = provider_path(provider)
        if path is None:
            continue                        # the parse check names the missing options.path
        paths.append(path)
        mount = conf.spec.mount_over(path)
        if mount is None or mount.kind != "bind":
            what = f"on volume {mount.source}, whatever an earlier container left" if mount else "not mounted"
            out.append(doc.finding(f"{key}.options.path", f"{path} is {what}: this provider loads no shipped dashboard",
                                   "point options.path at the directory compose mounts the dashboards at"))
        elif not conf.dashboards(path):
            out.append(doc.finding(f"{key}.options.path", f"{path} (from {shown(Path(mount.source))}) holds no *.json "
                                   "dashboard: this provider loads nothing", "point it at the shipped dashboards"))
    if any(f.error for f in conf.dashboard_provider_files):
        return out                          # unreadable providers: the parse check says so
    for container, host in _shipped(conf):
        if not any(PurePosixPath(container).is_relative_to(p) for p in paths):
            out.append(Finding(shown(host), "(file)", None, f"shipped dashboard, mounted at {container}, is read by no "
                               f"dashboard provider (providers read {paths or 'nothing'}): it never appears",
                               "add a file provider whose options.path is its directory"))
    return out


def _keyed(value: Any, key: str, wanted: str) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every ``wanted`` key below ``value`` (not looking inside those)."""
    if isinstance(value, dict):
        for k, v in value.items():
            child = f"{key}.{k}" if key else str(k)
            yield from [(child, v)] if k == wanted else _keyed(v, child, wanted)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _keyed(v, f"{key}[{i}]", wanted)


def _variable(ref: str) -> str | None:
    text = ref.strip()
    for start, end in (("${", "}"), ("[[", "]]"), ("$", "")):
        if text.startswith(start) and text.endswith(end):
            return text[len(start):len(text) - len(end)].split(":")[0]
    return None


def datasource_references(conf: GrafanaConf) -> list[Finding]:
    """Every datasource uid a dashboard or a datasource (derived fields, trace links) names is provisioned."""
    entries = conf.datasources()
    uids = {str(ds.get("uid")) for _, _, ds in entries if ds.get("uid")}
    names = {str(ds.get("name")) for _, _, ds in entries}
    types = {str(ds.get("type")) for _, _, ds in entries}
    fix = f"use a provisioned uid ({', '.join(sorted(uids)) or 'none provisioned'}) or provision the datasource"
    out = []
    for doc, key, ds in entries:
        for child, value in _keyed(ds.get("jsonData"), f"{key}.jsonData", "datasourceUid"):
            if str(value) not in uids:
                out.append(doc.finding(child, f"datasource {ds.get('name')!r} links to uid {value!r}, "
                                       "which nothing provisions", fix))
    for board in _dashboards(conf):
        if board.doc is None or not isinstance(board.doc.data, dict):
            continue                        # the parse check names it
        variables = {str(v.get("name")): str(v.get("query", "")) for v in board.doc.get("templating.list") or []
                     if isinstance(v, dict) and v.get("type") == "datasource"}
        for child, ref in _keyed(board.doc.data, "", "datasource"):
            uid = str(ref.get("uid") or "") if isinstance(ref, dict) else str(ref or "")
            if not uid or uid.startswith("-- ") or uid in BUILTIN_UIDS or uid in uids or uid in names:
                continue
            var = _variable(uid)
            if var is not None:
                if var in variables and variables[var] not in types:
                    out.append(board.doc.finding(child, f"variable ${var} picks a {variables[var]} datasource; "
                                                 f"none is provisioned", fix))
                continue
            out.append(board.doc.finding(f"{child}.uid" if isinstance(ref, dict) else child,
                                         f"references datasource {uid!r}, which nothing provisions: the panel is empty",
                                         fix))
    return out
