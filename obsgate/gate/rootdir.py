"""The rootdir pytest would choose if it knew obs-gate's options when it chose it.

pytest picks the rootdir and its ini file from the command line before it loads any
plugin, so ``pytest -m gate --compose /elsewhere/docker-compose.yml`` looks to it like a
run of the tests in /elsewhere: rootdir /elsewhere, no ini (no addopts, no testpaths) and
node ids relative to /elsewhere. Once plugins are loaded, and before any conftest or test
is collected, the choice is made again from the real positional arguments. That means
setting pytest internals; where they are not as expected, the run stops naming the
manual fix instead of running against the wrong rootdir.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _pytest.config.findpaths import determine_setup

PATH_OPTIONS = ("compose", "policy", "reports_dir")   # options whose value pytest may take for a test path


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    ns = early_config.known_args_namespace
    if not any(getattr(ns, name, None) for name in PATH_OPTIONS) or ns.rootdir or ns.inifilename:
        return
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=None, override_ini=ns.override_ini, args=ns.file_or_dir, rootdir_cmd_arg=None,
        invocation_dir=early_config.invocation_params.dir)
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    try:
        _rechoose(early_config, args, rootpath, inipath, inicfg, ignored)
    except (AttributeError, KeyError, TypeError) as exc:
        raise pytest.UsageError(
            f"obs-gate: pytest took an obs-gate option's value for a test path and chose rootdir "
            f"{early_config.rootpath} (correcting it failed on this pytest: {exc!r}); "
            f"pass --rootdir {rootpath}, or write the option as --compose=PATH") from None


def _rechoose(config: pytest.Config, args: list[str], rootpath: Path, inipath: Path | None,
              inicfg: Any, ignored: Any) -> None:
    """Redo what pytest's Config.parse did with the first choice: ini, its addopts, confcutdir."""
    ns = config.known_args_namespace
    first_confcutdir = str(config.inipath.parent if config.inipath else config.rootpath)
    config._rootpath, config._inipath, config._inicfg = rootpath, inipath, inicfg
    config._ignored_config_files = ignored
    config._inicache.clear()
    config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    addopts = config._validate_args(config.getini("addopts"), "via addopts config")
    args[:] = [*addopts, *args]
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    config._parser.parse_known_args(args, namespace=ns)
    if ns.confcutdir == first_confcutdir:   # pytest's default, not the user's --confcutdir
        ns.confcutdir = str(inipath.parent if inipath else rootpath)
