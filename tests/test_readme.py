"""The README's configuration table is generated from the settings classes and kept current."""

from __future__ import annotations

from core.storage.migrations import ROOT
from scripts.update_readme_config import with_table
from zapdesk.cli import all_concerns


def test_every_setting_is_documented() -> None:
    for cls in all_concerns():
        for name, info in cls.model_fields.items():
            assert info.description, f"{cls.env_name(name)} has no description"


def test_the_readme_table_matches_the_settings() -> None:
    readme = (ROOT / "README.md").read_text()
    assert with_table(readme) == readme, (
        "README.md's configuration table is out of date: "
        "run `.venv/bin/python scripts/update_readme_config.py`"
    )
