"""Copilot evaluation: drafts for a set of pt-BR conversations, scored against references.

``.venv/bin/python scripts/eval_copilot.py tests/copilot_eval.json``

The dataset (JSON) has the shop's past conversations (``history``: what attendants answered),
its knowledge base (``knowledge``) and ``cases``: new conversations, each with the reply an
experienced attendant would send (``reference``) and the facts that reply must carry
(``facts``). Everything is written to a fresh SQLite database in a temporary directory, and
each case is drafted through the real copilot service:

* grounding rate: share of cases whose draft carries every needed fact (accents, case and
  spacing ignored);
* similarity: mean token F1 between the draft and the reference (normalized Portuguese words);
* drafted: share of cases with a draft at all (the local engine declines when nothing fits).

The local engine always runs; with ``ZAPDESK_COPILOT_BASE_URL`` set (and ``_API_KEY``,
``_MODEL`` as needed) the OpenAI-compatible endpoint runs on the same cases too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the project's packages
    sys.path.insert(0, str(ROOT))

from core.copilot.service import CopilotService  # noqa: E402
from core.copilot.text import fold, words  # noqa: E402
from core.realtime.bus import MemoryBus  # noqa: E402
from core.settings import CopilotSettings  # noqa: E402
from scripts.copilot_world import add_articles, add_conversations, open_world  # noqa: E402


@dataclass
class Scores:
    engine: str
    cases: int
    drafted: int
    grounded: int
    similarity: float

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("cases", str(self.cases)),
            ("drafted", f"{self.drafted / self.cases:.0%}"),
            ("grounding rate", f"{self.grounded / self.cases:.0%}"),
            ("similarity (token F1)", f"{self.similarity:.2f}"),
        ]


def token_f1(draft: str, reference: str) -> float:
    got, want = Counter(words(draft)), Counter(words(reference))
    common = sum((got & want).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(want.values())
    return 2 * precision * recall / (precision + recall)


def carries(draft: str, fact: str) -> bool:
    return " ".join(fold(fact).split()) in " ".join(fold(draft).split())


def turns_of(raw: list[list[str]]) -> list[tuple[bool, str]]:
    return [(direction == "in", text) for direction, text in raw]


async def evaluate(
    dataset: dict[str, Any], settings: CopilotSettings, engine: str, verbose: bool
) -> Scores:
    with tempfile.TemporaryDirectory() as tmp:
        world = await open_world(f"sqlite+aiosqlite:///{Path(tmp) / 'eval.db'}")
        try:
            await add_articles(world, dataset["knowledge"])
            history = [(c["customer"], turns_of(c["turns"])) for c in dataset["history"]]
            await add_conversations(world, history)
            cases = dataset["cases"]
            ids = await add_conversations(
                world, [(c["customer"], turns_of(c["turns"])) for c in cases]
            )
            service = CopilotService(world.sessions, MemoryBus(), settings)
            drafted = grounded = 0
            similarity = 0.0
            try:
                for case, conversation_id in zip(cases, ids, strict=True):
                    draft = await service.draft_now(conversation_id)
                    text = draft.text if draft is not None and draft.state == "ready" else ""
                    drafted += bool(text)
                    ok = bool(text) and all(carries(text, fact) for fact in case["facts"])
                    grounded += ok
                    similarity += token_f1(text, case["reference"])
                    if verbose:
                        shown = text or f"({draft.error_code if draft else 'no draft'})"
                        mark = "ok " if ok else "-- "
                        print(f"{mark}{case['turns'][-1][1]!r}\n    {shown!r}", file=sys.stderr)
            finally:
                await service.close()
        finally:
            await world.close()
    return Scores(engine, len(cases), drafted, grounded, similarity / max(1, len(cases)))


def print_scores(all_scores: list[Scores]) -> None:
    names = [name for name, _ in all_scores[0].rows()]
    width = max(len(n) for n in names)
    header = "".join(f"{s.engine:>14}" for s in all_scores)
    print(f"{'':{width}}{header}")
    for index, name in enumerate(names):
        values = "".join(f"{s.rows()[index][1]:>14}" for s in all_scores)
        print(f"{name:{width}}{values}")


async def main_async(dataset: dict[str, Any], verbose: bool) -> int:
    configured = CopilotSettings()
    results = [await evaluate(dataset, CopilotSettings(provider="local"), "local", verbose)]
    if configured.base_url:
        results.append(
            await evaluate(
                dataset, configured.model_copy(update={"provider": "openai"}), "openai", verbose
            )
        )
    print_scores(results)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("-v", "--verbose", action="store_true", help="each draft on stderr")
    args = parser.parse_args()
    dataset = json.loads(args.dataset.read_text(encoding="utf-8"))
    return asyncio.run(main_async(dataset, args.verbose))


if __name__ == "__main__":
    sys.exit(main())
