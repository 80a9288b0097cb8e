"""obsgate.gate.rootdir on the pytest it runs under: ``pytest --compose /elsewhere/docker-compose.yml`` run in a
project keeps the project's rootdir, ini, addopts, testpaths and pythonpath; an unexpected pytest stops with one
UsageError. Child pytest runs of throwaway projects (pytester); no container starts.

It runs wherever the unit tests do: .ci/floors on the lowest pytest pyproject.toml allows, .ci/run on the newest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.gateproject import COMPOSE, POLICY

pytest_plugins = ("pytester",)

INI = """\
[pytest]
addopts = -p no:cacheprovider -m probe
testpaths = checks
pythonpath = lib
markers = probe: the check that reports where it ran
"""
DECOY_INI = "[pytest]\naddopts = -m decoy\ntestpaths = nowhere\n"
PROBE = """\
import json
from pathlib import Path

import pytest

import site_lib   # importable only through the project ini's pythonpath


@pytest.mark.probe
def test_where(pytestconfig):
    Path(__file__).with_name("where.json").write_text(json.dumps({
        "rootdir": str(pytestconfig.rootpath), "inifile": str(pytestconfig.inipath), "args": pytestconfig.args,
        "markexpr": pytestconfig.getoption("markexpr"), "site_lib": site_lib.WHERE}))


def test_deselected_by_the_ini_addopts():
    raise AssertionError("the project ini's addopts (-m probe) were not applied")
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A gate project (gate.yml, pytest.ini) whose one selected test reports the rootdir and ini it ran with."""
    pytester.makefile(".yml", gate=POLICY)
    pytester.makefile(".ini", pytest=INI)
    (pytester.path / "lib").mkdir()
    (pytester.path / "lib" / "site_lib.py").write_text('WHERE = "lib"\n')
    (pytester.path / "checks").mkdir()
    (pytester.path / "checks" / "test_probe.py").write_text(PROBE)
    return pytester


def _compose_elsewhere(factory: pytest.TempPathFactory, decoy_ini: bool) -> Path:
    directory = factory.mktemp("elsewhere")
    if decoy_ini:   # pytest's first choice then reads this ini and prepends its addopts
        (directory / "pytest.ini").write_text(DECOY_INI)
    compose = directory / "docker-compose.yml"
    compose.write_text(COMPOSE)
    return compose


@pytest.mark.parametrize("decoy_ini", [False, True], ids=["no-ini-elsewhere", "ini-elsewhere"])
def test_compose_elsewhere_keeps_the_project_rootdir_and_ini(project: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
                                                             decoy_ini: bool) -> None:
    compose = _compose_elsewhere(tmp_path_factory, decoy_ini)
    result = project.runpytest_subprocess("--compose", str(compose))   # run in the project, the file elsewhere
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 0, output
    result.stdout.fnmatch_lines([f"rootdir: {project.path}*", "*configfile: pytest.ini*"])
    result.assert_outcomes(passed=1, deselected=1)
    where = json.loads((project.path / "checks" / "where.json").read_text())
    assert where == {"rootdir": str(project.path), "inifile": str(project.path / "pytest.ini"),
                     "args": ["checks"], "markexpr": "probe", "site_lib": "lib"}


UNEXPECTED = {
    "version": "import pytest\npytest.version_tuple = (10, 0, 0)\npytest.__version__ = '10.0.0'\n",
    "signature": ("from _pytest.config import findpaths\n"
                  "def determine_setup(*, inifile, args, rootdir_cmd_arg, invocation_dir, config_files):\n"
                  "    raise AssertionError('must not be called')\n"
                  "findpaths.determine_setup = determine_setup\n"),
}


@pytest.mark.parametrize("change", sorted(UNEXPECTED))
def test_unexpected_pytest_is_one_usage_error_naming_the_range(project: pytest.Pytester,
                                                                tmp_path_factory: pytest.TempPathFactory, change: str) -> None:
    """A pytest whose private API is not as rootdir.py knows it (here: faked by a -p plugin) stops the run, with the fix."""
    project.makepyfile(unexpected_pytest=UNEXPECTED[change])
    compose = _compose_elsewhere(tmp_path_factory, decoy_ini=False)
    result = project.runpytest_subprocess("-p", "unexpected_pytest", "--compose", str(compose))
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("ERROR: obs-gate supports pytest 8.0–9.x; this is pytest "), errors
    assert errors[0].endswith("pass --rootdir DIR or write --compose=PATH"), errors
    assert ("10.0.0 (a version obs-gate was not tested with)" if change == "version" else "config_files") in errors[0]
    assert not (project.path / "checks" / "where.json").exists()


def test_compose_as_one_argument_needs_no_correction(project: pytest.Pytester,
                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """The fix the error names works on any pytest: even one rootdir.py does not know is never asked to correct it."""
    project.makepyfile(unexpected_pytest=UNEXPECTED["version"])
    compose = _compose_elsewhere(tmp_path_factory, decoy_ini=True)
    result = project.runpytest_subprocess("-p", "unexpected_pytest", f"--compose={compose}")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert json.loads((project.path / "checks" / "where.json").read_text())["rootdir"] == str(project.path)
