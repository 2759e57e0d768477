"""A real OpenSSH `ssh-agent` on a private socket, for tests.

`ssh-agent -D -a SOCK` runs in the foreground as a child of the test, so stopping it
is killing one process; the kernel kills it too if the test process dies first.
`add` loads a key as a user would, with `ssh-add`, the passphrase given through
`SSH_ASKPASS` (a script that prints it from its environment: it is in no file and no
argv).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.sshfleet import _set_pdeathsig

_SOCKET_MAX = 100
"""A Unix socket path must fit in sun_path (108 bytes on Linux)."""


class SshAgent:
    """`with SshAgent(dir) as agent:` an agent at `agent.socket`, stopped on exit."""

    def __init__(self, base_dir: Path) -> None:
        self.dir = base_dir
        self.socket = base_dir / "agent.sock"
        if len(str(self.socket)) > _SOCKET_MAX:
            raise ValueError(f"socket path too long for a Unix socket: {self.socket}")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """The environment of a process that should use this agent."""
        return {**os.environ, "SSH_AUTH_SOCK": str(self.socket)}

    def __enter__(self) -> SshAgent:
        agent = shutil.which("ssh-agent")
        if agent is None:
            raise RuntimeError("ssh-agent not found (openssh-client)")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [agent, "-D", "-a", str(self.socket)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,  # it prints the shell lines exporting the socket
            stderr=subprocess.PIPE,
            preexec_fn=_set_pdeathsig,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError("ssh-agent did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.communicate(timeout=10)
            self.process = None

    def add(self, key: Path, passphrase: str) -> None:
        """`ssh-add KEY`, answering its passphrase prompt through SSH_ASKPASS."""
        askpass = self.dir / "askpass.sh"
        askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$JOBTUI_TEST_ASKPASS"\n')
        askpass.chmod(0o700)
        env = {
            **self.env,
            "SSH_ASKPASS": str(askpass),
            "SSH_ASKPASS_REQUIRE": "force",
            "DISPLAY": ":0",
            "JOBTUI_TEST_ASKPASS": passphrase,
        }
        proc = subprocess.run(
            ["ssh-add", str(key)],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
            start_new_session=True,  # no controlling terminal: ssh-add must use askpass
        )
        if proc.returncode != 0:
            raise RuntimeError(f"ssh-add {key} failed: {proc.stderr.decode(errors='replace')}")

    def public_keys(self) -> list[str]:
        """`ssh-add -L`: the public keys the agent holds."""
        proc = subprocess.run(
            ["ssh-add", "-L"], env=self.env, capture_output=True, text=True, timeout=30
        )
        return [line for line in proc.stdout.splitlines() if line.strip()]
