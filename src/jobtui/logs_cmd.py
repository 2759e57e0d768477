"""`jobtui logs JID [-f] [--stderr]`: a run's whole output, from whichever host has it.

A jobtui run's stdout (or stderr) file is streamed in chunks of `CHUNK` bytes, one
round trip each, written out as they come: never held whole in memory. `-f` goes on
reading while the run runs (a look every `FOLLOW_INTERVAL` seconds) and stops once
it has ended and all of it was read. An Ansible job's output is in its result, once
finished (its file is at most 1 MiB): printed whole; with `-f`, once it finishes.
The bytes are the job's own, written unchanged (as `cat` would).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import BinaryIO

from jobtui import become_cmd, defaults
from jobtui.fleet import keyring_for, on_hosts, transports_for
from jobtui.model import Host, InvalidJid, check_any_jid, is_ansible_jid
from jobtui.remote import ansible
from jobtui.remote.parse import HostStatus
from jobtui.text import one_line
from jobtui.transport import Transport

CHUNK = 1 << 20
"""Bytes per round trip."""
FOLLOW_INTERVAL = 1.0


class BadJid(ValueError):
    """The jid given is neither jobtui's nor Ansible's (exit 2)."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    p = sub.add_parser("logs", help="a run's whole stdout (or stderr), from the host that has it")
    # Not `jid`: the other commands' `--jid` is a list, checked by the CLI as one.
    p.add_argument("run_jid", metavar="JID", help="a jobtui jid or an Ansible job id")
    p.add_argument("--stderr", action="store_true", help="its stderr instead of its stdout")
    p.add_argument(
        "-f", "--follow", action="store_true", help="go on printing while it runs (as tail -f)"
    )
    return p


def logs(hosts: list[Host], args: argparse.Namespace, out: BinaryIO | None = None) -> int:
    """Print the run's output. Exit 0; 1 if no host has it (or it could not be read).

    Raises:
        BadJid: the jid is not well formed.
    """
    try:
        jid = check_any_jid(args.run_jid)
    except InvalidJid as e:
        raise BadJid(str(e)) from None
    stream = "stderr" if args.stderr else "stdout"
    sink = out if out is not None else sys.stdout.buffer
    keyring = keyring_for(hosts)
    become = become_cmd.for_hosts(hosts, args, become_cmd.recorded(args))
    transports = transports_for(hosts, args.accept_new_host_keys, keyring=keyring, become=become)
    try:
        found = [a for a in on_hosts(transports, lambda t: t.status([jid], {jid}), args.forks)]
        for a in found:
            if a.value is None:
                print(f"{one_line(a.host.name)}: unreachable: {one_line(a.error)}", file=sys.stderr)
        holder = next((a for a in found if a.value is not None and jid in a.value.runs), None)
        if holder is None:
            print(f"{jid}: not found on these hosts", file=sys.stderr)
            return defaults.EXIT_FAILED
        t = next(t for t in transports if t.host.name == holder.host.name)
        assert holder.value is not None
        if is_ansible_jid(jid):
            return _ansible(t, jid, stream, holder.value, args.follow, sink)
        return _stream(t, jid, stream, args.follow, sink)
    finally:
        for t in transports:
            t.close()


def _stream(t: Transport, jid: str, stream: str, follow: bool, sink: BinaryIO) -> int:
    offset = 0
    while True:
        chunk = t.read_output(jid, stream, offset, CHUNK)
        if chunk is None:
            print(f"{jid}: no longer on {one_line(t.host.name)} (cleaned up?)", file=sys.stderr)
            return defaults.EXIT_FAILED
        if chunk.data:
            sink.write(chunk.data)
            sink.flush()
            offset += len(chunk.data)
        if len(chunk.data) < CHUNK:
            if chunk.done or not follow:
                return defaults.EXIT_OK
            time.sleep(FOLLOW_INTERVAL)


def _ansible(
    t: Transport, jid: str, stream: str, st: HostStatus, follow: bool, sink: BinaryIO
) -> int:
    while True:
        content = st.ansible_files.get(jid)
        text = None if content is None else ansible.output_of(content, stream)
        if text is not None:
            sink.write(text.encode("utf-8", "surrogateescape"))
            if text and not text.endswith("\n"):
                sink.write(b"\n")  # Ansible strips the last newline of a command's output
            sink.flush()
            return defaults.EXIT_OK
        run = st.runs.get(jid)
        if run is None:
            print(f"{jid}: no longer on {one_line(t.host.name)} (cleaned up?)", file=sys.stderr)
            return defaults.EXIT_FAILED
        if not follow or run.state.finished:
            why = run.reason or f"{run.state.value}: its output is in its result once it finishes"
            print(f"{jid}: {one_line(why)}", file=sys.stderr)
            return defaults.EXIT_FAILED
        time.sleep(FOLLOW_INTERVAL)
        st = t.status([jid], {jid})
