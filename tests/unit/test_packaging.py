"""What ``pip install`` gives a user: the ``obsgate`` command and the ``py.typed`` marker (PEP 561), so type checkers
read the package's own annotations, and exactly the dependencies the package imports: every one declared, none of the
project's test tools among them. The command is looked for beside the running interpreter, as a venv installs it,
whether or not that venv is activated."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from importlib.metadata import entry_points, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

import obsgate
from obsgate.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ("sweep", "up", "repeat", "backup", "restore")


def test_console_script_entry_point_is_the_cli() -> None:
    (script,) = entry_points(group="console_scripts", name="obsgate")
    assert script.value == "obsgate.__main__:main"
    assert script.load() is main and callable(main)


def test_installed_obsgate_command_runs() -> None:
    found = [shutil.which("obsgate", path=str(d)) for d in (Path(sys.executable).parent, sysconfig.get_path("scripts"))]
    command = next((c for c in found if c), None)
    assert command, f"no obsgate script beside {sys.executable}: pip install -e . installs it"
    proc = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: obsgate ") and all(c in proc.stdout for c in COMMANDS), proc.stdout


def test_python_dash_m_obsgate_still_works() -> None:
    proc = subprocess.run([sys.executable, "-m", "obsgate", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: obsgate "), proc.stdout + proc.stderr


def test_wheel_ships_py_typed_and_the_command(tmp_path: Path) -> None:
    """Built as pip builds it for a user (isolated, setuptools from the index), from a copy of the sources: the
    working tree gets no build/ or egg-info."""
    source = tmp_path / "src"
    shutil.copytree(ROOT / "obsgate", source / "obsgate", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path / "dist"), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("obs_gate-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points_txt,) = (n for n in names if n.endswith(".dist-info/entry_points.txt"))
        assert "obsgate = obsgate.__main__:main" in archive.read(entry_points_txt).decode()
    assert "obsgate/py.typed" in names
    assert (Path(obsgate.__file__).parent / "py.typed").is_file()   # and in the installed (here: editable) package


def _declared(section: str = "dependencies") -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = project["dependencies"] if section == "dependencies" else project["optional-dependencies"][section]
    return {Requirement(t).name.lower().replace("_", "-") for t in texts}


def _imported_distributions() -> dict[str, set[str]]:
    """Distribution -> the package's modules that import it (third-party imports only, as installed here)."""
    owners = packages_distributions()
    found: dict[str, set[str]] = {}
    for path in Path(obsgate.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "obsgate":
                    continue
                for dist in owners.get(top, [top]):
                    found.setdefault(dist.lower().replace("_", "-"), set()).add(path.name)
    return found


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """An undeclared import works where something else happened to install it, and breaks on a clean machine."""
    undeclared = {dist: sorted(users) for dist, users in _imported_distributions().items() if dist not in _declared()}
    assert undeclared == {}


def test_the_projects_test_tools_are_no_runtime_dependency() -> None:
    assert _declared("test") and not _declared("test") & _declared()
