"""How the console reaches a host: SSH (paramiko) or the local shell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from jobtui import defaults
from jobtui.model import Host
from jobtui.transport.base import Transport, TransportError

if TYPE_CHECKING:
    from jobtui.transport.become import BecomeSetup
    from jobtui.transport.jumps import JumpPool
    from jobtui.transport.keys import KeyRing


def make_transport(
    host: Host,
    *,
    accept_new_host_keys: bool = False,
    keyring: KeyRing | None = None,
    jumps: JumpPool | None = None,
) -> Transport:
    """The transport the host's `ansible_connection` asks for."""
    if host.connection == "local":
        from jobtui.transport.local import LocalTransport

        return LocalTransport(host)
    # paramiko is imported only once a host needs it.
    from jobtui.transport.ssh import SshTransport

    return SshTransport(
        host, accept_new_host_keys=accept_new_host_keys, keyring=keyring, jumps=jumps
    )


def make_transports(
    hosts: Iterable[Host],
    *,
    accept_new_host_keys: bool = False,
    keyring: KeyRing | None = None,
    jump_backoff: float = defaults.BACKOFF,
    become: BecomeSetup | None = None,
) -> list[Transport]:
    """One transport per host, sharing one keyring (each key read, its passphrase
    asked, once) and one jump host pool (one connection per jump host).

    Args:
        jump_backoff: Seconds before a jump host that failed is dialled again
            (doubled each failure in a row).
        become: Who the hosts' runs become: a host with become users gets a
            `HostTransport` (its login shell and a sudo'd shell per user).
    """
    hosts = list(hosts)
    made = _make_transports(hosts, accept_new_host_keys, keyring, jump_backoff)
    return made if become is None else [become.wrap(t) for t in made]


def _make_transports(
    hosts: list[Host],
    accept_new_host_keys: bool,
    keyring: KeyRing | None,
    jump_backoff: float,
) -> list[Transport]:
    if all(h.connection == "local" for h in hosts):
        return [make_transport(h) for h in hosts]
    from jobtui.transport.jumps import JumpPool
    from jobtui.transport.keys import KeyRing
    from jobtui.transport.ssh import Dialer

    ring = keyring if keyring is not None else KeyRing()
    pool = JumpPool(Dialer(ring, accept_new_host_keys), backoff=jump_backoff)
    return [
        make_transport(h, accept_new_host_keys=accept_new_host_keys, keyring=ring, jumps=pool)
        for h in hosts
    ]


__all__ = ["Transport", "TransportError", "make_transport", "make_transports"]
