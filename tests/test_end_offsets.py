"""End offsets as a consumer must see them, whatever the broker's ListOffsets says (Tansu under-reports)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streams.kafka.end_offsets import end_offsets
from tests.harness import unique


async def test_end_offsets_count_every_record_of_multi_record_batches(broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    topic = unique("end-offsets")
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=100)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await producer.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, n) for n in range(3)]
        assert await end_offsets(consumer, partitions) == {tp: 0 for tp in partitions}
        for batch in ([0] * 5, [0], [0] * 3, [1] * 7):  # batches of 5, 1 and 3 records, then 7 on another partition
            sent = [await producer.send(topic, b"x", partition=partition) for partition in batch]
            await producer.flush()
            offsets = [(await future).offset for future in sent]
            assert offsets == list(range(offsets[0], offsets[0] + len(batch)))
        assert await end_offsets(consumer, partitions) == {partitions[0]: 9, partitions[1]: 7, partitions[2]: 0}
    finally:
        await producer.stop()
        await consumer.stop()
