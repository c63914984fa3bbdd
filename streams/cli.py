"""The `lapsewatch` command."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import click

from streams.settings import TANSU_SAFE_ENV, SettingsError, load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """lapsewatch: unverify email addresses whose custom domain has lapsed."""


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("-l", "--loglevel", default="info", show_default=True, help="crit, error, warn, info or debug")
@click.pass_context
def worker(ctx: click.Context, loglevel: str) -> None:
    """Run a worker in the foreground (extra options go to `faust worker`)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    if settings.broker is None:
        from streams.broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        os.environ["LAPSEWATCH_BROKER"] = broker.url
        # The broker keeps nothing across runs, so table state must not either.
        os.environ["LAPSEWATCH_DATA_DIR"] = tempfile.mkdtemp(prefix="lapsewatch-embedded-")
        # One member on a private broker: no need to wait out long session timeouts.
        os.environ.setdefault("LAPSEWATCH_BROKER_SESSION_TIMEOUT", "6s")
        os.environ.setdefault("LAPSEWATCH_BROKER_REBALANCE_TIMEOUT", "3s")
        os.environ.setdefault("LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL", "1s")
        os.environ.update(TANSU_SAFE_ENV)
        click.echo(f"lapsewatch: LAPSEWATCH_BROKER is not set: started an embedded Tansu broker at {broker.url} "
                   "(in memory: everything is lost when the worker stops)", err=True)
    from faust.cli.faust import cli as faust_cli

    faust_cli.main(["-A", "streams.app", "worker", "-l", loglevel, *ctx.args], prog_name="lapsewatch")


@main.command()
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8780, show_default=True, type=int)
@click.option("--api-key-env", default="LAPSEWATCH_FASTLY_API_KEY", show_default=True,
              help="require this variable's value as the Fastly-Key header, when it is set")
def simulator(scenario_path: str, host: str, port: int, api_key_env: str) -> None:
    """Serve Fastly's domain Status API from a scenario file, for demos and tests."""
    from streams.providers.scenario import Scenario
    from streams.providers.simulator import serve

    async def run() -> None:
        await serve(Scenario.load(scenario_path), host, port, os.environ.get(api_key_env))
        click.echo(f"simulated Fastly status API on http://{host}:{port}", err=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        sys.exit(0)


@main.command()
@click.option("--timeout", default=90.0, show_default=True, help="seconds to wait for the expected events")
def demo(timeout: float) -> None:
    """Embedded broker, simulated provider, sample accounts: prints email-unverified events as they arrive."""
    from streams.ops.demo import run_demo

    sys.exit(run_demo(timeout))
