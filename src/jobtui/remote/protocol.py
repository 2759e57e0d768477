"""Build the scripts sent to a host's `sh -s` (what they print is read by `parse`).

Pure functions, no I/O: a transport carries the bytes. Each round trip sends calls
of the wrapper's functions (`wrapper.sh`) with every argument shell-quoted, and
reads back records framed by a random token chosen for that round trip.

A transport keeps one shell per host (`sh -s` on a long-lived SSH channel), sends
`WRAPPER` once when it opens it, then one request per round trip; no new SSH
session and no new remote shell per poll.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobtui import defaults
from jobtui.model import Become, check_any_jid, check_jid, is_ansible_jid


def _read(name: str) -> str:
    # Beside this module (not importlib.resources: ~10 ms of every start).
    return Path(__file__).with_name(name).read_text(encoding="utf-8")


WRAPPER = _read("wrapper.sh") + "\n" + _read("ansible.sh")
"""jobtui's functions, then those for Ansible's own async jobs (`ansible.sh`)."""
SUPERVISOR = _read("supervise.sh")
SUPERVISOR_NAME = "supervise-" + hashlib.sha256(SUPERVISOR.encode()).hexdigest()[:12] + ".sh"
"""Content-addressed, so a newer jobtui never changes the script under a running job."""

q = shlex.quote


def new_token() -> str:
    return "@@jt" + secrets.token_hex(12)


def _prelude(jobtui_dir: str, token: str) -> str:
    """Every request's start. The wrapper's functions were defined once per session
    (`WRAPPER`, sent by the transport when it opens its shell)."""
    return f"JT_TOK={q(token)}\njt_root {q(jobtui_dir)}\njt_hello\n"


def end_marker(token: str) -> bytes:
    """The last record of every answer: the transport reads up to it."""
    return f"\n{token} end\n".encode()


END_CALL = "jt_rec end\n"


def batched(script: bytes) -> bytes:
    """A request whose answer is printed in one write, not one per record: a status
    of many runs then crosses SSH in a few large packets instead of many small ones
    (paramiko's cost is per packet). The capture costs one fork, no exec; the clock
    is set up before it, in the shell itself (`jt_epoch`: one `date` per shell)."""
    answer = b")\nprintf '%s\\n' \"$JT_ANS\"\n"
    return b"jt_epoch\nJT_ANS=$(\n" + script + END_CALL.encode() + answer


@dataclass(frozen=True)
class LaunchRequest:
    """One run to start on a host."""

    jid: str
    script: str
    """The command line (`sh -c` syntax)."""
    timeout: int
    meta: dict[str, Any]
    """Written to the job dir as JSON: batch, job, item, host, command, ..."""
    env: dict[str, str] = field(default_factory=dict)
    """Exported to the job; written in its `cmd` file on the host."""
    chdir: str | None = None
    grace: int = defaults.GRACE
    """Seconds between TERM and KILL when its time limit is reached."""
    secret_env: dict[str, str] = field(default_factory=dict)
    """Exported to the job too (after `env`, so a secret wins), but written to no file
    and no argv on the host: the launch hands them to the supervisor on its stdin, and
    the supervisor exports them for the job alone."""
    become: Become | None = None
    """Who it runs as: the transport sends it to that user's shell (not to the host)."""

    def cmd_file(self) -> str:
        """The file the supervisor runs: environment, directory, then the command."""
        lines = [f"export {_env_name(k)}={q(v)}" for k, v in self.env.items()]
        if self.chdir:
            lines.append(f"cd -- {q(self.chdir)} || exit 127")
        lines.append(self.script)
        return "\n".join(lines)

    def secret_exports(self) -> str:
        """What the supervisor reads on its stdin: `export NAME=VALUE` lines."""
        return "".join(f"export {_env_name(k)}={q(v)}\n" for k, v in self.secret_env.items())


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name(name: str) -> str:
    """An environment variable's name, checked before it reaches a shell."""
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(f"not a valid environment variable name: {name!r}")
    return name


def launch_script(jobtui_dir: str, requests: list[LaunchRequest], token: str) -> bytes:
    """All of a host's launches in one script (one round trip)."""
    calls = []
    for r in requests:
        meta = json.dumps(r.meta, sort_keys=True, ensure_ascii=True)
        args = [check_jid(r.jid), str(int(r.timeout)), str(int(r.grace)), meta, r.cmd_file()]
        if r.secret_env:
            args.append(r.secret_exports())
        calls.append("jt_launch " + " ".join(q(a) for a in args))
    body = "\n".join(calls)
    text = (
        _prelude(jobtui_dir, token)
        + f"JT_SUP={q(SUPERVISOR)}\n"
        + f"jt_install {q(SUPERVISOR_NAME)} && {{\n{body}\n}}\n"
    )
    return text.encode()


def status_script(
    jobtui_dir: str,
    jids: list[str] | None,
    token: str,
    tail_bytes: int = defaults.TAIL_BYTES,
    full: frozenset[str] | set[str] = frozenset(),
    async_dir: str | None = None,
    known: Mapping[str, tuple[int, int]] | None = None,
) -> bytes:
    """Status of the given runs (all runs on the host, in full, when `jids` is None).

    Runs in `full` also bring their metadata and output tails back (so do finished
    runs); the others cost no process start on the host. Reads only. With
    `async_dir`, Ansible's own async jobs too: every one when `jids` is None (a host
    without that directory pays one `[ -d ]`), else the Ansible jids among `jids`.
    """
    if jids is not None and not jids:
        return _prelude(jobtui_dir, token).encode()
    ours, theirs = split_jids(jids or [])
    text = _prelude(jobtui_dir, token)
    if jids is None or ours:
        text += f"jt_status {int(tail_bytes)} {_status_args(tuple(ours), frozenset(full))}\n"
    if async_dir is not None and (jids is None or theirs):
        have = " ".join(
            f"{check_any_jid(j)}:{int(mt)}:{int(sz)}" for j, (mt, sz) in (known or {}).items()
        )
        text += f"jt_aknown {have}\njt_adir {q(async_dir)}\n"
        text += f"jt_astatus {' '.join(q(j) for j in theirs)}\n"
    return text.encode()


@functools.lru_cache(maxsize=1024)
def _status_args(jids: tuple[str, ...], full: frozenset[str]) -> str:
    """A host is asked about the same runs cycle after cycle: checked and quoted once."""
    return " ".join(q(("+" if j in full else "") + check_jid(j)) for j in jids)


def split_jids(jids: list[str]) -> tuple[list[str], list[str]]:
    """jobtui's jids and Ansible's, each checked (`InvalidJid` for any other)."""
    ours = [check_jid(j) for j in jids if not is_ansible_jid(j)]
    theirs = [check_any_jid(j) for j in jids if is_ansible_jid(j)]
    return ours, theirs


def watch_script(jobtui_dir: str, token: str) -> bytes:
    """Start the end watcher; it answers `ended` records until the channel closes."""
    return f"JT_TOK={q(token)}\njt_root {q(jobtui_dir)}\njt_watch\n".encode()


def cancel_script(
    jobtui_dir: str,
    jids: list[str],
    token: str,
    grace: int = defaults.GRACE,
    async_dir: str | None = None,
) -> bytes:
    g = int(grace)
    return _jid_calls(jobtui_dir, jids, token, async_dir, f"jt_cancel {g}", f"jt_acancel {g}")


def cleanup_script(
    jobtui_dir: str, jids: list[str], token: str, async_dir: str | None = None
) -> bytes:
    return _jid_calls(jobtui_dir, jids, token, async_dir, "jt_cleanup", "jt_acleanup")


def _jid_calls(
    jobtui_dir: str, jids: list[str], token: str, async_dir: str | None, ours: str, theirs: str
) -> bytes:
    """`ours JID...` for jobtui's jids, `theirs JID...` in the async dir for Ansible's."""
    mine, ansible = split_jids(jids)
    text = _prelude(jobtui_dir, token)
    if mine:
        text += f"{ours} {' '.join(q(j) for j in mine)}\n"
    if ansible and async_dir is not None:
        text += f"jt_adir {q(async_dir)}\n{theirs} {' '.join(q(j) for j in ansible)}\n"
    return text.encode()


def read_script(
    jobtui_dir: str, jid: str, stream: str, offset: int, size: int, token: str
) -> bytes:
    """Bytes `offset`..`offset+size` of a run's stdout or stderr (`jobtui logs`), sent
    raw (not `batched`: the shell's capture would drop NUL bytes)."""
    if stream not in ("stdout", "stderr"):
        raise ValueError(f"not an output stream: {stream!r}")
    call = f"jt_read {q(check_jid(jid))} {stream} {int(offset)} {int(size)}\n"
    return (_prelude(jobtui_dir, token) + call + END_CALL).encode()
