"""Shared pieces every stage uses: times, addresses, inbound decoding, JSON types, policy, batches, metrics,
dead-letter records.

May import only each other and schemas: no Faust app, no Kafka I/O, no settings.
"""
