"""A reference subscriber for the account service: applies `accounts.email-unverified` events to its database.

See README.md here: at-least-once delivery plus an idempotent apply, so each event takes effect once.
"""
