"""kombu's filesystem transport, with whole messages only: the embedded broker's transport.

kombu (5.x) writes a message by opening its final `.msg` name and then writing, and reads by
renaming the first matching file and reading it, without a lock. A reader that comes between
the writer's open and write gets an empty file, fails to decode it, and the worker's consumer
loop dies on the JSONDecodeError (seen under load: a worker that stops answering pings).

Here the writer writes under a name no reader matches and renames it into place (a rename
within one folder is atomic), so a reader only ever sees complete files. Messages written by
a plain kombu writer (another tool on the same folders) can still be caught mid-write; the
reader then waits for the writer's lock and reads again, and a file that still does not
decode is set aside as `<name>.bad` with an error in the log instead of stopping the worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

from kombu.transport import filesystem
from kombu.transport.virtual import Empty
from kombu.utils.json import dumps, loads

logger = logging.getLogger("unity.workers.embedded_broker")

#: How long a reader waits for a plain kombu writer to finish a message it caught mid-write.
PARTIAL_WAIT = 1.0


class Channel(filesystem.Channel):  # type: ignore[misc]
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: `_get` matches on what follows the first dot, so ".<name>.part" is
        # never taken for a message of any queue.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as out:
                out.write(dumps(payload).encode())
            os.replace(partial, final)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from error

    def _get(self, queue: str) -> Any:
        """kombu's `_get`, reading through `_read_whole`."""
        wanted = f"{queue}.msg"
        folder = self.processed_folder if self.store_processed else tempfile.gettempdir()
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            try:
                # Claim it: only one consumer's rename succeeds.
                shutil.move(os.path.join(self.data_folder_in, name), folder)
            except OSError:
                continue
            path = os.path.join(folder, name)
            try:
                message = _read_whole(path)
                if not self.store_processed and message is not _PARTIAL:
                    os.remove(path)
            except OSError as error:
                raise filesystem.ChannelError(f"Cannot read file {path!r} from queue.") from error
            if message is not _PARTIAL:
                return message
        raise Empty()


_PARTIAL = object()


def _read_whole(path: str) -> Any:
    """The message in `path`, waiting for a writer still holding it; _PARTIAL if it never
    becomes a whole message (the file is then renamed `<path>.bad`)."""
    deadline = time.monotonic() + PARTIAL_WAIT
    while True:
        with open(path, "rb") as handle:
            filesystem.lock(handle, filesystem.LOCK_SH)  # the writer holds LOCK_EX
            try:
                payload = handle.read()
            finally:
                filesystem.unlock(handle)
        try:
            return loads(payload.decode())
        except (UnicodeDecodeError, json.JSONDecodeError, ValueError):
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.replace(path, f"{path}.bad")
    logger.error("embedded broker: %s is not a whole message; set aside as %s.bad", path, path)
    return _PARTIAL


class Transport(filesystem.Transport):  # type: ignore[misc]
    Channel = Channel
