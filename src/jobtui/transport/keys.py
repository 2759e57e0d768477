"""Which keys a connection offers, in the order OpenSSH offers them.

The agent's keys first (unless `IdentitiesOnly`), then the endpoint's identity files,
else OpenSSH's default ones. A `KeyRing` is shared by every connection of a console,
so a key file is read (and its passphrase asked) once.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import paramiko
from paramiko.auth_strategy import AuthSource, AuthStrategy, InMemoryPrivateKey

from jobtui.model import Endpoint

DEFAULT_KEYS = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519")
"""The identity files OpenSSH tries when none is configured (those paramiko can use)."""


class KeyRing:
    """Keys read once for every connection: the agent's, and decrypted key files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, paramiko.PKey | None] = {}

    def agent_keys(self) -> list[paramiko.PKey]:
        if not os.environ.get("SSH_AUTH_SOCK"):
            return []
        try:
            return list(paramiko.Agent().get_keys())
        except paramiko.SSHException:
            return []

    def key_file(self, path: str) -> paramiko.PKey | None:
        """The key in `path`, or None when it is missing or cannot be used."""
        with self._lock:
            if path not in self._files:
                try:
                    self._files[path] = paramiko.PKey.from_path(path)
                except (OSError, paramiko.SSHException, ValueError):
                    self._files[path] = None
            return self._files[path]

    def strategy(self, endpoint: Endpoint) -> AuthStrategy:
        """What `SSHClient.connect(auth_strategy=...)` tries for `endpoint`."""
        return _Strategy(self, endpoint)


class _Strategy(AuthStrategy):
    def __init__(self, ring: KeyRing, endpoint: Endpoint) -> None:
        super().__init__(ssh_config=paramiko.SSHConfig())
        self.ring = ring
        self.endpoint = endpoint

    def get_sources(self) -> Iterator[AuthSource]:
        user = self.endpoint.user
        if not self.endpoint.identities_only:
            for key in self.ring.agent_keys():
                yield InMemoryPrivateKey(user, key)
        for path in self.endpoint.key_files or DEFAULT_KEYS:
            found = self.ring.key_file(os.path.expanduser(path))
            if found is not None:
                yield InMemoryPrivateKey(user, found)
