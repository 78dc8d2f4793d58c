"""Child processes: helpers shared by the launcher and the gateway's session hosts."""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable


def _die_with_parent() -> None:
    """Runs in the child before exec: ask Linux to send SIGTERM when the parent goes away."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)


# On Linux a child also dies with its parent, so killing a parent leaves nothing behind.
DIE_WITH_PARENT: Callable[[], None] | None = _die_with_parent if sys.platform == "linux" else None
