"""Named crash points for the kill tests: the process kills itself (SIGKILL) at the Nth pass of a point.

`LAPSEWATCH_FAILPOINTS=intake-sent=3,restore-batch=2` kills the worker the
third time a batch of input is delivered but not yet committed, or the second
time a restore batch is written. Unset (always, in production) a point costs
one dictionary lookup. Only tests set it: a kill -9 from outside cannot hit a
window of a few milliseconds on purpose.
"""

from __future__ import annotations

import os
import signal

VARIABLE = "LAPSEWATCH_FAILPOINTS"
POINTS = ("intake-sent", "restore-batch")


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


def reach(name: str) -> None:
    if name in _armed:
        _armed[name] -= 1
        if _armed[name] == 0:
            os.kill(os.getpid(), signal.SIGKILL)
