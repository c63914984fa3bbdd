"""The alert rules and the dashboard in deploy/: valid, firing when they should, and naming only metrics a worker
exports; the metrics added for them, on a real worker and a real broker."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from aiokafka import AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams.ops.lag import record_timestamps
from streams.providers.breakers import Breakers
from tests.harness import email_event, unique, unique_domain, wait_for

ROOT = Path(__file__).resolve().parent.parent
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "lapsewatch.json"
RUNBOOK = "https://github.com/lapsewatch/lapsewatch/blob/main/README.md#"
# Series Prometheus makes itself for every scrape target, not a worker's.
SCRAPE_SERIES = {"up"}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package `prometheus`; .ci/run installs it): alert rules not checked",
)
T = 60  # seconds; every wait ends as soon as its condition holds


def promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


@needs_promtool
def test_the_rules_and_the_prometheus_config_are_valid():
    assert "SUCCESS: 8 rules found" in promtool("check", "rules", str(ALERTS))
    # The config loads the rules from where docker-compose.yml mounts them.
    assert "1 rule files found" in promtool("check", "config", str(ROOT / "deploy" / "prometheus.yml"))


@needs_promtool
def test_each_alert_fires_on_its_condition_and_not_on_look_alikes():
    promtool("test", "rules", str(ALERTS_TEST))
    tested = set(re.findall(r"alertname: (\w+)", ALERTS_TEST.read_text()))
    assert tested == {rule["alert"] for rule in rules()}


def test_each_alert_links_its_runbook_section():
    for rule in rules():
        assert rule["annotations"]["runbook_url"] == RUNBOOK + rule["alert"].lower(), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}


def readme_anchors() -> set[str]:
    """The anchors GitHub gives README.md's headings: the text lower-cased, punctuation dropped, spaces as '-'."""
    anchors: set[str] = set()
    fenced = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced  # a `# comment` in a code block is no heading
            continue
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fenced or not heading:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading[1])  # a link counts as its text
        anchor = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        # A repeated heading gets -1, -2, ... appended.
        unique, n = anchor, 0
        while unique in anchors:
            n += 1
            unique = f"{anchor}-{n}"
        anchors.add(unique)
    return anchors


def test_each_runbook_url_names_a_readme_heading():
    anchors = readme_anchors()
    assert {"runbook", "alerts", "who-may-do-what"} <= anchors, "the anchors are not computed as GitHub does"
    for rule in rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOK), url
        assert url.removeprefix(RUNBOOK) in anchors, f"{rule['alert']}: README.md has no heading for {url}"


def test_the_readmes_links_within_itself_name_its_headings():
    text = (ROOT / "README.md").read_text()
    missing = set(re.findall(r"\]\(#([^)]+)\)", text)) - readme_anchors()
    assert not missing, f"README.md links to headings it does not have: {sorted(missing)}"


# PromQL, reduced to the metric names it reads: strings, label matchers, ranges and label lists go first.
_STRIPPED = [
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`',
    r"\{[^}]*\}",
    r"\[[^\]]*\]",
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)",
]
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "group_left", "group_right", "on", "ignoring", "inf", "nan"}
_IDENTIFIER = re.compile(r"(?<![\w.$:])[a-zA-Z_:][\w:]*(?![\w:]*\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (function and aggregation names are followed by a parenthesis)."""
    for pattern in _STRIPPED:
        expr = re.sub(pattern, " ", expr)
    return {name for name in _IDENTIFIER.findall(expr) if name.lower() not in _KEYWORDS}


def test_metric_names_are_read_from_promql():
    expr = (
        'histogram_quantile(0.9, sum by (provider, le) (rate(a_bucket{job=~"$job", x="y z"}[$__rate_interval])))'
        " / on (job) group_left b + sum(c offset 1d) > bool 1e3 and time() - d unless max without (e) (f)[5m:1m]"
    )
    assert metric_names(expr) == {"a_bucket", "b", "c", "d", "f"}


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p for panel in dashboard["panels"] for p in [panel, *panel.get("panels", [])]]
    queries = [target["expr"] for panel in panels for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):  # label_values(metric, label): the metric is the first argument
            queries += re.findall(r"label_values\((.*),\s*\w+\)", query["query"])
    return queries


def test_the_dashboard_shows_what_an_operator_looks_at():
    shown = {name for query in dashboard_queries() for name in metric_names(query)}
    for name in (
        "lapsewatch_consumer_lag",
        "lapsewatch_input_oldest_unprocessed_age_seconds",
        "lapsewatch_events_in_total",
        "lapsewatch_dead_lettered_total",
        "lapsewatch_checks_total",
        "lapsewatch_check_duration_seconds_bucket",
        "lapsewatch_provider_circuit_open",
        "lapsewatch_due_backlog",
        "lapsewatch_domains",
        "lapsewatch_email_unverified_total",
        "lapsewatch_table_memory_bytes",
        "lapsewatch_ready",
    ):
        assert name in shown, name
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))


SAMPLE_SUFFIXES = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count", "_created"]}


def exported_names(exposition: str) -> set[str]:
    """Every sample name the exposition's families can have, from their # TYPE lines: a labelled metric no code
    path has touched yet has no samples, but its family is there."""
    names = set()
    for family in text_string_to_metric_families(exposition):
        names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, [""]))
    return names


async def scrape(url: str) -> str:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(url + "/metrics")
    assert response.status_code == 200
    return response.text


def values(exposition: str, name: str) -> dict[tuple, float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    }


async def test_every_metric_an_alert_or_a_panel_names_is_one_a_worker_exports(shared):
    exported = exported_names(await scrape(shared.worker.web_url))
    named = {name: f"alert {rule['alert']}" for rule in rules() for name in metric_names(rule["expr"])}
    named.update({name: "the dashboard" for query in dashboard_queries() for name in metric_names(query)})
    unknown = {name: where for name, where in named.items() if name not in exported | SCRAPE_SERIES}
    assert not unknown, f"named but not exported: {unknown}"
    assert len(named) > 15  # the parser found names at all


async def test_a_worker_exports_readiness_the_last_verdict_and_its_input_age(shared):
    url = shared.worker.web_url

    async def ready() -> str | None:
        text = await scrape(url)
        return text if values(text, "lapsewatch_ready").get(()) == 1.0 else None

    text = await wait_for(ready, T, "lapsewatch_ready 1", shared.worker.log_tail)
    checks = values(text, "lapsewatch_readiness_check")
    assert checks == {(("check", name),): 1.0 for name in ("joined_group", "tables_recovered",
                      "input_reader_running", "provider_circuits_closed")}  # fmt: skip
    assert values(text, "lapsewatch_provider_circuit_max_cooldown_seconds") == {(): 900.0}  # the default, 15m
    assert values(text, "lapsewatch_provider_circuit_open_seconds") == {}

    before = values(text, "lapsewatch_last_verdict_timestamp_seconds")[()]
    domain = unique_domain("verdict")  # the simulated Fastly answers "active"
    await shared.email(email_event("email_added", unique("acct"), f"v@{domain}", verified=True))

    async def verdict_after() -> str | None:
        text = await scrape(url)
        return text if values(text, "lapsewatch_last_verdict_timestamp_seconds")[()] > before else None

    await wait_for(verdict_after, T, "a later verdict time", shared.worker.log_tail)

    # Every input partition the worker reads has an age once its offsets are measured; caught up, it is 0.
    inputs = {shared.topics["email_events"], shared.topics["logins"]}

    async def caught_up() -> dict | None:
        ages = values(await scrape(url), "lapsewatch_input_oldest_unprocessed_age_seconds")
        mine = {labels: age for labels, age in ages.items() if dict(labels)["topic"] in inputs}
        return mine if mine and set(mine.values()) == {0.0} else None

    await wait_for(caught_up, T, "input ages of 0", shared.worker.log_tail)


async def test_the_write_time_of_the_record_at_an_offset(broker_url):
    bootstrap = broker_url.split("://", 1)[1]
    topic = unique("lw-age")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        written = [1_700_000_000_000 + n * 1000 for n in range(3)]
        for n, at in enumerate(written):
            await producer.send_and_wait(topic, f"v{n}".encode(), partition=0, timestamp_ms=at)
    finally:
        await producer.stop()
    tp = TopicPartition(topic, 0)
    assert await record_timestamps(bootstrap, {tp: 1}, timeout=10) == {tp: written[1] / 1000}
    # Past the end: nothing to read before the timeout, so no time.
    assert await record_timestamps(bootstrap, {tp: 3}, timeout=1) == {}


def test_a_circuit_counts_its_open_time_from_its_first_trip_across_probes():
    breakers = Breakers(threshold=1, cooldown=10, max_cooldown=40)
    server = "rdap https://rdap.example"
    assert breakers.open_for(0) == {}
    breakers.failure(server, 100, "503", domain="a.example", server_wide=True)
    assert breakers.open_for(105) == {server: 5}
    allowed, _ = breakers.allow(server, 111, "b.example")  # cooldown over: b is the probe
    assert allowed
    breakers.failure(server, 112, "503", domain="b.example", server_wide=True)  # the probe failed: open again
    assert breakers.state(server) == "open"
    assert breakers.open_for(130) == {server: 30}
    breakers.success(server)
    assert breakers.open_for(140) == {}
