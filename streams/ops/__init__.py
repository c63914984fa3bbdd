"""Operator tools: health, readiness and metrics endpoints, inspect, lag, replay, coverage, demo and backfill.

May import both stages and every floor below them; never streams.cli.
"""
