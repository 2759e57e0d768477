"""How the console reaches a host: SSH (paramiko) or the local shell."""

from __future__ import annotations

from jobtui.model import Host
from jobtui.transport.base import Transport, TransportError


def make_transport(host: Host, *, accept_new_host_keys: bool = False) -> Transport:
    """The transport the host's `ansible_connection` asks for."""
    if host.connection == "local":
        from jobtui.transport.local import LocalTransport

        return LocalTransport(host)
    from jobtui.transport.ssh import SshTransport

    return SshTransport(host, accept_new_host_keys=accept_new_host_keys)


__all__ = ["Transport", "TransportError", "make_transport"]
