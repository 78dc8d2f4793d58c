"""The dependency rules of the design hold: core and gateway never import each other, core takes
only models from sessions, and the shared plumbing imports neither (but for the entry points)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.storage.migrations import ROOT

ENTRY_POINTS = {"zapdesk/cli.py", "zapdesk/launcher.py", "gateway/__main__.py"}
FORBIDDEN = {
    "core": {"gateway", "neonize"},
    "gateway": {"core"},
    "sessions": {"core", "gateway"},
    "zapdesk": {"core", "gateway", "sessions"},
}


def imported_packages(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_follow_the_dependency_rules(package: str) -> None:
    offences = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in ENTRY_POINTS:
            continue
        for name in imported_packages(path):
            if name.split(".")[0] in FORBIDDEN[package]:
                offences.append(f"{relative} imports {name}")
            if package == "core" and name.startswith("sessions.drivers"):
                offences.append(f"{relative} imports a driver: {name}")
    assert offences == []
