"""The simulated provider: a scenario answered in process, for the demo and benchmarks."""

from __future__ import annotations

import asyncio

from streams.providers.base import ProviderError, Verdict
from streams.providers.fastly_policy import classify_fastly
from streams.providers.scenario import Scenario


class SimulatedProvider:
    name = "simulated"

    def __init__(self, scenario: Scenario, timeout: float):
        self.scenario = scenario
        self.timeout = timeout

    def route(self, domain: str) -> str:
        return "simulated"

    async def check(self, domain: str) -> Verdict:
        if self.scenario.latency:
            await asyncio.sleep(self.scenario.latency)
        answer = self.scenario.answer(domain)
        if answer == "timeout":
            await asyncio.sleep(self.timeout)
            raise ProviderError(f"simulated timeout for {domain}")
        if answer.startswith("http:") or answer == "garbage":
            raise ProviderError(
                f"simulated failure {answer} for {domain}", server_wide=answer in ("http:429", "http:503")
            )
        return classify_fastly(answer)

    async def aclose(self) -> None:
        return None
