"""Every gate check is shown failing by some test of the project: none is trusted unproven.

A gate check is a ``test_*`` function marked ``@pytest.mark.gate`` under tests/config,
tests/integration or tests/load (found by reading the files, not importing them). It counts as
proven when a test under tests/selftest or tests/unit names it: in its own body, or through a
module-level constant or helper it uses (``RATE = "test_load_..."``; ``_run(...)``). A check no
test names has never been seen to fail, and its points rest on trust.

``python -m tests.unit.test_every_check_is_proven`` prints the table check -> proving tests.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS_IN = ("tests/config", "tests/integration", "tests/load")
PROOFS_IN = ("tests/selftest", "tests/unit")
WORD = r"(?<![A-Za-z0-9_]){}(?![A-Za-z0-9_])"


@dataclass(frozen=True)
class Check:
    name: str
    path: str            # relative to the project root
    category: str
    weight: float


def _gate_mark(decorator: ast.expr) -> ast.Call | None:
    """The ``pytest.mark.gate(...)`` call among a function's decorators, or None."""
    if isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) \
            and decorator.func.attr == "gate" and ast.unparse(decorator.func.value) == "pytest.mark":
        return decorator
    return None


def _keyword(call: ast.Call, name: str) -> object:
    return next((ast.literal_eval(k.value) for k in call.keywords if k.arg == name), None)


def gate_checks(root: Path = ROOT) -> list[Check]:
    """Every gate check of the project, in file order."""
    found = []
    for folder in CHECKS_IN:
        for path in sorted((root / folder).rglob("test_*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
                    mark = next((m for m in map(_gate_mark, node.decorator_list) if m is not None), None)
                    if mark is not None:
                        found.append(Check(node.name, str(path.relative_to(root)), str(_keyword(mark, "category")),
                                           float(str(_keyword(mark, "weight") or 0))))
    return found


def _top_level(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """A module's named top-level things: functions, classes' test methods (``Class.test``) and assignments."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            yield node.name, node
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield f"{node.name}::{item.name}", item
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        yield name.id, node


def _named(source: str, names: list[str]) -> set[str]:
    return {n for n in names if re.search(WORD.format(re.escape(n)), source)}


def proving_tests(module: Path, names: list[str], root: Path = ROOT) -> dict[str, set[str]]:
    """For each test of ``module`` (``path::test``), the check names it uses: literally, or through the
    module-level constants and helpers it refers to (followed transitively)."""
    text = module.read_text(encoding="utf-8")
    if not _named(text, names):
        return {}
    symbols = dict(_top_level(ast.parse(text)))
    direct = {s: _named(ast.get_source_segment(text, node) or "", names) for s, node in symbols.items()}
    refers = {s: {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in symbols and n.id != s}
              for s, node in symbols.items()}

    def closure(symbol: str) -> set[str]:
        seen, todo, checks = {symbol}, [symbol], set()
        while todo:
            current = todo.pop()
            checks |= direct[current]
            todo += [r for r in refers[current] if r not in seen]
            seen |= refers[current]
        return checks

    relative = module.relative_to(root)
    return {f"{relative}::{s}": closure(s) for s in symbols
            if s.rpartition("::")[2].startswith("test_") and isinstance(symbols[s], ast.FunctionDef | ast.AsyncFunctionDef)
            and closure(s)}


def proofs(root: Path = ROOT) -> dict[Check, list[str]]:
    """Every gate check with the tests under tests/selftest and tests/unit that name it (this file aside)."""
    checks = gate_checks(root)
    names = [c.name for c in checks]
    by_check: dict[str, list[str]] = {n: [] for n in names}
    for folder in PROOFS_IN:
        for module in sorted((root / folder).rglob("*.py")):
            if module.resolve() == Path(__file__).resolve():
                continue
            for test, named in proving_tests(module, names, root).items():
                for name in named:
                    by_check[name].append(test)
    return {c: sorted(by_check[c.name]) for c in checks}


def table(root: Path = ROOT) -> str:
    """The list for a human: each gate check, where it is, and the tests that show it failing."""
    lines = []
    for check, tests in proofs(root).items():
        lines.append(f"{check.name}  ({check.path}, {check.category} {check.weight:g})")
        lines += [f"    {t}" for t in tests] or ["    NO PROVING TEST"]
    return "\n".join(lines)


def test_gate_checks_are_found() -> None:
    checks = gate_checks()
    assert len(checks) > 100, f"only {len(checks)} gate checks found: is the marker still pytest.mark.gate?"
    assert len({c.name for c in checks}) == len(checks), "two gate checks share a name: a proof could not tell them apart"
    assert all(c.weight > 0 and c.category != "None" for c in checks), [c for c in checks if not c.weight]


def test_every_gate_check_has_a_test_showing_it_fail() -> None:
    unproven = [c for c, tests in proofs().items() if not tests]
    assert not unproven, (
        f"{len(unproven)} gate checks are named by no test under tests/selftest or tests/unit, so none has been "
        "seen failing; add a self-test on a broken variant (or a unit test on recorded input) that fails it for "
        "its own reason:\n" + "\n".join(f"  {c.name} ({c.path}, {c.category} {c.weight:g})" for c in unproven))


def test_a_check_named_only_through_a_helper_still_counts(tmp_path: Path) -> None:
    """The finder follows constants and helpers: ``_run`` mentions ``RATE``, the test calls ``_run``."""
    (tmp_path / "tests" / "load").mkdir(parents=True)
    (tmp_path / "tests" / "selftest").mkdir(parents=True)
    (tmp_path / "tests" / "load" / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.gate(category='Performance', weight=2)\ndef test_rate():\n    pass\n\n"
        "@pytest.mark.gate(category='Performance', weight=1)\ndef test_rate_other():\n    pass\n")
    module = tmp_path / "tests" / "selftest" / "test_x_fails.py"
    module.write_text("RATE = 'test_rate'\n\ndef _run():\n    return RATE\n\ndef test_it():\n    assert _run()\n")
    found = {c.name: t for c, t in proofs(tmp_path).items()}
    assert found == {"test_rate": ["tests/selftest/test_x_fails.py::test_it"], "test_rate_other": []}


if __name__ == "__main__":
    sys.stdout.write(table() + "\n")
