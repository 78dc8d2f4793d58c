"""Writes the JSON Schema of the gateway ⇄ core contract to docs/contract/.

Run after changing sessions/events.py or sessions/commands.py:
`.venv/bin/python scripts/export_contract_schema.py`. tests/test_contract.py fails while the
files and the models disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from sessions.commands import COMMAND, SendResult
from sessions.events import CONTRACT_VERSION, EventBatch

OUT = Path(__file__).resolve().parents[1] / "docs" / "contract"


def schemas() -> dict[str, dict[str, Any]]:
    def titled(schema: dict[str, Any], title: str) -> dict[str, Any]:
        return {"title": title, "x-contract-version": CONTRACT_VERSION, **schema}

    return {
        "events.schema.json": titled(EventBatch.model_json_schema(), "EventBatch"),
        "commands.schema.json": titled(COMMAND.json_schema(), "Command"),
        "send-result.schema.json": titled(SendResult.model_json_schema(), "SendResult"),
    }


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, schema in schemas().items():
        (OUT / name).write_text(render(schema))
        print(f"wrote docs/contract/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
