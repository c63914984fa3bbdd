"""The floor under the pipeline: a Faust app whose one agent only iterates the raw input topics.

bench.ingest runs it as a worker (`python -m faust -A bench.trivial_app worker`)
with the same broker timings as lapsewatch. It decodes nothing and writes
nothing; it logs `progress <count> <unix time>` at its first record and at
every 1 % of BENCH_TRIVIAL_N, so the benchmark reads its pace from the log
without adding work to the loop it measures.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

import faust

TOTAL = int(os.environ["BENCH_TRIVIAL_N"])
log = logging.getLogger("bench.trivial")

app = faust.App(
    os.environ["BENCH_TRIVIAL_APP_ID"],
    broker=os.environ["BENCH_TRIVIAL_BROKER"],
    store="memory://",
    datadir=tempfile.mkdtemp(prefix="lapsewatch-bench-trivial-"),
    web_enabled=False,
    broker_session_timeout=6.0,
    broker_rebalance_timeout=3.0,
    broker_heartbeat_interval=1.0,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(*os.environ["BENCH_TRIVIAL_TOPICS"].split(","), key_serializer="raw", value_serializer="raw")


@app.agent(source)
async def count(stream):
    seen = 0
    step = max(1, TOTAL // 100)
    async for _value in stream:
        seen += 1
        if seen == 1 or seen % step == 0 or seen == TOTAL:
            log.warning("progress %d %.6f", seen, time.time())
