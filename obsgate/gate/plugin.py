"""The pytest plugin (``pytest11`` entry point ``obsgate``): obs-gate's options, and nothing more
until a run uses the gate.

pytest imports it in every run of its environment, so it stays cheap: it declares the options
and the ``gate`` marker, imports nothing heavier than pytest, and decides whether the run is a
gate run: ``--compose`` or ``--policy`` given, or ``<rootdir>/gate.yml`` present. Only then is
obsgate.gate.hooks registered (the run, its fixtures, scoring, reports, and with them docker,
testcontainers, httpx, cryptography). ``-p no:obsgate`` turns it off altogether.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from obsgate.core.options import PULL_POLICIES

pytest_plugins = ("obsgate.gate.rootdir",)   # needed before the command line is parsed
HOOKS_PLUGIN = "obsgate.gate.hooks"          # registered only in a run that uses the gate
MARKER = "gate(category, weight): a release-gate check with its category and weight (see gate.yml)"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("obsgate", "obs-gate release gate")
    group.addoption("--compose", default=None, help="compose file (default: <rootdir>/stack/docker-compose.yml)")
    group.addoption("--policy", default=None, help="gate policy (default: <rootdir>/gate.yml)")
    group.addoption("--reports-dir", default=None, help="where run reports go (default: <rootdir>/reports)")
    group.addoption("--image", action="append", default=[], metavar="SERVICE=REF",
                    help="run SERVICE from image REF instead of the compose pin (repeatable); "
                         "also OBSGATE_IMAGE_<SERVICE>")
    group.addoption("--pull", choices=PULL_POLICIES, default="missing",
                    help="pull images that are not present (missing) or never pull (never)")
    group.addoption("--candidate", action="append", default=[], metavar="SERVICE=IMAGE",
                    help="also run SERVICE's config acceptance checks against candidate IMAGE (repeatable); "
                         "reported under 'Upgrade readiness', never scored")
    group.addoption("--target", default=None, metavar="URL",
                    help="judge the deployment at URL (its nginx gateway, https://host[:port]) instead of starting "
                         "the stack: credentials from OBSGATE_PUSH_USER/_PASSWORD, OBSGATE_READ_USER/_PASSWORD, "
                         "OBSGATE_GRAFANA_TOKEN (or *_FILE); checks needing containers are not evaluated")
    group.addoption("--target-ca", default=None, metavar="FILE",
                    help="CA certificate (PEM) the target's certificate must chain to (default: the system store)")
    group.addoption("--target-http", default=None, metavar="URL",
                    help="the target's plain-HTTP address, for the redirect check (default: the target on port 80)")
    group.addoption("--target-allow-http", action="store_true", help="allow a plain http:// --target")
    group.addoption("--target-no-verify", action="store_true", help="do not verify the target's certificate")
    group.addoption("--target-load", action="store_true",
                    help="also run the load checks against the target, capped by gate.yml's target section")
    group.addoption("--gate-exit", choices=("auto", "verdict", "tests"), default="auto",
                    help="exit code from the gate verdict or from test outcomes; auto: verdict under -m gate")
    group.addoption("--accept-conditional", action="store_true",
                    help="in gate mode, exit 0 on CONDITIONAL PASS too")


def uses_gate(config: pytest.Config) -> bool:
    """The run is a gate run: an input was named, or the rootdir holds a gate policy."""
    given = config.getoption("compose") or config.getoption("policy")
    return bool(given) or (Path(config.rootpath) / "gate.yml").is_file()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)
    if not config.option.help and uses_gate(config):
        config.pluginmanager.import_plugin(HOOKS_PLUGIN)
