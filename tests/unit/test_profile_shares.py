"""bench/profile_shares.py: a py-spy raw profile grouped by what the code is for."""

from bench.profile_shares import OTHER, shares


def test_samples_go_to_the_first_group_a_frame_matches_and_the_fetch_thread_is_left_out():
    profile = [
        "main;Agent._execute_actor (faust/agent.py:1);ingest_email_events (streams/accounts/agents.py:63) 30\n",
        "main;apply_account_commands (x.py:1);ProducerBuffer.flush (p.py:2) 10\n",  # the hop, not the producer
        "main;ProducerBuffer._handle_pending (faust/transport/producer.py:1) 20\n",
        "main;BaseEventLoop._run_once (asyncio/base_events.py:1) 40\n",
        "Thread._bootstrap (threading.py:1002);EpollSelector.select (selectors.py:468) 500\n",
    ]
    assert shares(profile) == {
        OTHER: 0.4,
        "input agents: parse, batch, send (ours)": 0.3,
        "producer: Faust's buffer and aiokafka's sender": 0.2,
        "account hop: table reads and writes, domain commands": 0.1,
    }
