"""python -m examples.account_service --bootstrap HOST:PORT --db sqlite:///PATH (flags, else ACCOUNT_SERVICE_* env)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from examples.account_service.subscriber import DEFAULT_SCHEMA, Settings, Subscriber, install_signal_handlers


def parse(argv: list[str] | None = None) -> Settings:
    env = os.environ.get
    defaults = Settings(bootstrap="", database="")
    parser = argparse.ArgumentParser(
        prog="python -m examples.account_service",
        description="Apply lapsewatch's email-unverified events to the account service's database, each once.",
    )
    parser.add_argument("--bootstrap", default=env("ACCOUNT_SERVICE_BOOTSTRAP", "localhost:9092"), help="Kafka")
    parser.add_argument(
        "--db",
        default=env("ACCOUNT_SERVICE_DB", "sqlite:///account-service.db"),
        help="sqlite:///PATH (default) or postgresql://USER:PASSWORD@HOST/DB (needs psycopg)",
    )
    parser.add_argument("--topic", default=env("ACCOUNT_SERVICE_TOPIC", defaults.topic))
    parser.add_argument("--group", default=env("ACCOUNT_SERVICE_GROUP", defaults.group), help="consumer group")
    parser.add_argument("--schema", type=Path, default=Path(env("ACCOUNT_SERVICE_SCHEMA", str(DEFAULT_SCHEMA))))
    for name, default in [
        ("session-timeout-ms", defaults.session_timeout_ms),
        ("heartbeat-interval-ms", defaults.heartbeat_interval_ms),
        ("rebalance-timeout-ms", defaults.rebalance_timeout_ms),
    ]:
        variable = "ACCOUNT_SERVICE_" + name.upper().replace("-", "_")
        parser.add_argument(f"--{name}", type=int, default=int(env(variable, default)))
    args = parser.parse_args(argv)
    return Settings(
        bootstrap=args.bootstrap,
        database=args.db,
        topic=args.topic,
        group=args.group,
        schema=args.schema,
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=args.heartbeat_interval_ms,
        rebalance_timeout_ms=args.rebalance_timeout_ms,
    )


async def serve(settings: Settings) -> None:
    subscriber = Subscriber(settings)
    install_signal_handlers(subscriber)
    await subscriber.run()


def main(argv: list[str] | None = None) -> None:
    settings = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
