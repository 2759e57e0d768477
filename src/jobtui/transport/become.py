"""become: a host's runs as another user, through one long-lived sudo'd shell each.

A host whose runs become someone gets a `HostTransport`: its login user's shell (the
transport it had) and, per become user, one `sh -s` started once through sudo on the
same connection and reused for every round trip (no sudo per poll). Each request goes
to the shell of the user its runs belong to.

sudo is started without a terminal: `sudo -n` when there is no password (sudo fails at
once if it wants one), else `sudo -S -p TOKEN`: the password is written to sudo's stdin
once its prompt (a random token) is read, never before and never to the shell, and
never into an argv. A second prompt means the password was wrong: the shell is closed
at once (one failed attempt logged by sudo, not three), and the refusal sticks for the
rest of the command, so a retry never costs the account another attempt.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from jobtui import defaults
from jobtui.model import Become, Host, Outcome
from jobtui.remote import protocol
from jobtui.remote.parse import HostStatus, LaunchOutcome, LaunchResult
from jobtui.remote.protocol import LaunchRequest
from jobtui.text import one_line, sanitize
from jobtui.transport.base import Chunk, Session, Transport, TransportError

HANDSHAKE_LIMIT = 64 * 1024
"""What sudo may print before its shell is ready (a lecture, a banner) at most."""


class BecomeError(TransportError):
    """sudo refused: no password, a wrong one, a user it may not become. Asking again
    would fail again (and a wrong password again could lock the account out)."""


def sudo_command(user: str, token: str, with_password: bool) -> str:
    """The login shell's command line that starts `sh -s` as `user` through sudo.

    sudo's own messages (its prompt, its refusals) go to stdout, where the handshake
    reads them; the become shell's stderr goes nowhere, as the login shell's does.
    """
    inner = f"exec 2>/dev/null; echo {token}-ready; exec /bin/sh -s"
    argv = ["sudo", "-H", "-S"]
    argv += ["-p", f"{token}-password:"] if with_password else ["-n"]
    argv += ["-u", user, "--", "/bin/sh", "-c", inner]
    line = "exec " + " ".join(shlex.quote(a) for a in argv) + " 2>&1"
    # Run by /bin/sh whatever the login shell is (csh has no `2>&1`).
    return "/bin/sh -c " + shlex.quote(line)


def handshake(
    session: Session,
    token: str,
    user: str,
    password: str | None,
    timeout: float = defaults.CONNECT_TIMEOUT,
) -> None:
    """Wait for the become shell: answer sudo's prompt once, with the password.

    Raises:
        BecomeError: sudo refused, or asked again (a wrong password).
        TransportError: no answer within `timeout`, or the connection went.
    """
    ready = f"{token}-ready\n".encode()
    prompt = f"{token}-password:".encode()
    deadline = time.monotonic() + timeout
    buf = b""
    answered = 0
    while ready not in buf:
        prompts = buf.count(prompt)
        if prompts > answered:
            if password is None or answered:
                raise BecomeError(_refusal(user, buf, password, asked_again=answered > 0))
            session.send(password.encode() + b"\n")
            answered = prompts
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError(f"sudo to {user} did not answer within {timeout:.0f}s")
        data = session.recv(left)
        if not data:
            raise BecomeError(_refusal(user, buf, password))
        buf += data
        if len(buf) > HANDSHAKE_LIMIT:
            raise BecomeError(f"sudo to {user}: too much output before its shell started")


_PROMPTS = re.compile(r"@@jt[0-9a-f]+-password:")
"""Our own prompts, answered: not part of what sudo said."""

_PASSWORD_HINT = "give the password with -K/--ask-become-pass or ANSIBLE_BECOME_PASS"


def _refusal(user: str, said: bytes, password: str | None, asked_again: bool = False) -> str:
    """Why sudo did not start the shell, for people (sudo's last words, the password
    scrubbed should it ever echo it)."""
    if asked_again:
        return (
            f"sudo to {user}: incorrect password (tried once: jobtui never tries a "
            "password twice, so the account is not locked out)"
        )
    text = _PROMPTS.sub("", said.decode("utf-8", "replace"))
    if password:
        text = text.replace(password, "***")
    lines = [ln.strip() for ln in sanitize(text).splitlines() if ln.strip()]
    # Its last words, all of them: "unknown user x" comes before "error initializing
    # audit plugin", which says nothing.
    last = one_line("; ".join(lines[-3:]))[:300] if lines else "sudo ended without a word"
    if "password is required" in last:
        return f"sudo to {user}: {last}; {_PASSWORD_HINT}"
    if "not found" in last and "sudo" in last:
        return f"sudo to {user}: sudo is not installed on the host ({last})"
    return f"sudo to {user} refused: {last}"


class BecomeTransport(Transport):
    """One host's shell as `become.user`: started through sudo over the login
    transport's connection (`open_shell`), then used like any transport's shell."""

    def __init__(self, login: Transport, become: Become, password: str | None) -> None:
        super().__init__(login.host)
        self.login = login
        self.become = become
        self.as_user = become.user
        self._password = password
        self._refused: BecomeError | None = None
        """sudo's refusal, given again without asking it: one attempt per command."""

    def _open(self) -> Session:
        if self._refused is not None:
            raise self._refused
        token = protocol.new_token()
        command = sudo_command(self.become.user, token, self._password is not None)
        session = self.login.open_shell(command)
        try:
            handshake(session, token, self.become.user, self._password)
        except BecomeError as e:
            session.close()
            self._refused = e
            raise
        except BaseException:
            session.close()
            raise
        return session

    def open_watch(self) -> tuple[Session, str]:
        # A watcher would be a second sudo (asking for the password again): runs of a
        # become user are polled (their poll interval), not pushed.
        raise TransportError("no end watcher for a become shell")


@dataclass(frozen=True)
class BecomeSetup:
    """Who a command's runs become, host by host, and with which password.

    Args:
        users: Host name -> the become users whose shells it may need.
        owners: Jid -> its become user, for runs known before any round trip (a
            batch's, from the store); a jid not here is looked for in every shell.
        password: The sudo password for a host (None: sudo needs none).
    """

    users: Mapping[str, Collection[Become]] = field(default_factory=dict)
    owners: Mapping[str, str] = field(default_factory=dict)
    password: Callable[[Host], str | None] = lambda host: None

    def wrap(self, t: Transport) -> Transport:
        """`t` itself when none of its host's runs become anyone."""
        users = self.users.get(t.host.name)
        if not users:
            return t
        return HostTransport(t, users, self.password(t.host), self.owners)


class HostTransport(Transport):
    """A host's shells: its login user's and one per become user, each request sent to
    the shell of the user its runs belong to.

    Which user a jid belongs to is known from its launch (the request's `become`),
    from `owners`, or from the shell that reported it; a jid known nowhere is asked
    of the login shell first, then of each become shell.
    """

    def __init__(
        self,
        login: Transport,
        becomes: Iterable[Become],
        password: str | None,
        owners: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(login.host)
        self.login = login
        self.password = password
        self.shells: dict[str, Transport] = {"": login}
        for b in becomes:
            self.shells.setdefault(b.user, BecomeTransport(login, b, password))
        self._owner: dict[str, str] = dict(owners or {})

    @property
    def sessions_opened(self) -> int:
        return sum(t.sessions_opened for t in self.shells.values())

    @sessions_opened.setter
    def sessions_opened(self, value: int) -> None:
        pass  # Transport.__init__ sets it; the shells count their own

    def _open(self) -> Session:
        raise TransportError("a host's shells are opened by each of them")

    def _exec(self, command: str) -> Session:
        return self.login.open_shell(command)

    def _shell(self, user: str) -> Transport:
        shell = self.shells.get(user)
        if shell is None:
            shell = self.shells[user] = BecomeTransport(self.login, Become(user), self.password)
        return shell

    def open_watch(self) -> tuple[Session, str]:
        return self.login.open_watch()

    def close(self) -> None:
        for user, shell in self.shells.items():
            if user:
                shell.close()
        self.login.close()

    def _group(self, jids: Iterable[str]) -> tuple[dict[str, list[str]], list[str]]:
        """Jids by their owner's shell, and the jids whose owner is unknown."""
        known: dict[str, list[str]] = {}
        unknown: list[str] = []
        for jid in jids:
            owner = self._owner.get(jid)
            if owner is None:
                unknown.append(jid)
            else:
                known.setdefault(owner, []).append(jid)
        return known, unknown

    def launch(self, requests: list[LaunchRequest]) -> dict[str, LaunchResult]:
        groups: dict[str, list[LaunchRequest]] = {}
        for r in requests:
            groups.setdefault(r.become.user if r.become else "", []).append(r)
        results: dict[str, LaunchResult] = {}
        for user in sorted(groups):  # the login user's first
            reqs = groups[user]
            try:
                got = self._shell(user).launch(reqs)
            except BecomeError as e:
                got = {r.jid: LaunchResult(r.jid, LaunchOutcome.ERROR, str(e)) for r in reqs}
            except TransportError as e:
                # Some launches may have gone out: each is sent again under its jid,
                # which the host starts at most once.
                e.maybe_delivered = e.maybe_delivered or bool(results)
                raise
            for r in reqs:
                self._owner[r.jid] = user
            results.update(got)
        return results

    def status(
        self, jids: list[str] | None = None, full: frozenset[str] | set[str] = frozenset()
    ) -> HostStatus:
        answers: list[tuple[str, HostStatus]] = []
        if jids is None:
            for user, shell in self.shells.items():
                answers.append((user, shell.status(None)))
            return self._merge(answers, [])
        known, unknown = self._group(jids)
        for user, group in known.items():
            answers.append((user, self._shell(user).status(group, full)))
        for user, shell in self.shells.items():
            if not unknown:
                break
            st = shell.status(unknown, full)
            answers.append((user, st))
            unknown = [j for j in unknown if j not in st.runs]
        return self._merge(answers, jids)

    def _merge(self, answers: list[tuple[str, HostStatus]], asked: list[str]) -> HostStatus:
        runs = {}
        files: dict[str, bytes] = {}
        for user, st in answers:
            for jid, rs in st.runs.items():
                if jid in runs:
                    continue  # one job root for all (`jobtui_dir` set): the first shell's
                rs.user = user
                self._owner[jid] = user
                runs[jid] = rs
                if jid in st.ansible_files:
                    files[jid] = st.ansible_files[jid]
        if not answers:
            return self.login.status([])
        first = answers[0][1]
        missing = [j for j in asked if j not in runs]
        return HostStatus(first.hello, runs, missing, first.skew, files)

    def cancel(self, jids: list[str], grace: int = defaults.GRACE) -> dict[str, Outcome]:
        return self._each(jids, lambda t, js: t.cancel(js, grace))

    def read_output(self, jid: str, stream: str, offset: int, size: int) -> Chunk | None:
        owner = self._owner.get(jid)
        shells = [self._shell(owner)] if owner is not None else list(self.shells.values())
        for user, shell in ((s.as_user, s) for s in shells):
            chunk = shell.read_output(jid, stream, offset, size)
            if chunk is not None:
                self._owner[jid] = user
                return chunk
        return None

    def cleanup(self, jids: list[str]) -> dict[str, Outcome]:
        return self._each(jids, lambda t, js: t.cleanup(js))

    def _each(
        self, jids: list[str], fn: Callable[[Transport, list[str]], dict[str, Outcome]]
    ) -> dict[str, Outcome]:
        known, unknown = self._group(jids)
        outcomes: dict[str, Outcome] = {}
        for user, group in known.items():
            outcomes.update(fn(self._shell(user), group))
        for shell in self.shells.values():
            if not unknown:
                break
            got = fn(shell, unknown)
            outcomes.update({j: o for j, o in got.items() if o is not Outcome.MISSING})
            unknown = [j for j in unknown if got.get(j) is Outcome.MISSING]
        outcomes.update({j: Outcome.MISSING for j in unknown})
        return outcomes
