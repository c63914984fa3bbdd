"""Scale-out: ingest throughput of two workers in one consumer group against one worker.

The method of bench.ingest (a): N events of the same mix, each run on its own
8-partition input topics and its own app id on one broker. The two workers
start, split the domain partitions between them, and only then is the first
record produced. On a 2-core machine the broker, the benchmark and both
workers share the two cores, so the ratio is a floor, not a prediction.
"""

from __future__ import annotations

from bench.common import Figure, embedded_broker, workdir
from bench.ingest import event_count, events_for, pipeline_rate

NAME = "scaleout"


async def run() -> list[Figure]:
    total = event_count()
    with embedded_broker() as broker, workdir(NAME) as scratch:
        one = await pipeline_rate(broker, scratch, "scaleout-one", events_for("scaleout-one", total), workers=1)
        two = await pipeline_rate(broker, scratch, "scaleout-two", events_for("scaleout-two", total), workers=2)
    return [
        Figure(
            NAME,
            "one worker, steady 10 → 90 %",
            one.steady,
            "events/s",
            note=f"first produce → all applied {one.overall:,.0f}/s",
        ),
        Figure(
            NAME,
            "two workers in one group, steady 10 → 90 %",
            two.steady,
            "events/s",
            note=f"first produce → all applied {two.overall:,.0f}/s",
        ),
        Figure(
            NAME,
            "two workers ÷ one",
            two.steady / one.steady,
            "×",
            digits=2,
            note=f"{two.overall / one.overall:.2f}× first produce → all applied",
        ),
    ]
