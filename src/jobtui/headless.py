"""Headless mode's follow: the engine on a thread, the main thread waiting for Ctrl-C.

A Ctrl-C stops following, never the jobs: one line says how to follow them again, and
nothing the engine says while it shuts down is reported (the terminal's SIGINT reaches
the whole process group, the hosts' ProxyCommands too, whose connections then end
under the engine: "unreachable", paramiko's EOFError). The engine thread is joined
before the exit, so no thread of jobtui's outlives the line, or prints after it.
"""

from __future__ import annotations

import sys
import threading
import time

from jobtui.defaults import EXIT_FAILED, EXIT_INTERRUPTED
from jobtui.engine import Engine
from jobtui.events import BatchFinished, exit_code
from jobtui.store import StoreError
from jobtui.text import one_line

START_WAIT = 1.0
"""Seconds a Ctrl-C inside `Thread.start()` waits for the thread to be started."""


def follow(engine: Engine, batch: str, again: str, stopping: threading.Event) -> int:
    """Follow the batch on a thread of its own until it ends or Ctrl-C; the exit code.

    Args:
        again: the command that follows the batch again, for the Ctrl-C line.
        stopping: set at Ctrl-C, before anything else: what the engine says from then
            on is its own shutdown, not news (the caller's reporter goes quiet).
    """
    result: list[BatchFinished] = []
    failed: list[StoreError] = []

    def follow_batch() -> None:
        try:
            result.append(engine.run())
        except StoreError as e:  # the store could not be written: stop following
            failed.append(e)

    worker = threading.Thread(target=follow_batch, name="jobtui-engine")
    try:
        worker.start()  # inside: a Ctrl-C may come while the thread starts
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        stopping.set()
        print(
            f"\njobtui: interrupted; the jobs of batch {batch} go on on their hosts "
            f"(follow them again with: {one_line(again)})",
            file=sys.stderr,
        )
        engine.stop()  # honoured even by a loop that has not started yet
        _join(worker)
        return EXIT_INTERRUPTED
    if failed:
        print(
            f"jobtui: error: {failed[0]}\njobtui: stopped following batch {batch}: the jobs"
            " already launched go on on their hosts, and none is launched before its jid is"
            f" stored; once the store can be written again: {one_line(again)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return exit_code(result[0].runs) if result else EXIT_INTERRUPTED


def _join(worker: threading.Thread) -> None:
    """Join `worker`, even one whose `start()` a Ctrl-C interrupted: its thread may exist
    without being marked started yet (then `join` refuses for a moment), or not at all."""
    deadline = time.monotonic() + START_WAIT
    while True:
        try:
            worker.join()
            return
        except RuntimeError:  # "cannot join thread before it is started"
            if time.monotonic() > deadline:
                return  # it never started: nothing to wait for
            time.sleep(0.01)
