"""lapsewatch: account events from Kafka → account table → domain table → registry checks → outbound events.

Floors, top down, each importing only its own or lower ones (pyproject.toml, [tool.importlinter]):
cli, ops, accounts, domains, deadletters, topics, app, settings, providers, core, kafka, schemas.
"""
