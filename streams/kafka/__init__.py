"""Kafka and Faust plumbing: the embedded Tansu broker, true end offsets, the faust-streaming fixes, local table state.

The bottom floor of streams: imports nothing else of lapsewatch.
"""
