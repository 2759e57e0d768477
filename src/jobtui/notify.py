"""`--notify CMD`: tell someone how a batch went, from a headless run too (cron).

For each run that ends other than succeeded (failed, timed out, cancelled, lost,
given up as unreachable; not skipped: those are the consequence of failures already
told, and are counted in the summary), then for the summary, `CMD` runs on the console's
machine through `/bin/sh -c`, with that event's JSON object (the `--json` line:
`report.run_object`, `report.summary_object`) on its stdin and `JOBTUI_EVENT`
(`run`, `summary`) and `JOBTUI_BATCH` in its environment.

It can never stop, delay or fail the batch: the engine's listener only queues (on the
loop thread), and ONE thread of its own runs the commands one at a time, in order,
each in a session of its own, killed with its whole process group after `timeout`
seconds. A command that cannot start, exits non-zero or is killed is said in a
warning (`report`: stderr headless, a toast in the console) and changes no exit code.
Its output never reaches jobtui's stdout (the `--json` stream): stdout goes to
/dev/null, the last line of stderr is quoted in the warning.

At the batch's end (`close`), what is still queued is given one `timeout` in all; the
run events not started by then are dropped (said in a warning), and the summary is
sent in any case, with a `timeout` of its own: a command that hangs holds the exit at
most that long, twice when a backlog of runs was waiting before the summary.

Its environment is the console's own, without the become password
(`ANSIBLE_BECOME_PASS`): no secret reaches it that jobtui read or asked for.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from jobtui import defaults
from jobtui.events import BatchFinished, Event, RunChanged
from jobtui.model import RunKey, RunState
from jobtui.report import run_object, summary_object
from jobtui.text import json_line, one_line

SHELL = "/bin/sh"
HIDDEN_ENV = ("ANSIBLE_BECOME_PASS", "ANSIBLE_BECOME_PASSWORD")
"""Never given to the notify command: the become password jobtui may have read."""
LAST_LINE = 200
"""Characters of the command's last stderr line quoted in a warning."""


def add_option(p: argparse.ArgumentParser, jobs: bool) -> None:
    """`--notify CMD` (`jobs`: the command reads a job file, whose `notify:` it beats)."""
    p.add_argument(
        "--notify",
        metavar="CMD",
        help="run CMD (/bin/sh) here for each run that did not succeed, then for the"
        " summary, with the event's JSON on its stdin"
        + (" (wins over the job file's notify:; '' for none)" if jobs else ""),
    )
    p.add_argument(
        "--notify-timeout",
        type=float,
        default=defaults.NOTIFY_TIMEOUT,
        metavar="S",
        help=f"kill a notify command after S seconds (default {defaults.NOTIFY_TIMEOUT:g})",
    )


@dataclass(frozen=True)
class _Item:
    event: str
    """`run` or `summary`: `JOBTUI_EVENT`."""
    line: str
    """The JSON object, one line."""
    what: str
    """What it is about, for a warning: `run db01 backup[x]`, `the summary`."""


class Notifier:
    """An engine listener that hands events to the notify command (see the module).

    Args:
        command: Run by `/bin/sh -c` for each event.
        batch: `JOBTUI_BATCH`.
        ended: Whether a run (by key) has ended for good: no retry of it is due. Asked
            on the loop thread, as the event comes (the engine's `Run.open`).
        report: Told each failure of the command, as one line (from its own thread).
        timeout: Seconds before a command is killed (its whole process group).
        environ: The environment the command starts from (the console's own).
    """

    def __init__(
        self,
        command: str,
        batch: str,
        *,
        ended: Callable[[RunKey], bool],
        report: Callable[[str], None],
        timeout: float = defaults.NOTIFY_TIMEOUT,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.command = command
        self.batch = batch
        self.ended = ended
        self.report = report
        self.timeout = timeout
        self.env = {k: v for k, v in environ.items() if k not in HIDDEN_ENV}
        self.env["JOBTUI_BATCH"] = batch
        self._told: set[tuple[RunKey, int]] = set()
        """Runs (and attempts) already sent: an end is told once."""
        self._summaries = 0
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._closing: float | None = None
        """With `close`: the time after which queued run events are dropped."""
        self._dropped = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._work, name="jobtui-notify", daemon=True)
        self._thread.start()

    # -- the engine's side (its loop thread): queue only -----------------------------

    def __call__(self, ev: Event) -> None:
        if isinstance(ev, RunChanged):
            v = ev.run
            told = (v.key, v.attempt)
            if (
                v.state.failed
                and v.state is not RunState.SKIPPED
                and told not in self._told
                and self.ended(v.key)
            ):
                self._told.add(told)
                self._put(_Item("run", json_line(run_object(v)), f"run {one_line(v.label)}"))
        elif isinstance(ev, BatchFinished) and (not ev.interrupted or not self._summaries):
            # The console's engine ends with an interrupted summary when it is left:
            # sent only if the batch never reached its end before.
            self._summaries += 1
            self._put(_Item("summary", json_line(summary_object(ev)), "the summary"))

    def _put(self, item: _Item) -> None:
        with self._cond:
            self._queue.append(item)
            self._cond.notify()

    # -- the end ----------------------------------------------------------------------

    def close(self) -> None:
        """At the batch's end: wait for what is queued, at most one `timeout` for the
        runs' events (then dropped and said) plus one for the summary."""
        with self._cond:
            self._closing = time.monotonic() + self.timeout
            self._cond.notify()
        try:
            self._thread.join(2 * self.timeout + 5)
        finally:
            if self._thread.is_alive():  # a second Ctrl-C, or a command that cannot die
                with self._cond:
                    self._queue.clear()
                self._kill()
        if self._dropped:
            self.report(
                f"notify: {self._dropped} run event(s) not sent: the batch is over and the"
                f" notify command took too long"
            )

    # -- its own thread -------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and self._closing is None:
                    self._cond.wait()
                if not self._queue:
                    return
                item = self._queue.popleft()
                closing = self._closing
            now = time.monotonic()
            deadline = now + self.timeout
            if closing is not None and item.event == "run":
                if now >= closing:
                    self._dropped += 1
                    continue
                deadline = min(deadline, closing)
            failure = self._run(item, deadline)
            if failure:
                self.report(f"notify: the notify command {failure} for {item.what}")

    def _run(self, item: _Item, deadline: float) -> str:
        """Run the command for one event; "" when it exited 0, else what went wrong."""
        env = {**self.env, "JOBTUI_EVENT": item.event}
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    [SHELL, "-c", self.command],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    env=env,
                    start_new_session=True,  # its own process group, killed whole
                    close_fds=True,
                )
            except OSError as e:
                return f"could not start ({e.strerror or e})"
            self._proc = proc
            try:
                proc.communicate((item.line + "\n").encode(), max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill()
                return f"was killed after {self.timeout:g}s"
            finally:
                self._proc = None
            if proc.returncode == 0:
                return ""
            err.seek(0, os.SEEK_END)
            err.seek(max(0, err.tell() - 4096))
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            last = f": {one_line(lines[-1][-LAST_LINE:])}" if lines else ""
            code = proc.returncode
            how = f"was killed by signal {-code}" if code < 0 else f"exited {code}"
            return how + last

    def _kill(self) -> None:
        """KILL the running command's whole process group, and reap it."""
        proc = self._proc
        if proc is None:
            return
        # Gone already (it ended just now): nothing to kill, nothing to tell.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)  # KILLed: at once, unless the kernel is stuck (then let it be)
        if proc.stdin is not None:
            # Unread input after a kill: the pipe is broken, and that is expected.
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
