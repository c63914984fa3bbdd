"""The event contract: JSON Schema files for every topic and validators for them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from jsonschema import Draft202012Validator, FormatChecker

SCHEMA_FILES = {
    "email-event": "email-event.schema.json",
    "login-event": "login-event.schema.json",
    "email-unverified": "email-unverified.schema.json",
    "domain-status": "domain-status.schema.json",
    "dead-letter": "dead-letter.schema.json",
    "control-command": "control-command.schema.json",
}


@cache
def load_schema(name: str) -> dict:
    return json.loads(resources.files(__name__).joinpath(SCHEMA_FILES[name]).read_text())


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name), format_checker=FormatChecker())


def first_error(name: str, document: object) -> str | None:
    """A one-line description of the first schema violation, or None when valid."""
    error = next(iter(validator(name).iter_errors(document)), None)
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where or 'value'}: {error.message}" if where else error.message
