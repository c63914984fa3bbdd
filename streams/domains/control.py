"""Operators' commands (lapsewatch.control) → the domain-commands hop, so the owning worker applies them in order.

`lapsewatch recheck/allow/unallow` write them; what each does to a domain is
`apply_control` in streams/domains/lifecycle.py.
"""

from __future__ import annotations

import logging

from streams import topics
from streams.app import app, settings
from streams.core import batches
from streams.core.inbound import Rejected
from streams.domains.controls import parse_control
from streams.deadletters import send_dead_letter

log = logging.getLogger("lapsewatch.control")


@app.agent(topics.control)
async def forward_control_commands(stream):
    async for event in stream.events():
        message = event.message
        try:
            command = parse_control(message.key, message.value, max_bytes=settings.max_event_bytes)
        except Rejected as exc:
            await send_dead_letter(message, exc.reason, exc.message)
            continue
        log.info("control: %s %s by %s (%s)", command["command"], command["domain"], command["requested_by"],
                 command["command_id"])
        batcher = batches.Batcher(settings.partitions)
        batcher.add(command["domain"], command)
        for partition, value in batcher.drain():
            # Delivered before the offset can be committed: a crash replays, the audit id dedups.
            await (await topics.domain_commands.send(key=None, value=value, partition=partition))
