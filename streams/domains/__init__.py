"""Stage 2: domain commands applied to the domain table, registry checks scheduled and run, outbound events sent.

May import streams.deadletters, topics, app, settings, providers, core and kafka; never streams.accounts, ops or cli.
"""
