"""The embedded broker's transport hands a consumer whole messages only (kombu's can race)."""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection
from kombu.transport.virtual import BrokerState

from unity_workers.embedded_broker import Transport


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "processed").mkdir()
    return tmp_path


@pytest.fixture
def connection(folder: Path) -> Iterator[Connection]:
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "store_processed": True,
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
    }
    # A Transport class of its own: kombu remembers bindings per class (global_state), and a
    # binding remembered from another test's folders would not be written to this one's.
    fresh = type("FreshTransport", (Transport,), {"global_state": BrokerState()})
    with Connection("filesystem://localhost//", transport=fresh,
                    transport_options=options) as conn:  # fmt: skip
        yield conn


def test_a_sent_message_appears_whole_under_its_final_name_only(
    connection: Connection, folder: Path
) -> None:
    # When a message is sent through the transport
    queue = connection.SimpleQueue("collect")
    queue.put({"n": 1})
    # Then the folder holds only its finished .msg file, and it is received intact
    names = [p.name for p in folder.iterdir() if p.is_file()]
    assert len(names) == 1 and names[0].endswith(".collect.msg"), names
    message = queue.get(timeout=1)
    assert message.payload == {"n": 1}
    message.ack()
    queue.close()


def test_a_message_caught_mid_write_by_another_writer_is_read_once_finished(
    connection: Connection, folder: Path
) -> None:
    # Given a plain kombu writer that has created a message file, holds its lock, and has not
    # written the body yet
    body = (
        b'{"body": "eyJuIjogMn0=", "content-encoding": "utf-8", "content-type": '
        b'"application/json", "headers": {}, "properties": {"body_encoding": "base64", '
        b'"delivery_info": {"exchange": "collect", "routing_key": "collect"}, '
        b'"delivery_mode": 2, "delivery_tag": "t1", "priority": 0}}'
    )
    path = folder / "1_writer.collect.msg"
    handle = open(path, "wb", buffering=0)
    fcntl.flock(handle, fcntl.LOCK_EX)
    locked = threading.Event()

    def finish_writing() -> None:
        locked.wait(5)
        handle.write(body)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    writer = threading.Thread(target=finish_writing)
    writer.start()
    # When a consumer takes it meanwhile
    queue = connection.SimpleQueue("collect")
    threading.Timer(0.2, locked.set).start()
    message = queue.get(timeout=5)
    writer.join(5)
    # Then it waited for the writer and got the whole message, not a decoding error
    assert message.payload == {"n": 2}
    queue.close()


def test_a_file_that_never_becomes_a_message_is_set_aside_and_the_next_one_is_read(
    connection: Connection, folder: Path
) -> None:
    # Given a truncated message file ahead of a good one
    (folder / "0_broken.collect.msg").write_bytes(b'{"body": "eyJu')
    queue = connection.SimpleQueue("collect")
    queue.put({"n": 3})
    # When the consumer reads the queue
    message = queue.get(timeout=5)
    # Then it gets the good message, and the broken file is kept aside for a look
    assert message.payload == {"n": 3}
    assert (folder / "processed" / "0_broken.collect.msg.bad").exists()
    queue.close()
