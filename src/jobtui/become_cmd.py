"""The command line's side of become: `-K`, `-b`/`--become-user`, and who needs which
sudo'd shell (`transport.become.BecomeSetup`).

The sudo password is, for each host, its inventory's `ansible_become_password` (or
Ansible's older names for it), else the one `-K` asked for once on the terminal, else
`ANSIBLE_BECOME_PASS`. It is held in this process only: handed to sudo's stdin on the
host, never to an argv, the store, a log, the JSON or the screen.
"""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Callable, Iterable, Mapping

from jobtui.config import ConfigError
from jobtui.config.ansiblecfg import find_config, load_configured, read_config
from jobtui.model import USER_RE, Become, Host, become_password
from jobtui.runs import Run
from jobtui.store import Store, state_dir
from jobtui.transport.become import BecomeSetup

PROMPT = "BECOME password: "
"""As ansible-playbook -K asks."""

ENV = "ANSIBLE_BECOME_PASS"


class NoPassword(Exception):
    """-K could read no password (its input ended)."""


def _user(text: str) -> str:
    if not USER_RE.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a user name")
    return text


def add_options(p: argparse.ArgumentParser, *, discover: bool) -> None:
    """-K for every command that reaches hosts; -b/--become-user for those that find
    runs on the hosts (status, watch, cancel, cleanup), as Ansible's ad-hoc flags."""
    p.add_argument(
        "-K",
        "--ask-become-pass",
        action="store_true",
        help=f"ask for the sudo password once (default: ${ENV}, or the inventory's)",
    )
    if discover:
        p.add_argument(
            "-b",
            "--become",
            action="store_true",
            help="also look at the runs of the become user (as ansible_become does)",
        )
        p.add_argument(
            "--become-user",
            metavar="USER",
            type=_user,
            help="with -b: that user's runs (default: the inventory's, else root)",
        )


def password_source(args: argparse.Namespace, hosts: Iterable[Host]) -> str | None:
    """The password of `hosts`, which have none of their own: asked now with -K (once,
    and only if there is such a host), else from the environment."""
    hosts = list(hosts)
    ask = bool(hosts) and (getattr(args, "ask_become_pass", False) or _config_asks())
    if ask:
        try:
            return getpass.getpass(PROMPT)
        except EOFError as e:
            raise NoPassword(
                f"-K: no password could be read (its input ended); set {ENV} instead"
            ) from e
    return os.environ.get(ENV)


def _config_asks() -> bool:
    """ansible.cfg's `become_ask_pass = True` (or `ANSIBLE_BECOME_ASK_PASS`): as -K."""
    return read_config(find_config(os.environ, os.getcwd()), os.environ).become_ask_pass


def inventory_passwords(source: Mapping[str, str]) -> dict[str, str]:
    """Host -> its `ansible_become_password`, from the inventory a batch was launched
    with, read again (the store keeps no password). Nothing if it cannot be read now
    (moved, a relative path from elsewhere): `-K` or the environment then."""
    given = source.get("inventory", "").split()
    try:
        inventory = load_configured(given or None)
    except (ConfigError, OSError):
        return {}
    found = {}
    for name, host in inventory.hosts.items():
        password = become_password(host)
        if password is not None:
            found[name] = password
    return found


def for_runs(
    runs: Iterable[Run],
    args: argparse.Namespace,
    password: Callable[[Host], str | None] | None = None,
    known: Mapping[str, str] | None = None,
) -> BecomeSetup | None:
    """A batch's shells: each host's become users, as its runs say (None if none).

    Args:
        password: The sudo password of a host, already known (else it is found now:
            `-K` asks).
        known: Host -> its password from elsewhere than its vars (`attach`: the
            batch's inventory, read again).
    """
    users: dict[str, set[Become]] = {}
    owners: dict[str, str] = {}
    hosts: dict[str, Host] = {}
    for r in runs:
        b = r.spec.become
        if b is None:
            continue
        users.setdefault(r.spec.host.name, set()).add(b)
        hosts[r.spec.host.name] = r.spec.host
        if r.jid:
            owners[r.jid] = b.user
    if password is not None and users:
        return BecomeSetup(users=users, owners=owners, password=password)
    return _setup(users, owners, hosts.values(), args, known or {})


def for_hosts(
    hosts: list[Host], args: argparse.Namespace, recorded: Mapping[str, set[str]] | None = None
) -> BecomeSetup | None:
    """Who to look at on each host when runs are found there: its login user, and its
    become user where the inventory's `ansible_become` (or `-b`) says so, and every user
    this machine's batches became there (`recorded`, `Store.become_users`)."""
    wanted = getattr(args, "become", False)
    named = getattr(args, "become_user", None)
    users: dict[str, set[Become]] = {}
    chosen = []
    for h in hosts:
        mine = {Become(u) for u in (recorded or {}).get(h.name, ())}
        if h.become or wanted:
            mine.add(Become(named or h.become_user or "root"))
        if mine:
            users[h.name] = mine
            chosen.append(h)
    return _setup(users, {}, chosen, args, {})


def recorded(args: argparse.Namespace) -> dict[str, set[str]]:
    """The become users of every batch in the state directory (none if it has no store:
    nothing is created for a look)."""
    path = Store.path_in(state_dir(args.state_dir))
    if not path.exists():
        return {}
    with Store(path) as store:
        return store.become_users()


def _setup(
    users: Mapping[str, set[Become]],
    owners: Mapping[str, str],
    hosts: Iterable[Host],
    args: argparse.Namespace,
    known: Mapping[str, str],
) -> BecomeSetup | None:
    if not users:
        return None

    def own(host: Host) -> str | None:
        mine = become_password(host)
        return mine if mine is not None else known.get(host.name)

    fallback = password_source(args, [h for h in hosts if own(h) is None])

    def password(host: Host) -> str | None:
        mine = own(host)
        return mine if mine is not None else fallback

    return BecomeSetup(users=users, owners=owners, password=password)
