"""scripts/eval_copilot.py on the shipped pt-BR set: the local engine's figures, and an
OpenAI-compatible endpoint's when one is configured (here the fake server)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from scripts.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
DATASET = ROOT / "tests" / "copilot_eval.json"


async def run_eval(env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "scripts" / "eval_copilot.py"),
        str(DATASET),
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


def figures(output: str, row: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(row))
    return re.findall(r"[\d.]+%?", line[len(row) :])


async def test_the_local_engine_is_grounded_on_the_shipped_set() -> None:
    output = await run_eval({})
    [grounding] = figures(output, "grounding rate")
    [similarity] = figures(output, "similarity (token F1)")
    assert int(grounding.rstrip("%")) >= 75, output
    assert float(similarity) >= 0.5, output
    assert figures(output, "cases") == ["12"]


async def test_a_configured_endpoint_is_evaluated_too() -> None:
    fake = FakeOpenAI(reply=lambda body: "Olá! O prazo é de até 3 dias úteis.")
    await fake.start()
    try:
        output = await run_eval({"ZAPDESK_COPILOT_BASE_URL": fake.url})
    finally:
        await fake.close()
    assert "openai" in output.splitlines()[0]
    assert len(fake.requests) == 12
    local, remote = figures(output, "grounding rate")
    assert remote == "17%"  # two cases of twelve need "3 dias" (úteis), the fixed answer
    assert int(local.rstrip("%")) >= 75
