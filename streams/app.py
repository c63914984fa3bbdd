"""The Faust application: settings, broker, and autodiscovered agents.

`faust -A streams.app worker` and `lapsewatch worker` both start here.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
from collections.abc import Iterable
from typing import ClassVar

import faust
import mode

from streams.kafka import fast_restore, faust_fixes
from streams.kafka.local_state import DataDirInUse, LocalState
from streams.settings import SettingsError, bootstrap_servers, load_settings

log = logging.getLogger("lapsewatch")

try:
    settings = load_settings()
except SettingsError as exc:
    raise SystemExit(f"lapsewatch: {exc}") from None

faust_fixes.install(fetch_max_wait=settings.fetch_max_wait)

if settings.broker:
    broker_url = settings.broker
else:
    from streams.kafka.broker import EMBEDDED_NOTICE, start_embedded

    embedded, embedded_data_dir = start_embedded()
    broker_url = embedded.url
    settings = dataclasses.replace(settings, data_dir=embedded_data_dir)
    log.warning(EMBEDDED_NOTICE, broker_url)


def json_logging() -> dict:
    """dictConfig for one JSON object per log line on stderr (LAPSEWATCH_LOG_FORMAT=json).

    Merged into the worker's own config, so `-l` still sets the level.
    """
    return {
        "merge": True,
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": "pythonjsonlogger.json.JsonFormatter",
                "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
                "datefmt": "%Y-%m-%dT%H:%M:%S%z",
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            }
        },
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["default"]},
    }


class App(faust.App):
    # Started with the app's own services (producer, consumer, tables), not after the tables are recovered
    # as Faust's extra services are: the input reader needs no table, and its group join then overlaps Faust's.
    early_services: ClassVar[list[type[mode.Service]]] = []

    def on_init_dependencies(self) -> Iterable[mode.ServiceT]:
        early = [service(loop=self.loop, beacon=self.beacon) for service in self.early_services]
        return [*super().on_init_dependencies(), *early]

    async def on_first_start(self) -> None:
        # Before any table file is opened, and only in a worker: not in the CLI tools that import the app.
        try:
            discarded = local_state.claim()
        except DataDirInUse as exc:
            raise SystemExit(f"lapsewatch: {exc}") from None
        if discarded:
            log.warning(
                "the last worker on %s did not stop cleanly: its table files were discarded and are "
                "restored from the changelog topics",
                settings.data_dir,
            )
        atexit.register(local_state.release)
        await super().on_first_start()


app = App(
    settings.app_id,
    broker=broker_url,
    broker_credentials=settings.broker_security.faust_credentials(),  # None for PLAINTEXT
    store="rocksdb://",
    datadir=str(settings.data_dir),
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication_factor,
    table_standby_replicas=settings.standby_replicas,
    broker_session_timeout=settings.session_timeout,
    broker_rebalance_timeout=settings.rebalance_timeout,
    broker_heartbeat_interval=settings.heartbeat_interval,
    producer_max_batch_size=settings.producer_max_batch_bytes,
    consumer_auto_offset_reset="earliest",
    autodiscover=["streams.accounts", "streams.domains", "streams.ops.views"],
    TableManager=fast_restore.table_manager(
        fast_restore.RestoreOptions(
            bootstrap_servers(broker_url),
            settings.broker_security.client_options(),
            settings.restore_batch_records,
        )
    ),
    origin="streams",
    logging_config=json_logging() if settings.log_format == "json" else None,
)

# The web server: set here, not as App arguments, because Faust's own environment variables (WEB_BIND,
# WEB_HOST, WEB_PORT, NODE_CANONICAL_URL) beat those and a stray WEB_BIND must not undo the loopback
# default. Faust's default bind is every interface. `faust worker --web-bind ...` still wins.
app.conf.web_bind = settings.web_bind
app.conf.web_port = settings.web_port
app.conf.web_host = settings.web_host
# Where other workers forward /domains/{name} to; Faust derives it from web_host only at construction.
app.conf.canonical_url = settings.web_url  # type: ignore[assignment]  # the setting makes a URL of the str

local_state = LocalState(settings.data_dir, app.conf.tabledir)
