"""A small BM25 ranking over short texts, in memory, that grows one document at a time.

Okapi BM25 with the usual constants. Postings are per word, kept in typed arrays (few Python
objects: the garbage collector has little to walk, so no long pauses on a large history). A
query touches only the postings of its own words, rarest first; a very common word is then
only looked up in the documents the rarer words found, instead of scanned whole. That keeps a
query over a 100k-message history within milliseconds (scripts/bench_copilot.py).
"""

from __future__ import annotations

import heapq
import math
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

P = TypeVar("P")

K1 = 1.2
B = 0.75
# A word in more postings than this is looked up in the candidates, not scanned whole.
FULL_SCAN = 3000
# Per-document length norms are recomputed when the average length drifts this much.
DRIFT = 0.1


@dataclass
class Hit(Generic[P]):
    score: float
    payload: P


class BM25Index(Generic[P]):
    def __init__(self) -> None:
        self.payloads: list[P] = []
        self._lengths = array("l")
        self._norms = array("d")
        self._norms_average = 0.0
        self._docs: dict[str, array[int]] = {}
        self._tfs: dict[str, array[int]] = {}
        self._total_length = 0

    def __len__(self) -> int:
        return len(self.payloads)

    def add(self, words: Iterable[str], payload: P) -> None:
        counts = Counter(words)
        if not counts:
            return
        doc = len(self.payloads)
        self.payloads.append(payload)
        length = sum(counts.values())
        self._lengths.append(length)
        self._total_length += length
        average = self._norms_average or length
        self._norms.append(K1 * (1 - B + B * length / average))
        for word, tf in counts.items():
            if word not in self._docs:
                self._docs[word] = array("l")
                self._tfs[word] = array("l")
            self._docs[word].append(doc)  # ascending: documents only ever get appended
            self._tfs[word].append(tf)

    def _fresh_norms(self) -> None:
        average = self._total_length / len(self.payloads)
        if self._norms_average and abs(average - self._norms_average) <= DRIFT * average:
            return
        self._norms = array("d", (K1 * (1 - B + B * n / average) for n in self._lengths))
        self._norms_average = average

    def idf(self, word: str) -> float:
        total = len(self.payloads)
        df = len(self._docs.get(word, ()))
        return math.log(1 + (total - df + 0.5) / (df + 0.5))

    def search(self, words: Iterable[str], limit: int = 5) -> list[Hit[P]]:
        if not self.payloads:
            return []
        self._fresh_norms()
        norms = self._norms
        present = sorted(
            (w for w in set(words) if w in self._docs), key=lambda w: len(self._docs[w])
        )
        scores: dict[int, float] = {}
        for word in present:
            docs, tfs = self._docs[word], self._tfs[word]
            weight = self.idf(word) * (K1 + 1)
            if not scores or len(docs) <= FULL_SCAN:
                for doc, tf in zip(docs, tfs, strict=True):
                    scores[doc] = scores.get(doc, 0.0) + weight * tf / (tf + norms[doc])
                continue
            for doc in scores:  # a common word: only where the rarer ones matched
                at = bisect_left(docs, doc)
                if at < len(docs) and docs[at] == doc:
                    tf = tfs[at]
                    scores[doc] += weight * tf / (tf + norms[doc])
        best = heapq.nlargest(limit, scores.items(), key=lambda item: item[1])
        return [Hit(score, self.payloads[doc]) for doc, score in best]

    def max_score(self, words: Iterable[str]) -> float:
        """What a document of average length holding each of these words once would score:
        the scale that turns scores into a 0..1 confidence."""
        return sum(self.idf(word) for word in set(words))
