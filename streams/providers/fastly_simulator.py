"""A loopback HTTP server that answers Fastly's Status endpoint from a scenario.

The same server plays Fastly in the tests and in docker-compose, so the real
HTTP client, timeouts, status codes and bodies are exercised.
"""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from streams.providers.fastly import STATUS_PATH
from streams.providers.scenario import Scenario


def make_app(scenario: Scenario, *, api_key: str | None = None, hang_seconds: float = 30.0) -> web.Application:
    async def status(request: web.Request) -> web.Response:
        if api_key is not None and request.headers.get("Fastly-Key") != api_key:
            return web.json_response({"msg": "Provided credentials are missing or invalid"}, status=401)
        domain = request.query.get("domain", "")
        if scenario.latency:
            await asyncio.sleep(scenario.latency)
        answer = scenario.answer(domain)
        if answer == "timeout":
            await asyncio.sleep(hang_seconds)
            return web.Response(status=504)
        if answer == "garbage":
            return web.Response(body=b"<html>upstream error", content_type="text/html")
        if answer.startswith("http:"):
            code = int(answer.split(":", 1)[1])
            headers = {"Retry-After": "1"} if code in (429, 503) else None
            return web.json_response({"msg": "simulated"}, status=code, headers=headers)
        body = {"domain": domain, "zone": domain.rsplit(".", 1)[-1], "status": answer, "tags": "", "scope": ""}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_get(STATUS_PATH, status)
    return app


async def serve(
    scenario: Scenario, host: str, port: int, api_key: str | None = None, hang_seconds: float = 30.0
) -> web.AppRunner:
    runner = web.AppRunner(make_app(scenario, api_key=api_key, hang_seconds=hang_seconds), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
