"""Batched internal records: order kept per destination partition, the producer's partitions, size bound."""

from __future__ import annotations

import random
import string

import orjson
from aiokafka.partitioner import DefaultPartitioner, murmur2

from streams.core import batches


def test_a_key_keeps_the_partition_the_producer_gave_it_before_batching():
    partitions = list(range(8))
    for i in range(500):
        key = f"account-{i}"
        assert batches.partition_for(key, 8) == DefaultPartitioner()(key.encode(), partitions, partitions)


def test_the_native_hash_is_kafkas_murmur2_on_any_key():
    rng = random.Random(3)
    alphabet = string.printable + "éü文字🙂"
    keys = ["", "a", "ab", "abc", "abcd", "abcde"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(5000)
    ]
    for key in keys:
        for count in (1, 3, 8, 12, 100):
            expected = (murmur2(key.encode()) & 0x7FFFFFFF) % count
            assert batches.partition_for(key, count) == expected, (key, count)


def test_commands_keep_their_order_per_partition_and_every_command_arrives_once():
    batcher = batches.Batcher(4)
    sent = [{"account_id": f"a{i % 37}", "n": i} for i in range(1000)]
    for command in sent:
        batcher.add(command["account_id"], command)
    received: dict[int, list[dict]] = {}
    for partition, value in batcher.drain():
        received.setdefault(partition, []).extend(batches.decode(value))
    assert sorted(c["n"] for commands in received.values() for c in commands) == list(range(1000))
    for partition, commands in received.items():
        assert all(batches.partition_for(c["account_id"], 4) == partition for c in commands)
        assert [c["n"] for c in commands] == sorted(c["n"] for c in commands)
    assert batcher.drain() == []


def test_records_stay_under_the_size_bound_and_in_order():
    batcher = batches.Batcher(1)
    for i in range(300):
        batcher.add("k", {"n": i, "pad": "x" * 5000})
    records = batcher.drain()
    assert len(records) > 1
    assert all(len(value) <= batches.MAX_RECORD_BYTES for _, value in records)
    assert [c["n"] for _, value in records for c in batches.decode(value)] == list(range(300))


def test_a_single_command_record_from_before_batching_still_decodes():
    assert batches.decode(orjson.dumps({"kind": "check", "domain": "x.com"})) == [{"kind": "check", "domain": "x.com"}]
