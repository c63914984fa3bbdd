"""End offsets a broker's ListOffsets may under-report, checked against a fetch's high watermark.

Tansu 0.6.0 answers ListOffsets(latest) with the last batch's base offset
plus one: after a batch of five records at offsets 0-4 it says 1, not 5.
Faust recovers a table by reading its changelog up to that end offset, so it
stopped short and lost the rest of the last batch, and lag looked smaller than
it was. A fetch from just below the listed end returns the true high watermark
on every broker, so each end offset is taken as the larger of the two. On a
broker that lists correctly the fetch changes nothing; it costs one request per
leader, and end offsets are asked for rarely (at recovery, and by the tools).
"""

from __future__ import annotations

from collections import defaultdict

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.protocol.fetch import FetchRequest

NO_ERROR = 0
READ_UNCOMMITTED = 0
FETCH_WAIT_MS = 100


async def end_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """consumer.end_offsets(partitions), each raised to the high watermark a fetch reports."""
    listed = await consumer.end_offsets(partitions)
    return await raised_to_high_watermarks(consumer._client, listed)


async def raised_to_high_watermarks(client, listed: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    by_leader: dict[int, list[TopicPartition]] = defaultdict(list)
    for tp, end in listed.items():
        leader = client.cluster.leader_for_partition(tp)
        if end > 0 and leader is not None and leader >= 0:
            by_leader[leader].append(tp)
    ends = dict(listed)
    for leader, tps in by_leader.items():
        topics: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for tp in tps:
            # One byte asked for: the broker still returns the first batch, and the high watermark.
            topics[tp.topic].append((tp.partition, listed[tp] - 1, 1))
        # Tansu answers a fetch that may not wait with no partitions at all: allow a short wait for one
        # byte, which the record at end - 1 satisfies at once.
        request = FetchRequest(FETCH_WAIT_MS, 1, 1, READ_UNCOMMITTED, list(topics.items()))
        response = await client.send(leader, request)
        for topic, partitions in response.topics:
            for partition, error_code, high_watermark, *_ in partitions:
                tp = TopicPartition(topic, partition)
                if error_code == NO_ERROR and tp in ends:
                    ends[tp] = max(ends[tp], high_watermark)
    return ends
