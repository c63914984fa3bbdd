"""bench/profile_shares.py: a py-spy raw profile grouped by what the code is for."""

import pytest

from bench.profile_shares import GROUPS, IDLE, OTHER, group_of, main, shares

# The groups by the words before their colon: "input reader", "account hop", ...
GROUP = {name.split(":")[0]: name for name, _ in GROUPS}
LOOP = ("_run_module_as_main (<frozen runpy>:198)", "BaseEventLoop._run_once (asyncio/base_events.py:1922)")
ACTOR = (*LOOP, "Handle._run (asyncio/events.py:80)", "Agent._execute_actor (faust/agents/agent.py:674)")
ACCOUNT_RECORD = "apply_account_record (streams/accounts/agents.py:55)"
DOMAIN_RECORD = "apply_domain_record (streams/domains/agents.py:80)"
OLD_ACCOUNT_AGENT = "apply_account_commands (streams/accounts/agents.py:90)"
PRODUCER_PUT = "ProducerBuffer.put (faust/transport/producer.py:1)"


def stack(*frames: str) -> str:
    return ";".join(frames)


@pytest.mark.parametrize(
    ("frames", "group"),
    [
        # The input reader: its fetch, its parsing, and the sends it makes (not the producer's).
        (
            (
                *LOOP,
                "Intake._read (streams/accounts/intake.py:139)",
                "AIOKafkaConsumer.getmany (aiokafka/consumer/c.py:1)",
            ),
            "input reader",
        ),
        (
            (*LOOP, "Intake.handle (streams/accounts/intake.py:151)", "to_commands (streams/accounts/intake.py:58)"),
            "input reader",
        ),
        ((*LOOP, "Intake.handle (streams/accounts/intake.py:170)", PRODUCER_PUT), "input reader"),
        ((*LOOP, "Fetcher._fetch_requests_routine (aiokafka/consumer/fetcher.py:1)"), "input reader"),
        # Table reads and writes inside a hop count as table work, changelog records included.
        ((*ACTOR, ACCOUNT_RECORD, "read_many (streams/kafka/table_batches.py:31)"), "table reads and writes"),
        (
            (
                *ACTOR,
                ACCOUNT_RECORD,
                "PartitionWrites.apply (streams/kafka/table_batches.py:70)",
                "send_in_batches (streams/kafka/table_batches.py:90)",
            ),
            "table reads and writes",
        ),
        (
            (*ACTOR, DOMAIN_RECORD, "load (streams/domains/table.py:40)", "Mapping.get (<frozen abc>:1)"),
            "table reads and writes",
        ),
        # What is left of a hop is the hop's, the records it sends on included.
        ((*ACTOR, ACCOUNT_RECORD, "apply_command (streams/accounts/address_book.py:1)"), "account hop"),
        ((*ACTOR, ACCOUNT_RECORD, "send_batches (streams/accounts/agents.py:29)", PRODUCER_PUT), "account hop"),
        ((*ACTOR, DOMAIN_RECORD, "apply_domain_commands_to (streams/domains/agents.py:55)"), "domain hop"),
        # Faust's stream feeding an agent, and its consumer in the main thread.
        (
            (*ACTOR, OLD_ACCOUNT_AGENT, "Stream.events (faust/streams/stream.py:1)"),
            "Faust's consumer for the internal hops",
        ),
        (
            (*LOOP, "Fetcher._fetcher (faust/transport/consumer.py:1)", "Consumer._drain_messages (faust/c.py:1)"),
            "Faust's consumer for the internal hops",
        ),
        # Checks, the domain-table reads of the dispatcher included.
        (
            (
                *LOOP,
                "keep_checking (streams/domains/scheduler.py:1)",
                "_rebuild_due (streams/domains/scheduler.py:80)",
                "Store._visible_items (faust/stores/rocksdb.py:1)",
            ),
            "checks",
        ),
        ((*LOOP, "_send_results (streams/domains/publish.py:60)", "Topic.send (faust/topics.py:1)"), "checks"),
        ((*LOOP, "restore_partitions (streams/kafka/fast_restore.py:90)"), "table recovery"),
        ((*LOOP, "Sender._sender_routine (aiokafka/producer/sender.py:1)"), "producer"),
        ((LOOP[0], "BaseEventLoop._run_once (asyncio/base_events.py:1884)", "EpollSelector.select (s.py:468)"), IDLE),
        ((*LOOP, "AIOKafkaConnection._read (aiokafka/conn.py:1)"), OTHER),
        # Profiles of the code before the input reader and the batched tables still split.
        ((*ACTOR, "ingest_email_events (streams/accounts/agents.py:63)"), "input reader"),
        ((*ACTOR, OLD_ACCOUNT_AGENT, "Table.on_key_set (faust/tables/table.py:83)"), "table reads and writes"),
        ((*ACTOR, OLD_ACCOUNT_AGENT, "apply_command (streams/accounts/address_book.py:1)"), "account hop"),
    ],
)
def test_a_stack_goes_to_the_first_group_a_frame_of_it_matches(frames, group):
    assert group_of(stack(*frames)) == GROUP.get(group, group)


def test_shares_are_of_the_main_thread_and_busy_leaves_out_the_idle_samples():
    profile = [
        f"{stack(*ACTOR, ACCOUNT_RECORD, 'apply_command (x.py:1)')} 30\n",
        f"{stack(*LOOP, 'Intake.handle (streams/accounts/intake.py:151)')} 20\n",
        f"{stack(*LOOP)} 30\n",
        f"{stack(*LOOP, 'EpollSelector.select (selectors.py:468)')} 20\n",
        "Thread._bootstrap (threading.py:1002);EpollSelector.select (selectors.py:468) 500\n",
        "\n",
    ]
    assert shares(profile) == {GROUP["account hop"]: 0.3, OTHER: 0.3, GROUP["input reader"]: 0.2, IDLE: 0.2}
    assert shares(profile, busy=True) == {GROUP["account hop"]: 0.375, OTHER: 0.375, GROUP["input reader"]: 0.25}


def test_the_command_prints_a_markdown_row_per_group(tmp_path, capsys):
    profile = tmp_path / "prof.txt"
    profile.write_text(
        f"{stack(*LOOP, 'Intake.handle (streams/accounts/intake.py:151)')} 3\n"
        f"{stack(*LOOP, 'EpollSelector.select (s.py:1)')} 1\n"
    )
    main(["--busy", str(profile)])
    assert capsys.readouterr().out == f"| {GROUP['input reader']} | 100% |\n"
