"""Scenario files that drive the simulated provider and the simulator server.

    {"default": "active",
     "latency_ms": 0,
     "domains": {"lapsed-shop.com": "inactive undelegated",
                 "flaky.net": ["http:503", "unknown", "active"]}}

An answer is Fastly status flags, or one of `http:<code>`, `timeout`,
`garbage` (a non-JSON body). A list is played one answer per call, and its
last answer repeats.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson


@dataclass
class Scenario:
    default: str = "active"
    latency: float = 0.0
    domains: dict[str, str | list[str]] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, path: Path | str) -> Scenario:
        """The scenario in a file; ValueError says what is wrong with it."""
        try:
            document = orjson.loads(Path(path).read_bytes())
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("expected a JSON object with default, latency_ms and domains")
        default, latency, domains = (
            document.get("default", "active"),
            document.get("latency_ms", 0),
            document.get("domains", {}),
        )
        if not isinstance(default, str):
            raise ValueError("default: expected a string of status flags")
        if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not 0 <= latency <= 3_600_000:
            raise ValueError("latency_ms: expected milliseconds between 0 and 3600000")
        if not isinstance(domains, dict) or not all(
            isinstance(answer, str) or (isinstance(answer, list) and all(isinstance(a, str) for a in answer))
            for answer in domains.values()
        ):
            raise ValueError("domains: expected an object of domain → answer string or list of answer strings")
        return cls(default=default, latency=float(latency) / 1000.0, domains=dict(domains))

    def set(self, domain: str, answer: str | list[str]) -> None:
        with self._lock:
            self.domains[domain] = answer
            self.calls[domain] = 0

    def answer(self, domain: str) -> str:
        """The answer for this call, counting it."""
        with self._lock:
            index = self.calls[domain]
            self.calls[domain] += 1
            planned = self.domains.get(domain, self.default)
        if isinstance(planned, list):
            return planned[min(index, len(planned) - 1)] if planned else self.default
        return planned
