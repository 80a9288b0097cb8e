"""Reading a program's start-up log for what its config made it say (logfmt lines)."""

from __future__ import annotations

import re

from obsgate.core.findings import Finding

LEVEL = re.compile(r"\blevel=(\w+)")
CALLER = re.compile(r"\bcaller=(\S+)")
NOISE = re.compile(r"\b(?:ts|caller)=\S+\s*")
# What a config makes a program say about its own future: options a later version drops or reinterprets.
UPGRADE_WARNING = re.compile(r"deprecat|will change|no longer|removed|not supported|ignored|unknown", re.I)


def problem_lines(log: str) -> list[str]:
    """Every warn/error line of a logfmt log, without timestamps and callers."""
    return [
        NOISE.sub("", line).strip()
        for line in log.splitlines()
        if (level := LEVEL.search(line)) and level[1] in ("warn", "warning", "error")
    ]


def startup_warnings(log: str, name: str) -> list[Finding]:
    """Warnings and errors about deprecated, removed or changing config behaviour in a start-up log."""
    out = []
    for line in log.splitlines():
        level = LEVEL.search(line)
        if level is None or level[1] not in ("warn", "warning", "error") or not UPGRADE_WARNING.search(line):
            continue
        caller = CALLER.search(line)
        out.append(
            Finding(
                name,
                caller[1] if caller else f"level={level[1]}",
                None,
                NOISE.sub("", line).strip()[:400],
                "change the config so the program has nothing to warn about (see the message)",
            )
        )
    return out


LINE_REF = re.compile(r"(?:\bline (\d+):|\bin \S+:(\d+)\b|: (\d+):\d+: )")
FIELD = re.compile(r"field (\S+) not found")
MAX_OUTPUT = 800


def rejections(output: str, file: str, program: str) -> list[Finding]:
    """What a program said when it rejected a config: one finding per line-numbered complaint.

    Understands ``line 38: field shared_store not found`` (Go YAML), ``... in
    /etc/nginx/nginx.conf:8`` (nginx) and ``file.yml:66:3: ...`` (promtool); anything else
    becomes one finding carrying the end of the output.
    """
    out = []
    for raw in output.splitlines():
        line = raw.strip()
        ref = LINE_REF.search(line)
        if not ref or not any(ref.groups()):
            continue
        field = FIELD.search(line)
        number = int(next(g for g in ref.groups() if g))
        out.append(
            Finding(
                file,
                field[1] if field else f"({program})",
                number,
                line[:400],
                "remove or rename the key for this version" if field else f"fix what {program} reports",
            )
        )
    if out:
        return out
    tail = "\n".join(line for line in output.strip().splitlines()[-12:] if line.strip())[-MAX_OUTPUT:]
    return [Finding(file, f"({program})", None, f"rejected: {tail or 'no output'}", f"fix what {program} reports")]
