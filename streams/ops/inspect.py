"""On-call look-ups that change nothing: what a provider says about a domain right now."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

from streams.accounts.addresses import InvalidAddress, PublicMailboxes, ascii_host, normalize_address, registrable_domain
from streams.end_offsets import end_offsets
from streams.providers import ProviderError, build_provider
from streams.providers.polite import Gate
from streams.settings import Settings


def domain_of(name: str, settings: Settings) -> tuple[str, bool]:
    """The registrable domain of a domain or an address, and whether it is a public mailbox provider."""
    try:
        domain = normalize_address(name).domain if "@" in name else registrable_domain(ascii_host(name))
    except InvalidAddress as exc:
        raise ValueError(str(exc)) from None
    return domain, domain in PublicMailboxes(settings.public_domains_extra)


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


async def check_now(domain: str, providers: list[str], settings: Settings) -> list[dict]:
    """One answer per provider, in order: its verdict and evidence, or why there is none."""
    gate = Gate(settings.provider_rate, settings.server_rate)
    answers = []
    for name in providers:
        provider = build_provider(name, settings, gate)
        started = time.monotonic()
        try:
            async with asyncio.timeout(settings.check_deadline):
                verdict = await provider.check(domain)
            answers.append({"provider": name, "verdict": verdict.verdict, "flags": list(verdict.flags),
                            "detail": verdict.detail, "registered_at": _iso(verdict.registered_at),
                            "expires_at": _iso(verdict.expires_at), "grace": verdict.grace,
                            "nameservers": list(verdict.nameservers),
                            "seconds": round(time.monotonic() - started, 3)})
        except (ProviderError, TimeoutError) as exc:
            reason = str(exc) or f"no answer within {settings.check_deadline:g} s"
            answers.append({"provider": name, "verdict": None, "error": reason,
                            "seconds": round(time.monotonic() - started, 3)})
        finally:
            await provider.aclose()
    return answers


def describe_verdict(domain: str, answer: dict) -> str:
    if answer["verdict"] is None:
        return f"{domain}: {answer['provider']} gave no verdict: {answer['error']}"
    lines = [f"{domain}: {answer['verdict'].upper()} according to {answer['provider']} ({answer['seconds']:.2f} s)",
             f"  status:      {' '.join(answer['flags']) or '—'}",
             f"  why:         {answer['detail'] or '—'}"]
    for label, key in (("registered:", "registered_at"), ("expires:", "expires_at")):
        if answer.get(key):
            lines.append(f"  {label:<12} {answer[key]}")
    if answer.get("grace"):
        lines.append("  in a grace period: checked daily")
    if answer.get("nameservers"):
        lines.append(f"  nameservers: {', '.join(answer['nameservers'])}")
    return "\n".join(lines)


def describe_domain(summary: dict) -> str:
    """The /domains/{name} answer as lines for a terminal."""
    members = summary["members"]
    lines = [f"{summary['domain']}: {summary['status']}" + (f" ({', '.join(summary['flags'])})" if summary["flags"] else ""),
             f"  provider         {summary['provider'] or '—'}" + (f": {summary['detail']}" if summary["detail"] else ""),
             f"  members          {members['accounts']} accounts, {members['addresses']} addresses, "
             f"{members['verified']} verified",
             f"  first seen       {summary['first_seen_at']}",
             f"  last check       {summary['last_check_at'] or '—'} (last verdict {summary['last_success_at'] or '—'})",
             f"  next check       {summary['next_check_at']}" + (" (urgent)" if summary["urgent"] else "")]
    if summary["consecutive_errors"] or summary["consecutive_inconclusive"]:
        lines.append(f"  in a row         {summary['consecutive_errors']} failed, "
                     f"{summary['consecutive_inconclusive']} inconclusive since {summary['inconclusive_since'] or '—'}")
    if summary.get("failing_since"):
        whose = ("alone: its server answers other names, so it backs off on its own" if summary["failing_alone"]
                 else "with its server")
        lines.append(f"  failing since    {summary['failing_since']}, {whose}")
    for label, key in (("registered", "registered_at"), ("expires", "expires_at"),
                       ("lapse seen", "lapse_first_seen_at"), ("lapse confirmed", "lapse_confirmed_at")):
        if summary[key]:
            lines.append(f"  {label:<16} {summary[key]}")
    if summary["grace"]:
        lines.append("  in its grace period after expiry: checked daily")
    if summary["unverified_this_episode"]:
        lines.append(f"  email-unverified {summary['unverified_this_episode']} sent in this lapse episode")
    lines.append(f"  owned by         partition {summary['partition']}, worker {summary['worker']}")
    return "\n".join(lines)


async def status_history(bootstrap: str, topic: str, domain: str, *, client_options: dict | None = None,
                         timeout: float = 30.0) -> list[dict]:
    """The domain's records on domains.status, oldest first: its verdict history with the evidence of each."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.batches import partition_for

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                **(client_options or {}))
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
                    history.append({"time": event.get("time"), **{key: data.get(key) for key in (
                        "transition", "status", "flags", "provider", "detail", "checked_at", "registered_at",
                        "expires_at")}, **({"control": data["control"]} if "control" in data else {})})
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
        note = (f"{control['command']} by {control['requested_by']}" + (f": {control['reason']}" if control['reason']
                                                                          else "")) if control else entry.get("detail")
        lines.append(f"    {entry['time']}  {entry['transition']:<16} {entry['status']:<16} "
                     f"{entry.get('provider') or ''} {evidence}" + (f"  ({note})" if note else ""))
    return "\n".join(lines)
