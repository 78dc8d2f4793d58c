"""Rewrites the configuration table in README.md from the settings classes.

Run after changing a setting: `.venv/bin/python scripts/update_readme_config.py`.
tests/test_readme.py fails while the README and the classes disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from zapdesk.cli import all_concerns
from zapdesk.settings import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- config-table:start -->", "<!-- config-table:end -->"


def with_table(text: str) -> str:
    head, found, rest = text.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    return f"{head}{START}\n{markdown_table(all_concerns())}{END}{tail}"


def main() -> int:
    text = README.read_text()
    updated = with_table(text)
    if updated != text:
        README.write_text(updated)
        print("README.md: configuration table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
