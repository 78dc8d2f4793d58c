"""Small helpers the benchmark scripts share (imported as a sibling: `from benchkit import ...`)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path

Row = tuple[str, str]
TICK_S = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    """Progress, on stderr: the figures alone go to stdout."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 once it is gone."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK_S
    return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of a process and its live children (core with ``ZAPDESK_CORE_WORKERS``)."""
    children: list[int] = []
    with contextlib.suppress(OSError):
        children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return cpu_s(pid) + sum(cpu_s(child) for child in children)


def print_table(title: str, rows: list[Row]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 2 + max(len(value) for _, value in rows)))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
