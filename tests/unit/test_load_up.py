"""``python -m obsgate up``: what it prints for Locust, and bad input refused before anything starts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from obsgate.__main__ import main
from obsgate.up import env_lines


def test_env_lines_are_shell_safe_exports() -> None:
    lines = env_lines("https://127.0.0.1:8443", Path("/tmp/x y/ca.crt"), ("pos-push", "p$w'd"), ("sre-read", "r"))
    values = dict(line.removeprefix("export ").split("=", 1) for line in lines)
    assert values["LOCUST_HOST"] == "https://127.0.0.1:8443"
    out = subprocess.run(["bash", "-c", "; ".join(lines) + '; printf "%s|%s" "$OBSGATE_CA_FILE" "$OBSGATE_PUSH_PASSWORD"'],
                         capture_output=True, text=True, check=True).stdout
    assert out == "/tmp/x y/ca.crt|p$w'd"
    assert shlex.split(values["OBSGATE_READ_USER"]) == ["sre-read"]


def test_up_refuses_a_missing_compose_file_before_starting_anything(tmp_path: Path, capsys) -> None:
    code = main(["up", "--compose", str(tmp_path / "missing.yml"), "--policy", "gate.yml"])
    assert code == 2
    assert "obs-gate up:" in capsys.readouterr().err
