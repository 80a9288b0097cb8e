"""The rootdir pytest would choose if it knew obs-gate's options when it chose it.

pytest picks the rootdir and its ini file from the command line before it loads any
plugin, so ``pytest -m gate --compose /elsewhere/docker-compose.yml`` looks to it like a
run of the tests in /elsewhere: rootdir /elsewhere, that directory's ini or none (no
addopts, no testpaths) and node ids relative to /elsewhere. Once plugins are loaded, and
before any conftest or test is collected, the choice is made again from the real
positional arguments, and what pytest did with the first one is redone: the ini and its
values, its addopts (the first ini's taken back off the command line, the new one's
parsed, the plugins their ``-p`` names loaded), its ``pythonpath`` (pytest >= 8.4 applies
it before plugins load; before 8.4 its python_path plugin does, after this hook) and the
default ``--confcutdir``. Not redone: plugins the first ini's addopts loaded stay loaded, and
the new ini's ``minversion`` and ``required_plugins`` are not checked. ``--compose=PATH``
(one argument) or ``--rootdir`` never needs any of this.

pytest has no API for it, so this uses its private ``determine_setup`` and Config
attributes, in the two shapes pytest 8.0–9.x has them in: up to 8.4, ``determine_setup``
without ``override_ini`` returning (rootpath, inipath, inicfg) and ``Config.inicfg``; from
9.0, with ``override_ini``, also returning the ignored config files, and ``Config._inicfg``
(``inicfg`` in 9.0.0–9.0.1). Both are checked before anything changes: where the choice
needs correcting on a pytest outside 8.0–9.x, or either shape is not as expected, the run
stops with one UsageError naming the supported range and the manual fix, instead of
running against the wrong rootdir.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

PATH_OPTIONS = ("compose", "policy", "reports_dir")   # options whose value pytest may take for a test path
SUPPORTED = ((8, 0), (10, 0))                          # pytest versions this module's private API use is known for
SUPPORTED_TEXT = "8.0–9.x"
PYTHON_PATH = ("_unconfigure_python_path", "_configure_python_path")   # pytest >= 8.4 (before: its python_path plugin)


class UnexpectedPytest(Exception):
    """What about the running pytest is not as this module knows it."""


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    ns = early_config.known_args_namespace
    given = [name for name in PATH_OPTIONS if getattr(ns, name, None)]
    if not given or ns.rootdir or ns.inifilename:
        return
    try:
        _rechoose(early_config, args)
    except UnexpectedPytest as exc:
        option = "--" + given[0].replace("_", "-")
        raise pytest.UsageError(
            f"obs-gate supports pytest {SUPPORTED_TEXT}; this is pytest {pytest.__version__} ({exc}), where obs-gate cannot "
            f"correct the rootdir pytest chose ({early_config.rootpath}) with {option}'s value for a test path: "
            f"pass --rootdir DIR or write {option}=PATH") from None


def _determine_setup() -> tuple[Callable[..., tuple[Any, ...]], bool]:
    """pytest's determine_setup and whether it takes override_ini (9.x); anything else is unexpected."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError as exc:
        raise UnexpectedPytest(f"no determine_setup: {exc}") from None
    params = set(inspect.signature(determine_setup).parameters)
    base = {"inifile", "args", "rootdir_cmd_arg", "invocation_dir"}
    if params not in (base, base | {"override_ini"}):
        raise UnexpectedPytest(f"determine_setup{inspect.signature(determine_setup)}")
    return determine_setup, "override_ini" in params


def _config_shape(config: pytest.Config, nine: bool) -> str:
    """The name of the attribute holding the ini's values, once every attribute used here is known to exist."""
    state = vars(config)
    inicfg = next((name for name in ("_inicfg", "inicfg") if isinstance(state.get(name), dict)), None)
    wanted = ["_rootpath", "_inipath", "_inicache", *(["_ignored_config_files"] if nine else [])]
    missing = [name for name in wanted if name not in state] + [
        name for name in ("_parser", "_validate_args") if not hasattr(config, name)]
    if not hasattr(config.pluginmanager, "consider_preparse"):
        missing.append("pluginmanager.consider_preparse")
    if inicfg is None or missing:
        raise UnexpectedPytest(f"Config has no {', '.join(missing or ['inicfg dict'])}")
    return inicfg


def _rechoose(config: pytest.Config, args: list[str]) -> None:
    """Choose again without the options' values; where that changes the choice, redo what Config.parse did with the
    first: ini, its addopts, pythonpath, confcutdir."""
    ns = config.known_args_namespace
    determine_setup, nine = _determine_setup()
    found = determine_setup(inifile=None, args=ns.file_or_dir, rootdir_cmd_arg=None,
                            invocation_dir=config.invocation_params.dir,
                            **({"override_ini": ns.override_ini} if nine else {}))
    if len(found) != (4 if nine else 3):
        raise UnexpectedPytest(f"determine_setup returned {len(found)} values")
    rootpath, inipath, inicfg = found[:3]
    if (rootpath, inipath) == (config.rootpath, config.inipath):
        return
    if not SUPPORTED[0] <= tuple(pytest.version_tuple[:2]) < SUPPORTED[1]:
        raise UnexpectedPytest("a version obs-gate was not tested with")
    inicfg_attr = _config_shape(config, nine)
    python_path = all(hasattr(config, name) for name in PYTHON_PATH)

    cfg: Any = config   # the private attributes _config_shape checked, whose types differ between pytest versions
    first_confcutdir = str(config.inipath.parent if config.inipath else config.rootpath)
    first_addopts = list(config.getini("addopts"))
    if python_path:
        cfg._unconfigure_python_path()
    cfg._rootpath, cfg._inipath = rootpath, inipath
    setattr(cfg, inicfg_attr, inicfg)
    if nine:
        cfg._ignored_config_files = found[3]
    cfg._inicache.clear()
    cfg._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    if first_addopts and args[:len(first_addopts)] == first_addopts:
        del args[:len(first_addopts)]
    addopts = cfg._validate_args(config.getini("addopts"), "via addopts config")
    args[:] = [*addopts, *args]
    if python_path:
        cfg._configure_python_path()
    config.pluginmanager.consider_preparse(addopts, exclude_only=False)
    cfg._parser.parse_known_args(args, namespace=ns)
    if ns.confcutdir == first_confcutdir:   # pytest's default, not the user's --confcutdir
        ns.confcutdir = str(inipath.parent if inipath else rootpath)
