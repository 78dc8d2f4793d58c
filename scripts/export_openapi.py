"""Writes core's OpenAPI document to a file, without starting a server.

The web UI's build runs it (`webui/package.json`, script `api`) and generates its API types
from the file with openapi-typescript, so the browser client cannot drift from the server:
`.venv/bin/python scripts/export_openapi.py webui/openapi.json`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core.api import APIS
from core.api.openapi import document
from core.app import VERSION


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} OUTPUT.json", file=sys.stderr)
        return 2
    out = Path(argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(document(APIS, VERSION), indent=1, ensure_ascii=False, sort_keys=True)
    out.write_text(text + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
