"""Named fault points for the kill tests, armed for the Nth pass of a point.

`LAPSEWATCH_FAILPOINTS=intake-sent=3,restore-batch=2` kills the worker (SIGKILL)
the third time a batch of input is delivered but not yet committed, or the
second time a restore batch is written. `hop-drop=N` makes a hop lose the Nth
record it is handed, as Faust was seen to after a takeover (faust_fixes.py).
Unset (always, in production) a point costs one dictionary lookup. Only tests
set it: a kill -9 from outside cannot hit a window of a few milliseconds on
purpose.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "LAPSEWATCH_FAILPOINTS"
POINTS = ("intake-sent", "restore-batch", "hop-drop")


def parse(text: str) -> dict[str, int]:
    """`name=N,...` → {name: N}; raises ValueError naming the variable on anything else."""
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if name not in POINTS or not count.isdigit() or int(count) < 1:
            raise ValueError(f"{VARIABLE}: expected name=N with name in {', '.join(POINTS)} and N ≥ 1, got {item!r}")
        armed[name] = int(count)
    return armed


_armed = parse(os.environ.get(VARIABLE, ""))


def passes(name: str) -> bool:
    """True at the Nth pass of an armed point, once."""
    if name not in _armed:
        return False
    _armed[name] -= 1
    return _armed[name] == 0


def reach(name: str) -> None:
    """Kills the process at the Nth pass of an armed point."""
    if passes(name):
        os.kill(os.getpid(), signal.SIGKILL)
