"""On-call look-ups that change nothing: what a provider says about a domain right now."""

from __future__ import annotations

import asyncio
import logging
import time

from streams.core.addresses import InvalidAddress, PublicMailboxes, ascii_host, normalize_address, registrable_domain
from streams.core.jsontypes import JsonObject
from streams.core.times import iso_utc_or_none
from streams.domains.provider_setup import build_gate, build_provider
from streams.kafka.end_offsets import end_offsets
from streams.providers import ProviderError
from streams.settings import Settings


def domain_of(name: str, settings: Settings) -> tuple[str, bool]:
    """The registrable domain of a domain or an address, and whether it is a public mailbox provider."""
    try:
        domain = normalize_address(name).domain if "@" in name else registrable_domain(ascii_host(name))
    except InvalidAddress as exc:
        raise ValueError(str(exc)) from None
    return domain, domain in PublicMailboxes(settings.public_domains_extra)


async def fresh_bootstrap(provider, settings: Settings, *, force: bool = False) -> dict | None:
    """Bring an RDAP provider's bootstrap up to date as the worker would; what is in use, for the output.

    The data directory's cached copy of IANA's file is used as it is while it is
    younger than LAPSEWATCH_RDAP_BOOTSTRAP_REFRESH; older (or `force`), IANA is
    asked first. A refresh that fails costs nothing but the note: the newest
    copy at hand (the cache, or the shipped snapshot) answers. None for a
    provider without a bootstrap.
    """
    from streams.providers.bootstrap import BootstrapSource

    source = getattr(provider, "bootstrap", None)
    if not isinstance(source, BootstrapSource) or not hasattr(provider, "refresh_bootstrap"):
        return None
    age = source.cache_age()
    refreshed = None
    if source.url and (force or age is None or age > settings.rdap_bootstrap_refresh):
        quiet = logging.getLogger("lapsewatch.rdap.bootstrap")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # a failed refresh is told in the answer, not as a warning beside it
        try:
            async with asyncio.timeout(settings.check_deadline):
                refreshed = await provider.refresh_bootstrap()
        except TimeoutError:
            refreshed, source.last_error = False, f"no answer within {settings.check_deadline:g} s"
        finally:
            quiet.setLevel(level)
    return {
        "in_use": source.in_use(),
        "publication": iso_utc_or_none(source.current.publication.timestamp()),
        "cache_age_seconds": None if age is None else round(age),
        "url": source.url,
        "refreshed": refreshed,
        "refresh_error": source.last_error if refreshed is False else None,
    }


def answered_by(provider, domain: str) -> dict:
    """Which server a check of `domain` goes to, and where the provider found it.

    Every provider names its server through `route(domain)` (the key of its rate
    limit and circuit breaker): an RDAP registry, a WHOIS server, Fastly's API.
    `source` is the provider's own `source_for(domain)` when it has one (a WHOIS
    provider can say where its server came from there), else its bootstrap's
    ("override", "iana", "registry"); None when nothing says.
    """
    route = getattr(provider, "route", None)
    server = route(domain) if callable(route) else None
    look_up = getattr(provider, "source_for", None) or getattr(getattr(provider, "bootstrap", None), "source_for", None)
    return {"server": server, "source": look_up(domain) if callable(look_up) else None}


async def check_now(domain: str, providers: list[str], settings: Settings, *, refresh: bool = False) -> list[dict]:
    """One answer per provider, in order: its verdict and evidence, or why there is none, and who answered."""
    gate = build_gate(settings)
    answers = []
    for name in providers:
        provider = build_provider(name, settings, gate)
        pick = getattr(provider, "pick", None)
        name = pick(domain).name if pick is not None else name  # RDAP's chain may hand a TLD to WHOIS
        try:
            bootstrap = await fresh_bootstrap(provider, settings, force=refresh)
            context = {
                "answered_by": answered_by(provider, domain),
                **({"bootstrap": bootstrap} if bootstrap is not None else {}),
            }
            started = time.monotonic()
            try:
                async with asyncio.timeout(settings.check_deadline):
                    verdict = await provider.check(domain)
                answers.append(
                    {
                        "provider": name,
                        "verdict": verdict.verdict,
                        "flags": list(verdict.flags),
                        "detail": verdict.detail,
                        "registered_at": iso_utc_or_none(verdict.registered_at),
                        "expires_at": iso_utc_or_none(verdict.expires_at),
                        "grace": verdict.grace,
                        "nameservers": list(verdict.nameservers),
                        "seconds": round(time.monotonic() - started, 3),
                        **context,
                    }
                )
            except (ProviderError, TimeoutError) as exc:
                reason = str(exc) or f"no answer within {settings.check_deadline:g} s"
                answers.append(
                    {
                        "provider": name,
                        "verdict": None,
                        "error": reason,
                        "seconds": round(time.monotonic() - started, 3),
                        **context,
                    }
                )
        finally:
            await provider.aclose()
    return answers


SOURCE_NAMES = {
    "override": "LAPSEWATCH_RDAP_SERVERS",
    "iana": "IANA's bootstrap file",
    "registry": "the registry table",
    "whois": "the WHOIS table or LAPSEWATCH_WHOIS_SERVERS",
}


def describe_source(answer: JsonObject) -> list[str]:
    """The lines naming who answered and which bootstrap copy said so."""
    lines = []
    who: JsonObject = answer.get("answered_by") or {}
    if who.get("server"):
        source = who.get("source")
        found = SOURCE_NAMES.get(source, source) if isinstance(source, str) else source
        server = "no server (the TLD has none)" if who["server"] == "none" else who["server"]
        lines.append(f"  asked:       {server}" + (f" (from {found})" if found else ""))
    bootstrap = answer.get("bootstrap")
    if bootstrap:
        copy = {"shipped": "the shipped snapshot", "cached": "the cached copy", "fetched": "a copy fetched now"}[
            bootstrap["in_use"]
        ]
        line = f"  bootstrap:   IANA's file of {bootstrap['publication']}, {copy}"
        if bootstrap["refreshed"] is False:
            line += f" (refresh failed: {bootstrap['refresh_error']})"
        elif bootstrap["refreshed"] is None and bootstrap["cache_age_seconds"] is not None:
            line += f" (fetched {_age(bootstrap['cache_age_seconds'])} ago)"
        lines.append(line)
    return lines


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def describe_verdict(domain: str, answer: dict) -> str:
    if answer["verdict"] is None:
        return "\n".join(
            [f"{domain}: {answer['provider']} gave no verdict: {answer['error']}", *describe_source(answer)]
        )
    lines = [
        f"{domain}: {answer['verdict'].upper()} according to {answer['provider']} ({answer['seconds']:.2f} s)",
        f"  status:      {' '.join(answer['flags']) or '—'}",
        f"  why:         {answer['detail'] or '—'}",
    ]
    for label, key in (("registered:", "registered_at"), ("expires:", "expires_at")):
        if answer.get(key):
            lines.append(f"  {label:<12} {answer[key]}")
    if answer.get("grace"):
        lines.append("  in a grace period: checked daily")
    if answer.get("nameservers"):
        lines.append(f"  nameservers: {', '.join(answer['nameservers'])}")
    lines.extend(describe_source(answer))
    return "\n".join(lines)


def describe_domain(summary: dict) -> str:
    """The /domains/{name} answer as lines for a terminal."""
    members = summary["members"]
    lines = [
        f"{summary['domain']}: {summary['status']}" + (f" ({', '.join(summary['flags'])})" if summary["flags"] else ""),
        f"  provider         {summary['provider'] or '—'}" + (f": {summary['detail']}" if summary["detail"] else ""),
        f"  members          {members['accounts']} accounts, {members['addresses']} addresses, "
        f"{members['verified']} verified",
        f"  first seen       {summary['first_seen_at']}",
        f"  last check       {summary['last_check_at'] or '—'} (last verdict {summary['last_success_at'] or '—'})",
        f"  next check       {summary['next_check_at']}" + (" (urgent)" if summary["urgent"] else ""),
    ]
    if summary["consecutive_errors"] or summary["consecutive_inconclusive"]:
        lines.append(
            f"  in a row         {summary['consecutive_errors']} failed, "
            f"{summary['consecutive_inconclusive']} inconclusive since {summary['inconclusive_since'] or '—'}"
        )
    if summary.get("failing_since"):
        whose = (
            "alone: its server answers other names, so it backs off on its own"
            if summary["failing_alone"]
            else "with its server"
        )
        lines.append(f"  failing since    {summary['failing_since']}, {whose}")
    for label, key in (
        ("registered", "registered_at"),
        ("expires", "expires_at"),
        ("lapse seen", "lapse_first_seen_at"),
        ("lapse confirmed", "lapse_confirmed_at"),
    ):
        if summary[key]:
            lines.append(f"  {label:<16} {summary[key]}")
    if summary["grace"]:
        lines.append("  in its grace period after expiry: checked daily")
    if summary["unverified_this_episode"]:
        lines.append(f"  email-unverified {summary['unverified_this_episode']} sent in this lapse episode")
    lines.append(f"  owned by         partition {summary['partition']}, worker {summary['worker']}")
    return "\n".join(lines)


async def status_history(
    bootstrap: str, topic: str, domain: str, *, client_options: dict | None = None, timeout: float = 30.0
) -> list[dict]:
    """The domain's records on domains.status, oldest first: its verdict history with the evidence of each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.core.batches import partition_for

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **(client_options or {})
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
        if not partitions:
            return []
        # Keyed by domain with Kafka's default partitioner, as the workers send them.
        tp = TopicPartition(topic, partition_for(domain, len(partitions)))
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await end_offsets(consumer, [tp]))[tp]
        history = []
        deadline = time.monotonic() + timeout
        while await consumer.position(tp) < end and time.monotonic() < deadline:
            for message in (await consumer.getmany(tp, timeout_ms=500)).get(tp, []):
                if message.key != domain.encode() or message.value is None:
                    continue
                event = _json(message.value)
                data = event.get("data") if isinstance(event, dict) else None
                if isinstance(data, dict) and event.get("type") == "lapsewatch.domain.status":
                    history.append(
                        {
                            "time": event.get("time"),
                            **{
                                key: data.get(key)
                                for key in (
                                    "transition",
                                    "status",
                                    "flags",
                                    "provider",
                                    "detail",
                                    "checked_at",
                                    "registered_at",
                                    "expires_at",
                                )
                            },
                            **({"control": data["control"]} if "control" in data else {}),
                        }
                    )
        return history
    finally:
        await consumer.stop()


async def _partitions(consumer, topic: str) -> set[int]:
    await consumer.topics()  # refreshes metadata
    return consumer.partitions_for_topic(topic) or set()


def _json(value: bytes):
    import orjson

    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def describe_history(history: list[dict]) -> str:
    if not history:
        return "  history          none on the status topic (retention, or not yet written)"
    lines = ["  history"]
    for entry in history:
        evidence = ", ".join(entry.get("flags") or [])
        control = entry.get("control")
        note = (
            (
                f"{control['command']} by {control['requested_by']}"
                + (f": {control['reason']}" if control["reason"] else "")
            )
            if control
            else entry.get("detail")
        )
        lines.append(
            f"    {entry['time']}  {entry['transition']:<16} {entry['status']:<16} "
            f"{entry.get('provider') or ''} {evidence}" + (f"  ({note})" if note else "")
        )
    return "\n".join(lines)
