"""Domain types shared by every layer: hosts, job specs, runs and their states.

Nothing here does I/O. The config loader produces `Host` and `JobSpec`, the planner
turns them into `RunSpec`s, and the engine tracks each one as a `Run`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, NamedTuple

from jobtui import defaults
from jobtui.jids import ANSIBLE_JID_RE as ANSIBLE_JID_RE
from jobtui.jids import JID_RE as JID_RE
from jobtui.jids import InvalidJid as InvalidJid
from jobtui.jids import attempt_jid as attempt_jid
from jobtui.jids import check_any_jid as check_any_jid
from jobtui.jids import check_jid as check_jid
from jobtui.jids import is_ansible_jid as is_ansible_jid
from jobtui.jids import new_jid as new_jid

ANSIBLE_ASYNC_DIR = "~/.ansible_async"
"""Where Ansible's async jobs are when neither the host's `ansible_async_dir` nor
ansible.cfg's `async_dir` (`ANSIBLE_ASYNC_DIR`) says: `~` of the user whose shell
reads it (the become user's for jobs launched with become), as Ansible's."""


class RunState(Enum):
    """The life of one run (one job on one host for one loop item)."""

    PENDING = "pending"
    """Not launched yet."""
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    LOST = "lost"
    """The process is gone and no return code was written (reboot, kill -9)."""
    UNREACHABLE = "unreachable"
    """The host cannot be reached right now; the job may still be running there."""
    SKIPPED = "skipped"
    """Never launched, on purpose: `max_fail_percentage` was passed, or the operator
    called it off. Final; it makes the batch fail (exit 1): work was left undone."""

    @property
    def finished(self) -> bool:
        """A state a run never leaves (unreachable is not one of them)."""
        return self in _FINISHED

    @property
    def ok(self) -> bool:
        return self is RunState.SUCCEEDED

    @property
    def failed(self) -> bool:
        """Makes the batch fail (exit 1): every end but success, and unreachable."""
        return self in _FAILED

    @property
    def alerting(self) -> bool:
        """Entering it is worth a toast and the bell."""
        return self in _ALERTING

    @property
    def retryable(self) -> bool:
        """An attempt that ended so may be tried again (`retries:`)."""
        return self in _RETRYABLE


_FINISHED = frozenset(
    {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.TIMED_OUT,
        RunState.CANCELLED,
        RunState.LOST,
        RunState.SKIPPED,
    }
)
_RETRYABLE = frozenset({RunState.FAILED, RunState.TIMED_OUT, RunState.LOST})
_ALERTING = _RETRYABLE
_FAILED = (_FINISHED - {RunState.SUCCEEDED}) | {RunState.UNREACHABLE}


class RunKey(NamedTuple):
    """Identifies a run in what a console shows.

    In a batch (`run`, `attach`, `demo`): the job, the host and the loop item's
    index. In watch mode, where runs are discovered on the hosts whatever their
    batch: the jid, the host and 0 (`RunKey.discovered`).
    """

    job: str
    host: str
    item_index: int
    """The loop item's position (0 without a loop, or in watch mode)."""

    @classmethod
    def discovered(cls, jid: str, host: str) -> RunKey:
        return cls(jid, host, 0)


class Action(Enum):
    """What an operator can ask of runs."""

    CANCEL = "cancel"
    """TERM, the grace period, KILL to every process of the run; a pending one is dropped."""
    CLEANUP = "cleanup"
    """Remove its job directory from its host (refused while it runs)."""
    RETRY = "retry"
    """A new attempt, under a new jid."""


class Outcome(StrEnum):
    """What a host answers for one jid of a cancel or a cleanup (a `str`: as printed)."""

    OK = "ok"
    MISSING = "missing"
    """No such job directory (cleaned up, or never launched)."""
    FINISHED = "finished"
    """Cancel: the run had already ended."""
    RUNNING = "running"
    """Cleanup: refused, the run has not ended."""
    ERROR = "error"


class NoticeLevel(Enum):
    """How loud a notice to the operator is (the console's toast, the headless line)."""

    INFO = "info"
    """What was done: a cancel sent, a retry called off."""
    WARNING = "warning"
    """What was refused: a cleanup of a running run, a retry of one still going."""
    ERROR = "error"
    """What failed on a host: a cleanup that could not remove a directory."""


class CleanupPolicy(Enum):
    """When the remote job directory is removed after a followed run finishes."""

    NEVER = "never"
    ON_SUCCESS = "on_success"
    ALWAYS = "always"


@dataclass(frozen=True)
class Location:
    """Where a value came from in a YAML file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Endpoint:
    """One SSH hop, resolved from the inventory, Ansible's SSH args and ssh_config.

    A target host's endpoint, or a jump host on its way (`via`). Two hosts behind the
    same bastion have equal `via` endpoints, which is how they share one connection.
    """

    name: str
    """The name it was asked for: the host's `ansible_host` (or inventory name), or a
    jump host as the ProxyJump spec names it; what messages call it."""
    address: str
    """Where to connect (ssh_config's `HostName`, tokens expanded)."""
    port: int = 22
    user: str = ""
    """The login user ("" while unresolved: the local user, as `ssh` does)."""
    key_files: tuple[str, ...] = ()
    """Identity files in the order `ssh` tries them, `~` expanded; () means OpenSSH's
    default ones (~/.ssh/id_*)."""
    identities_only: bool = False
    """Only `key_files` (and the agent's copies of them), as `IdentitiesOnly yes`."""
    known_hosts: tuple[str, ...] = (defaults.KNOWN_HOSTS,)
    """known_hosts files, read in order; an accepted new key goes into the first."""
    accept_new: bool = False
    """`StrictHostKeyChecking accept-new` (the CLI's `--accept-new-host-keys` too)."""
    connect_timeout: float = defaults.CONNECT_TIMEOUT
    keepalive: float = defaults.KEEPALIVE
    """Seconds between keepalives (`ServerAliveInterval`)."""
    proxy_command: str | None = None
    """A local command whose stdin/stdout is the connection (`ProxyCommand`)."""
    via: Endpoint | None = None
    """The jump host this hop is reached through (`ProxyJump`), itself maybe via another."""
    problem: str | None = None
    """Why this route cannot work (a jump chain that loops, ...): the host is
    unreachable with this reason, the other hosts carry on."""
    origin: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    """Where each setting came from, for `jobtui inventory --host`: field name to
    e.g. "inventory var ansible_port", "ssh_config /home/me/.ssh/config:12"."""

    def chain(self) -> tuple[Endpoint, ...]:
        """The jump hosts on the way, the first one connected to first."""
        hops: list[Endpoint] = []
        hop = self.via
        while hop is not None:
            hops.append(hop)
            hop = hop.via
        return tuple(reversed(hops))

    @classmethod
    def direct(cls, host: Host) -> Endpoint:
        """The endpoint of a host from its own fields alone (no ssh_config)."""
        return cls(
            name=host.address,
            address=host.address,
            port=host.port,
            user=host.user or "",
            key_files=(host.key_file,) if host.key_file else (),
            known_hosts=(str(host.vars.get("jobtui_known_hosts", defaults.KNOWN_HOSTS)),),
            connect_timeout=host.connect_timeout,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Endpoint:
        """The inverse of `dataclasses.asdict` (the store keeps endpoints as JSON)."""
        via = d.get("via")
        return cls(
            **{
                **d,
                "key_files": tuple(d.get("key_files", ())),
                "known_hosts": tuple(d.get("known_hosts", (defaults.KNOWN_HOSTS,))),
                "via": cls.from_dict(via) if via else None,
            }
        )


BECOME_METHODS = ("sudo",)
"""The become methods jobtui can use (Ansible's `su`, `doas`... are refused)."""

USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?\Z")
"""A become user name as useradd allows it (never `-x`, `#uid` or a shell word)."""

SECRET_VARS = frozenset(
    {
        "ansible_become_password",
        "ansible_become_pass",
        "ansible_sudo_pass",
        "ansible_sudo_password",
        "ansible_password",
        "ansible_ssh_pass",
        "ansible_ssh_password",
    }
)
"""Inventory variables that hold passwords: never stored, logged or shown by jobtui."""

BECOME_PASSWORD_VARS = (
    "ansible_become_password",
    "ansible_become_pass",
    "ansible_sudo_pass",
    "ansible_sudo_password",
)
"""Where a host's sudo password may be, in Ansible's order of preference."""


def become_password(host: Host) -> str | None:
    """The host's own sudo password, from its inventory variables (None: none there)."""
    for name in BECOME_PASSWORD_VARS:
        value = host.vars.get(name)
        if value is not None and value != "":
            return str(value)
    return None


@dataclass(frozen=True)
class Become:
    """Who a run runs as when it is not the login user: `user`, through sudo."""

    user: str = "root"
    method: str = "sudo"

    def __str__(self) -> str:
        return f"as {self.user}"


def become_of(job: JobSpec, host: Host) -> Become | None:
    """The become of a job's run on a host: the job's keys win over the host's
    `ansible_become*` variables (None: it runs as the login user)."""
    on = job.become if job.become is not None else host.become
    if not on:
        return None
    return Become(
        user=job.become_user or host.become_user or "root",
        method=job.become_method or host.become_method or "sudo",
    )


@dataclass(frozen=True)
class Host:
    """One inventory host, with its connection settings resolved."""

    name: str
    """The inventory name (`inventory_hostname`)."""
    address: str
    """Where to connect: `ansible_host`, or the name itself."""
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    connection: str = "ssh"
    """`ssh` or `local`."""
    jobtui_dir: str = defaults.JOBTUI_DIR
    """The remote directory that holds `jobs/<jid>/`."""
    connect_timeout: float = defaults.CONNECT_TIMEOUT
    """Seconds for connect, banner and auth (`ansible_ssh_timeout`, `ansible_timeout`)."""
    vars: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """Every variable of the host (group vars merged), for templating."""
    groups: tuple[str, ...] = ()
    ssh: Endpoint | None = None
    """How SSH reaches it, ssh_config and jump hosts included (None: from the fields
    above alone, see `Endpoint.direct`)."""
    become: bool = False
    """`ansible_become`: its runs go through sudo unless their job says `become: false`."""
    become_user: str | None = None
    """`ansible_become_user` (None: root, unless the job names one)."""
    become_method: str | None = None
    """`ansible_become_method` (None: sudo)."""
    ansible_async_dir: str = ANSIBLE_ASYNC_DIR
    """Where Ansible's own async jobs are (`ansible_async_dir`, else ansible.cfg's
    `async_dir`): status, cancel and cleanup read and act on them there."""

    @property
    def endpoint(self) -> Endpoint:
        return self.ssh or Endpoint.direct(self)


@dataclass(frozen=True)
class JobSpec:
    """One entry of a job file, validated."""

    name: str
    hosts: str
    """The host pattern, as written."""
    shell: str | None = None
    """Run by /bin/sh; every templated value is shell-quoted."""
    command: str | None = None
    """Split into argv like Ansible's `command`; no shell."""
    loop: tuple[Any, ...] | None = None
    timeout: int = defaults.TIMEOUT
    poll: float = defaults.POLL
    progress: str | None = None
    """A regex over the output's last lines; group 1 is the percentage."""
    retries: int = 0
    retry_delay: float = defaults.RETRY_DELAY
    cleanup: CleanupPolicy = CleanupPolicy.NEVER
    env: dict[str, str] = field(default_factory=dict, hash=False)
    secret_env: dict[str, str] = field(default_factory=dict, hash=False)
    """NAME -> the console's environment variable its value is read from at launch.
    The value is never stored, logged or shown; only the name of its source is."""
    chdir: str | None = None
    become: bool | None = None
    """Run through sudo (None: as the host's `ansible_become` says)."""
    become_user: str | None = None
    become_method: str | None = None
    per_host: int | None = None
    """At most this many runs of this job at once on one host (None: no limit)."""
    throttle: int | None = None
    """At most this many runs of this job at once in the batch (Ansible's keyword)."""
    max_fail_percentage: float | None = None
    """Once more than this share (0-100) of the job's runs ended failed, timed out or
    lost, its runs not launched yet are skipped (None: never)."""
    fetch: str | None = None
    """A local directory (absolute) where each run's stdout/stderr is copied when it
    ends, before any cleanup."""
    location: Location | None = field(default=None, compare=False, hash=False)
    """Where the job's entry starts."""
    key_locations: dict[str, Location] = field(default_factory=dict, compare=False, hash=False)
    """Where each key's value is, so errors found later (planning) point at it."""

    def where(self, key: str) -> Location | None:
        return self.key_locations.get(key, self.location)


@dataclass(frozen=True)
class RunSpec:
    """What to run: one job, on one host, for one loop item, with the command rendered."""

    job: JobSpec
    host: Host
    item: Any
    """The loop item (None when the job has no loop)."""
    index: int
    """The item's position in the loop (0 without a loop)."""
    script: str
    """The rendered command as a /bin/sh command line, ready for `sh -c`."""
    env: dict[str, str] = field(default_factory=dict, hash=False)
    chdir: str | None = None
    become: Become | None = None
    """Who it runs as (`become_of(job, host)`); None: the login user."""

    @property
    def label(self) -> str:
        """The item as shown to people (`""` without a loop)."""
        return item_label(self.item)

    @property
    def key(self) -> RunKey:
        """Identifies the run within a batch: job, host, item index."""
        return RunKey(self.job.name, self.host.name, self.index)


def item_label(item: Any) -> str:
    """A short, single-line label for a loop item."""
    if item is None:
        return ""
    if isinstance(item, dict):
        for k in ("name", "label", "id"):
            if k in item:
                return str(item[k])
    text = str(item)
    return text.replace("\n", " ")


@dataclass
class Progress:
    """How far a run is, as the job reported it."""

    percent: float | None = None
    message: str = ""


LOST_REASON = "the process is gone and no exit status was written (reboot? kill -9?)"
UNSUPERVISED_REASON = (
    "its supervisor is gone (killed?) but the job still runs: its time limit is not "
    "enforced and its exit status will not be recorded"
)


@dataclass
class RemoteStatus:
    """What the wrapper's files on a host say about one jid."""

    jid: str
    state: RunState
    rc: int | None = None
    pid: int | None = None
    started: float | None = None
    finished: float | None = None
    progress: Progress = field(default_factory=Progress)
    tail: str = ""
    """The last bytes of stdout, decoded with replacement characters."""
    stderr_tail: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    """The run's metadata as `remote.parse.read_meta` validated it: known keys only,
    each typed and bounded (never `progress_re`)."""
    full: bool = False
    """The answer included metadata and output tails (else `tail` says nothing)."""
    unsupervised: bool = False
    """Its supervisor is gone but the job still runs (`running`, not `lost`): a retry
    now would run the same work twice at once."""
    user: str = ""
    """The become user whose shell reported it ("" for the login user's): set by the
    transport from who it asked, never read from the host's files."""
    ansible: bool = False
    """A job Ansible launched with `async` (its file in `ansible_async_dir`), not one of
    jobtui's."""
    problem: str = ""
    """What of its files could not be read (`unreadable metadata: index is not an
    integer`): the job can rewrite them. The state is then what could still be read,
    `lost` if nothing could; `meta` holds no value of an unreadable file."""

    def add_problem(self, text: str) -> None:
        self.problem = f"{self.problem}; {text}" if self.problem else text

    @property
    def reason(self) -> str:
        """Why the state is what it is, when that is not plain."""
        if self.problem:
            return self.problem
        if self.state is RunState.LOST:
            return LOST_REASON
        if self.unsupervised:
            return UNSUPERVISED_REASON
        return ""
