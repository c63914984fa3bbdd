"""Stage 1: input events parsed into account commands, applied to the account table, sent on as domain commands.

May import streams.domains (the stage it feeds) and every floor below it; never streams.ops or streams.cli.
"""
