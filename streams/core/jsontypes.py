"""The type of a decoded JSON object, as the pure modules pass them around. Pure.

A JSON object's values are whatever JSON holds, so they are `Any` to the type checker: each reader
knows what a field holds from the checks that came before it (a schema in schemas/, a row this code
wrote), and a union each of them narrowed again would repeat those checks, not add one. Shapes that
are ours and fixed get a TypedDict instead (streams/domains/state.py, streams/domains/outbound.py).
"""

from __future__ import annotations

from typing import Any, TypeAlias

JsonObject: TypeAlias = dict[str, Any]
