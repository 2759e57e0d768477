"""`jobtui logs JID [-f] [--stderr]`: a run's whole output, wherever it is.

Where the run is found:
- a jid the store knows (any batch of the state directory, the demo's too; a retry's
  earlier attempts as well): its host as the batch recorded it (as `attach` reaches
  it: no inventory needed), and only that host. Once its job directory is gone
  (`cleanup:`), or while its host cannot be reached, the copy that `fetch:` made of it
  (`fetch.py`) is read instead, and stderr says so (`from the fetched copy PATH`);
- any other jid (an Ansible job's, a run of another console's store): asked of every
  host of the inventory (`-i`, or where Ansible looks).

A jobtui run's stdout (or stderr) file is streamed in chunks of `CHUNK` bytes, one
round trip each, written out as they come: never held whole in memory. `-f` goes on
reading while the run runs (a look every `FOLLOW_INTERVAL` seconds) and stops once it
has ended and all of it was read: exit 0 if it succeeded, 1 otherwise. An Ansible
job's output is in its result, once finished (its file is at most 1 MiB): printed
whole; with `-f`, once it finishes.

To a pipe or a file the bytes are the job's own, unchanged (as `cat` would write
them). To a terminal they are shown inert (`text.sanitize`: escape sequences and
control characters as visible `\\xNN`, bytes that are not UTF-8 as `\\xNN` too),
decoded incrementally so a character split across two chunks stays whole.

Exit codes: 0 printed (with `-f`: and the run succeeded); 1 not found, its host
unreachable with no copy, gone, not launched, or (`-f`) it did not succeed; 2 a jid
that is not well formed.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from jobtui import become_cmd, defaults, fetch
from jobtui.batches_cmd import base_state_dir, demo_state_dir
from jobtui.config import ConfigError
from jobtui.fleet import keyring_for, on_hosts, transports_for
from jobtui.model import Host, InvalidJid, RunState, check_any_jid, is_ansible_jid
from jobtui.remote import ansible
from jobtui.remote.parse import HostStatus
from jobtui.runs import Run
from jobtui.store import JidRecord, Store
from jobtui.text import one_line, sanitize
from jobtui.transport import Transport, TransportError

if TYPE_CHECKING:
    from jobtui.transport.become import BecomeSetup
    from jobtui.transport.keys import KeyRing

CHUNK = fetch.CHUNK
"""Bytes per round trip."""
FOLLOW_INTERVAL = 0.5
"""Seconds between two looks at a running run (`-f`)."""


class BadJid(ValueError):
    """The jid given is neither jobtui's nor Ansible's (exit 2)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("logs", help="a run's whole stdout (or stderr), from the host that has it")
    # Not `jid`: the other commands' `--jid` is a list, checked by the CLI as one.
    p.add_argument("run_jid", metavar="JID", help="a jobtui jid or an Ansible job id")
    p.add_argument("--stderr", action="store_true", help="its stderr instead of its stdout")
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="go on printing while it runs (as tail -f); exit 0 if it succeeded, 1 otherwise",
    )
    return p


class Sink:
    """Where the output goes: raw bytes, or (`inert`, by default on a terminal) text
    made inert, decoded across chunk boundaries."""

    def __init__(self, raw: BinaryIO, inert: bool | None = None) -> None:
        self.raw = raw
        self.inert = _isatty(raw) if inert is None else inert
        self._decoder = codecs.getincrementaldecoder("utf-8")("backslashreplace")

    def write(self, data: bytes, final: bool = False) -> None:
        if self.inert:
            data = sanitize(self._decoder.decode(data, final)).encode("utf-8")
        if data:
            self.raw.write(data)
            self.raw.flush()

    def close(self) -> None:
        """Write out what a last, incomplete character held back."""
        self.write(b"", final=True)


def _isatty(raw: BinaryIO) -> bool:
    try:
        return raw.isatty()
    except ValueError:  # closed
        return False


def _say(text: str) -> None:
    print(f"jobtui: {text}", file=sys.stderr)


def logs(
    args: argparse.Namespace, find_hosts: Callable[[], list[Host]], out: BinaryIO | None = None
) -> int:
    """Print the run's output (see the module's docstring for where from).

    Args:
        find_hosts: The inventory's hosts (`-i`), loaded only if the store does not
            know the jid.

    Raises:
        BadJid: the jid is not well formed.
        ConfigError: the inventory given with `-i` is wrong.
    """
    try:
        jid = check_any_jid(args.run_jid)
    except InvalidJid as e:
        raise BadJid(str(e)) from None
    stream = "stderr" if args.stderr else "stdout"
    sink = Sink(out if out is not None else sys.stdout.buffer)
    try:
        return _logs(args, find_hosts, jid, stream, sink)
    except BrokenPipeError:  # `jobtui logs JID | head`: the reader has had enough
        if out is None:  # and Python's own last flush must not complain of it
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return defaults.EXIT_OK


def _logs(
    args: argparse.Namespace,
    find_hosts: Callable[[], list[Host]],
    jid: str,
    stream: str,
    sink: Sink,
) -> int:
    try:
        known = None if is_ansible_jid(jid) else _in_store(args, jid, stream)
        if known is not None:
            return _known(known, args, stream, sink)
        try:
            hosts = find_hosts()
        except ConfigError as e:
            if args.inventory:
                raise
            _say(f"{jid}: not in the store, and no inventory to look for it in: {e}")
            return defaults.EXIT_FAILED
        return _on_hosts(hosts, args, jid, stream, sink)
    finally:
        sink.close()


# -- a run the store knows ------------------------------------------------------------


@dataclass
class _Known:
    """A jid the store knows, and what `logs` needs of it."""

    path: Path
    """The store's file."""
    jid: str
    record: JidRecord
    run: Run
    """Its run (as of its latest attempt: the host, the become are the same)."""
    copy: Path | None
    """Where its fetched copy of the stream asked for is, if its job fetches."""
    source: dict[str, str]
    """The batch's source (its inventory: the become passwords it holds)."""

    def state_now(self) -> RunState:
        """The attempt's last state seen, read again (a console may follow it)."""
        with Store(self.path) as store:
            found = store.find_jid(self.jid)
        return self.record.state if found is None else found.state


def _in_store(args: argparse.Namespace, jid: str, stream: str) -> _Known | None:
    """The jid's run, from the state directory's store, else the demo's."""
    base = base_state_dir(args)
    for path in (Store.path_in(base), Store.path_in(demo_state_dir(base))):
        if not path.exists():  # a look creates nothing
            continue
        with Store(path) as store:
            rec = store.find_jid(jid)
            if rec is None:
                continue
            runs = store.load_runs(rec.batch)
            source = store.batch_info(rec.batch)["source"]
        run = next(r for r in runs if r.spec.key == rec.key)
        copies = fetch.copy_paths([r.spec for r in runs], rec.batch, rec.key, rec.attempt)
        copy = None if copies is None else copies[0 if stream == "stdout" else 1]
        return _Known(path, jid, rec, run, copy, source)
    return None


def _known(k: _Known, args: argparse.Namespace, stream: str, sink: Sink) -> int:
    spec, jid = k.run.spec, k.jid
    what = one_line(k.run.view.label)
    if not k.record.sent:
        _say(f"{jid} ({what}, batch {k.record.batch}): not launched yet")
        return defaults.EXIT_FAILED
    known = become_cmd.inventory_passwords(k.source) if spec.become else {}
    become = become_cmd.for_runs([k.run], args, known=known)
    keyring = keyring_for([spec.host])
    with _transport(spec.host, args, keyring, become) as t:
        offset, why = _stream(t, jid, stream, args.follow, sink)
        if why == "read":
            return _end(args.follow, jid, lambda: _state_on(t, jid) or k.state_now())
    if k.copy is None or not k.copy.exists():
        none = "" if k.copy is None else f"; no fetched copy at {one_line(str(k.copy))}"
        _say(f"{jid} ({what}): {why}{none}")
        return defaults.EXIT_FAILED
    _say(f"{jid}: {why}; from the fetched copy {one_line(str(k.copy))}")
    try:
        _from_file(k.copy, offset, sink)
    except BrokenPipeError:
        raise
    except OSError as e:
        _say(f"{jid}: cannot read its fetched copy: {one_line(str(e))}")
        return defaults.EXIT_FAILED
    return _end(args.follow, jid, k.state_now)


@contextlib.contextmanager
def _transport(
    host: Host, args: argparse.Namespace, keyring: KeyRing | None, become: BecomeSetup | None
) -> Iterator[Transport]:
    ts = transports_for([host], args.accept_new_host_keys, keyring=keyring, become=become)
    try:
        yield ts[0]
    finally:
        for t in ts:
            t.close()


def _from_file(path: Path, offset: int, sink: Sink) -> None:
    with path.open("rb") as f:
        f.seek(offset)
        while data := f.read(CHUNK):
            sink.write(data)


def _state_on(t: Transport, jid: str) -> RunState | None:
    """The run's state as its host says it now (None: it cannot say)."""
    try:
        st = t.status([jid], set())
    except TransportError:
        return None
    run = st.runs.get(jid)
    return None if run is None else run.state


def _end(follow: bool, jid: str, state: Callable[[], RunState | None]) -> int:
    """The exit code once all of it was printed: with `-f`, whether the run succeeded."""
    if not follow:
        return defaults.EXIT_OK
    ended = state()
    if ended is RunState.SUCCEEDED:
        return defaults.EXIT_OK
    _say(f"{jid}: {ended.value if ended else 'its end is unknown'}")
    return defaults.EXIT_FAILED


# -- the stream ------------------------------------------------------------------------


def _stream(t: Transport, jid: str, stream: str, follow: bool, sink: Sink) -> tuple[int, str]:
    """Stream the run's file from its host. Returns the bytes written, and "read"
    once all of it was (with `follow`: and the run ended), else why it stopped."""
    offset = 0
    while True:
        try:
            chunk = t.read_output(jid, stream, offset, CHUNK)
        except TransportError as e:
            return offset, f"{one_line(t.host.name)} unreachable: {one_line(str(e))}"
        if chunk is None:
            return offset, f"no longer on {one_line(t.host.name)} (cleaned up?)"
        if chunk.data:
            sink.write(chunk.data)
            offset += len(chunk.data)
        if len(chunk.data) < CHUNK:
            if chunk.done or not follow:
                return offset, "read"
            time.sleep(FOLLOW_INTERVAL)


# -- any jid, on the inventory's hosts ------------------------------------------------


def _on_hosts(
    hosts: list[Host], args: argparse.Namespace, jid: str, stream: str, sink: Sink
) -> int:
    keyring = keyring_for(hosts)
    become = become_cmd.for_hosts(hosts, args, become_cmd.recorded(args))
    transports = transports_for(hosts, args.accept_new_host_keys, keyring=keyring, become=become)
    try:
        found = on_hosts(transports, lambda t: t.status([jid], {jid}), args.forks)
        for a in found:
            if a.value is None:
                _say(f"{one_line(a.host.name)}: unreachable: {one_line(a.error)}")
        holder = next((a for a in found if a.value is not None and jid in a.value.runs), None)
        if holder is None:
            _say(f"{jid}: not found on these hosts")
            return defaults.EXIT_FAILED
        t = next(t for t in transports if t.host.name == holder.host.name)
        assert holder.value is not None
        if is_ansible_jid(jid):
            return _ansible(t, jid, stream, holder.value, args.follow, sink)
        _, ended = _stream(t, jid, stream, args.follow, sink)
        if ended != "read":
            _say(f"{jid}: {ended}")
            return defaults.EXIT_FAILED
        return _end(args.follow, jid, lambda: _state_on(t, jid))
    finally:
        for t in transports:
            t.close()


def _ansible(t: Transport, jid: str, stream: str, st: HostStatus, follow: bool, sink: Sink) -> int:
    while True:
        content = st.ansible_files.get(jid)
        text = None if content is None else ansible.output_of(content, stream)
        run = st.runs.get(jid)
        if text is not None:
            sink.write(text.encode("utf-8", "surrogateescape"))
            if text and not text.endswith("\n"):
                sink.write(b"\n")  # Ansible strips the last newline of a command's output
            if follow and (run is None or run.state is not RunState.SUCCEEDED):
                _say(f"{jid}: {run.state.value if run else 'its end is unknown'}")
                return defaults.EXIT_FAILED
            return defaults.EXIT_OK
        if run is None:
            _say(f"{jid}: no longer on {one_line(t.host.name)} (cleaned up?)")
            return defaults.EXIT_FAILED
        if not follow or run.state.finished:
            why = run.reason or f"{run.state.value}: its output is in its result once it finishes"
            _say(f"{jid}: {one_line(why)}")
            return defaults.EXIT_FAILED
        time.sleep(FOLLOW_INTERVAL)
        try:
            st = t.status([jid], {jid})
        except TransportError as e:
            _say(f"{one_line(t.host.name)} unreachable: {one_line(str(e))}")
            return defaults.EXIT_FAILED
