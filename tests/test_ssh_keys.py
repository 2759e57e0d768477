"""Keys: OpenSSH's order, a real ssh-agent, encrypted keys asked once on a terminal
(a pty), the reasons a login fails, and no passphrase anywhere it should not be."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import re
import secrets
import select
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import paramiko
import pytest
from paramiko.auth_strategy import InMemoryPrivateKey

from jobtui.model import Endpoint, Host
from jobtui.transport import TransportError, keys, make_transports
from jobtui.transport.keys import KeyAuthFailure, KeyRing
from tests.sshagent import SshAgent
from tests.sshfleet import FleetHost, SshFleet, ssh_client_path, ssh_keygen_path

PASSPHRASE = "horse-" + secrets.token_hex(8)
"""Unique, so finding it in a file or an output is never a coincidence."""
WRONG = "wrong-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`enc` (ed25519, encrypted with PASSPHRASE), `encpem` (RSA PEM, encrypted: its
    public key only in encpem.pub), `plain` and `other` (not encrypted)."""
    keygen = ssh_keygen_path()
    if keygen is None:
        pytest.skip("ssh-keygen (openssh-client) not installed")
    d = tmp_path_factory.mktemp("keys")
    for name, extra, passphrase in (
        ("enc", ["-t", "ed25519"], PASSPHRASE),
        ("encpem", ["-t", "rsa", "-b", "2048", "-m", "PEM"], PASSPHRASE),
        ("plain", ["-t", "ed25519"], ""),
        ("other", ["-t", "ecdsa"], ""),
    ):
        subprocess.run(
            [keygen, "-q", *extra, "-N", passphrase, "-C", name, "-f", str(d / name)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    return d


@pytest.fixture
def no_agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No agent, and a HOME without keys: only what a test names is offered."""
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SshAgent]:
    """A real ssh-agent, this test's SSH_AUTH_SOCK; killed after the test."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with SshAgent(tmp_path / "agent") as running:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(running.socket))
        yield running


@pytest.fixture
def fleet(make_fleet: Callable[..., SshFleet], key_dir: Path) -> SshFleet:
    """Three hosts of their own that accept `enc`, `encpem` and `plain` (not `other`)."""
    started = make_fleet(count=3)
    with started.authorized_keys_path.open("a") as f:
        for name in ("enc", "encpem", "plain"):
            f.write((key_dir / f"{name}.pub").read_text())
    return started


def endpoint(host: FleetHost, *key_files: Path, identities_only: bool = False) -> Endpoint:
    return Endpoint(
        name=host.name,
        address=host.address,
        port=host.port,
        user=host.user,
        key_files=tuple(str(k) for k in key_files),
        identities_only=identities_only,
    )


def login(host: FleetHost, ring: KeyRing, ep: Endpoint) -> str:
    """Log in to `host` with the ring's strategy and run `whoami`."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(host.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host.address,
            host.port,
            timeout=10,
            banner_timeout=10,
            auth_timeout=10,
            auth_strategy=ring.strategy(ep),
        )
        _, out, _ = client.exec_command("whoami", timeout=10)
        return out.read().decode().strip()
    finally:
        client.close()


def never_ask(prompt: str) -> str | None:
    raise AssertionError(f"asked {prompt!r}")


def offered(ring: KeyRing, ep: Endpoint) -> list[bytes]:
    """The public keys the strategy would offer, in order."""
    sources = list(ring.strategy(ep).get_sources())
    assert all(isinstance(s, InMemoryPrivateKey) for s in sources)
    return [s.pkey.asbytes() for s in sources if isinstance(s, InMemoryPrivateKey)]


def blob(pub: Path) -> bytes:
    """The key blob of a `.pub` file (`type base64 comment`)."""
    return base64.b64decode(pub.read_text().split()[1])


# --- order and caching (a real agent, no host) -------------------------------------------


def test_agent_copies_of_identity_files_first_then_other_agent_keys_then_files(
    agent: SshAgent, key_dir: Path, tmp_path: Path
) -> None:
    agent.add(key_dir / "other", "")
    agent.add(key_dir / "plain", "")
    host = Endpoint("h", "127.0.0.1", key_files=(str(key_dir / "enc"), str(key_dir / "plain")))
    ring = KeyRing(ask=lambda _: PASSPHRASE)
    ring.unlock([host])
    # plain (configured, in the agent), other (agent only), enc (file only)
    want = [blob(key_dir / "plain.pub"), blob(key_dir / "other.pub"), blob(key_dir / "enc.pub")]
    assert offered(ring, host) == want


def fingerprint(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
    return "SHA256:" + digest.rstrip("=")


def openssh_order(host: FleetHost, key_files: tuple[Path, ...], identities_only: bool) -> list[str]:
    """The fingerprints of the keys OpenSSH's own client would offer, in order (`ssh -v`
    lists them before it tries the first: "Will attempt key: PATH TYPE SHA256:...")."""
    ssh = ssh_client_path()
    assert ssh is not None
    argv = [ssh, "-v", "-F", "/dev/null", "-o", "BatchMode=yes", "-p", str(host.port)]
    argv += ["-o", f"UserKnownHostsFile={host.known_hosts_path}", "-o", "StrictHostKeyChecking=yes"]
    argv += ["-o", f"IdentitiesOnly={'yes' if identities_only else 'no'}"]
    for key in key_files:
        argv += ["-i", str(key)]
    argv += [f"{host.user}@{host.address}", "true"]
    proc = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False
    )
    found = re.findall(r"Will attempt key: .* (SHA256:\S+)", proc.stderr)
    assert found, proc.stderr
    return found


@pytest.mark.parametrize("identities_only", [False, True], ids=["agent", "identities_only"])
@pytest.mark.parametrize(
    ("in_agent", "names"),
    [
        (("other", "plain"), ("encpem", "enc", "plain")),
        (("plain", "enc", "other"), ("encpem", "enc", "plain")),
        # a public key named as the identity (its private key in the agent), a missing one
        (("other", "plain"), ("gone", "plain.pub", "enc")),
    ],
    ids=["agent_order", "encrypted_in_agent", "pub_and_missing"],
)
def test_keys_are_offered_in_the_order_openssh_offers_them(
    fleet: SshFleet,
    agent: SshAgent,
    key_dir: Path,
    identities_only: bool,
    in_agent: tuple[str, ...],
    names: tuple[str, ...],
) -> None:
    for name in in_agent:
        agent.add(key_dir / name, PASSPHRASE if name.startswith("enc") else "")
    files = tuple(key_dir / name for name in names)
    host = fleet.hosts[0]
    ep = endpoint(host, *files, identities_only=identities_only)
    ring = KeyRing(ask=lambda _: PASSPHRASE)
    ring.unlock([ep])
    ours = [fingerprint(b) for b in offered(ring, ep)]
    assert ours == openssh_order(host, files, identities_only)


def test_identities_only_offers_only_the_agent_copies_of_the_configured_files(
    agent: SshAgent, key_dir: Path
) -> None:
    agent.add(key_dir / "other", "")
    agent.add(key_dir / "plain", "")
    host = Endpoint("h", "127.0.0.1", key_files=(str(key_dir / "plain"),), identities_only=True)
    assert offered(KeyRing(), host) == [blob(key_dir / "plain.pub")]


def test_an_encrypted_key_in_the_agent_is_recognised_without_its_pub_file(
    agent: SshAgent, key_dir: Path, tmp_path: Path
) -> None:
    lone = tmp_path / "lone"
    lone.write_bytes((key_dir / "enc").read_bytes())  # no lone.pub beside it
    agent.add(key_dir / "enc", PASSPHRASE)
    host = Endpoint("h", "127.0.0.1", key_files=(str(lone),), identities_only=True)
    ring = KeyRing(ask=never_ask)
    ring.unlock([host])  # the agent holds it: nothing to ask
    assert offered(ring, host) == [blob(key_dir / "enc.pub")]


def test_a_key_file_is_read_once_by_fifty_connections_at_once(
    no_agent: None, key_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: Counter[str] = Counter()
    real_read = keys._read

    def counting_read(path: str) -> bytes:
        reads[path] += 1
        time.sleep(0.01)  # widen the window two threads could both read in
        return real_read(path)

    monkeypatch.setattr(keys, "_read", counting_read)
    ring = KeyRing()
    host = Endpoint("h", "127.0.0.1", key_files=(str(key_dir / "plain"), str(key_dir / "enc")))
    start = threading.Barrier(50)
    results: list[list[bytes]] = []

    def connect() -> None:
        start.wait()
        results.append(offered(ring, host))

    threads = [threading.Thread(target=connect) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reads == {str(key_dir / "plain"): 1, str(key_dir / "enc"): 1}
    assert results == [[blob(key_dir / "plain.pub")]] * 50


# --- unlock: asked once per key, retries, giving up --------------------------------------


class Asker:
    """Answers prompts from a list, and records them."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str | None:
        self.prompts.append(prompt)
        return self.answers.pop(0)


def test_unlock_asks_once_per_key_file_for_all_hosts_and_jump_hosts(
    no_agent: None, key_dir: Path
) -> None:
    enc, encpem = str(key_dir / "enc"), str(key_dir / "encpem")
    bastion = Endpoint("bastion", "10.0.0.1", key_files=(encpem,))
    hosts = [Endpoint(f"h{i}", f"10.0.1.{i}", key_files=(enc,), via=bastion) for i in range(5)]
    ask = Asker(PASSPHRASE, WRONG, PASSPHRASE)
    ring = KeyRing(ask=ask)
    ring.unlock(hosts)
    assert ask.prompts == [
        f"Enter passphrase for key '{encpem}': ",  # the jump host is connected to first
        f"Enter passphrase for key '{enc}': ",
        f"Bad passphrase, try again for key '{enc}': ",
    ]
    assert offered(ring, hosts[0]) == [blob(key_dir / "enc.pub")]
    assert offered(ring, bastion) == [blob(key_dir / "encpem.pub")]


def test_three_wrong_passphrases_give_up_on_the_key_and_say_so(
    no_agent: None, key_dir: Path
) -> None:
    enc = str(key_dir / "enc")
    host = Endpoint("h", "10.0.0.1", key_files=(enc,))
    ask = Asker(WRONG, WRONG, WRONG)
    ring = KeyRing(ask=ask)
    ring.unlock([host])
    assert len(ask.prompts) == keys.PASSPHRASE_TRIES
    assert offered(ring, host) == []
    problem = ring._file(enc).problem
    assert problem == (
        f"key {enc} is encrypted and not in ssh-agent, and the 3 passphrases given for it "
        "were wrong"
    )


@pytest.mark.parametrize("answer", ["", None], ids=["empty", "eof"])
def test_no_passphrase_skips_the_key_and_asks_the_next(
    no_agent: None, key_dir: Path, answer: str | None
) -> None:
    enc, encpem = str(key_dir / "enc"), str(key_dir / "encpem")
    host = Endpoint("h", "10.0.0.1", key_files=(enc, encpem))
    ask = Asker(answer, PASSPHRASE)
    ring = KeyRing(ask=ask)
    ring.unlock([host])
    assert len(ask.prompts) == 2
    assert offered(ring, host) == [blob(key_dir / "encpem.pub")]


def test_headless_unlock_asks_nothing_and_plain_keys_need_no_asking(
    no_agent: None, key_dir: Path
) -> None:
    KeyRing().unlock([Endpoint("h", "10.0.0.1", key_files=(str(key_dir / "enc"),))])
    KeyRing(ask=never_ask).unlock([Endpoint("h", "10.0.0.1", key_files=(str(key_dir / "plain"),))])


# --- real logins: agent, prompt, headless reasons ----------------------------------------


def test_an_encrypted_key_in_the_agent_logs_in_without_a_prompt(
    fleet: SshFleet, agent: SshAgent, key_dir: Path
) -> None:
    agent.add(key_dir / "enc", PASSPHRASE)
    ring = KeyRing(ask=never_ask)
    eps = [endpoint(h, key_dir / "enc") for h in fleet.hosts]
    ring.unlock(eps)
    for host, ep in zip(fleet.hosts, eps, strict=True):
        assert login(host, ring, ep) == host.user


def test_identities_only_with_another_key_does_not_use_the_agent_key(
    fleet: SshFleet, agent: SshAgent, key_dir: Path
) -> None:
    agent.add(key_dir / "enc", PASSPHRASE)
    host = fleet.hosts[0]
    ring = KeyRing()
    with pytest.raises(KeyAuthFailure) as failed:
        login(host, ring, endpoint(host, key_dir / "other", identities_only=True))
    assert str(failed.value) == f"the server refused {key_dir / 'other'}"
    # The control: without IdentitiesOnly, the agent's key gets in.
    assert login(host, ring, endpoint(host, key_dir / "other")) == host.user


def test_a_public_key_as_the_identity_file_logs_in_through_the_agent_copy(
    fleet: SshFleet, agent: SshAgent, key_dir: Path
) -> None:
    agent.add(key_dir / "plain", "")
    host = fleet.hosts[0]
    ep = endpoint(host, key_dir / "plain.pub", identities_only=True)
    assert login(host, KeyRing(), ep) == host.user


def test_a_public_key_as_the_identity_file_without_the_agent_says_so(
    fleet: SshFleet, no_agent: None, key_dir: Path
) -> None:
    host = fleet.hosts[0]
    pub = key_dir / "plain.pub"
    with pytest.raises(KeyAuthFailure) as failed:
        login(host, KeyRing(), endpoint(host, pub))
    assert (
        str(failed.value)
        == f"key {pub} is a public key, and ssh-agent does not hold its private key"
    )


def test_a_passphrase_asked_once_unlocks_the_key_for_every_host(
    fleet: SshFleet, no_agent: None, key_dir: Path
) -> None:
    ask = Asker(WRONG, PASSPHRASE)
    ring = KeyRing(ask=ask)
    eps = [endpoint(h, key_dir / "enc") for h in fleet.hosts]
    ring.unlock(eps)
    assert len(ask.prompts) == 2
    for host, ep in zip(fleet.hosts, eps, strict=True):
        assert login(host, ring, ep) == host.user


def test_headless_an_encrypted_key_not_in_the_agent_is_the_reason_the_login_fails(
    fleet: SshFleet, no_agent: None, key_dir: Path
) -> None:
    host = fleet.hosts[0]
    enc = key_dir / "enc"
    with pytest.raises(paramiko.AuthenticationException) as failed:
        login(host, KeyRing(), endpoint(host, enc))
    assert str(failed.value) == (
        f"key {enc} is encrypted and not in ssh-agent: add it with ssh-add, "
        "or run jobtui on a terminal to be asked its passphrase"
    )
    assert PASSPHRASE not in repr(failed.value)


def fleet_host(host: FleetHost, ep: Endpoint, tmp_path: Path) -> Host:
    """The inventory host of `host`, reached the way `ep` says."""
    ep = dataclasses.replace(ep, known_hosts=(str(host.known_hosts_path),))
    return Host(
        name=host.name,
        address=host.address,
        port=host.port,
        user=host.user,
        jobtui_dir=str(tmp_path / "jobtui" / host.name),
        ssh=ep,
    )


def test_the_transport_shows_the_reason_and_connects_once_the_key_is_unlocked(
    fleet: SshFleet, no_agent: None, key_dir: Path, tmp_path: Path
) -> None:
    enc = key_dir / "enc"
    hosts = [fleet_host(h, endpoint(h, enc), tmp_path) for h in fleet.hosts[:2]]
    for transport in make_transports(hosts, keyring=KeyRing()):
        with transport, pytest.raises(TransportError) as failed:
            transport.status([])
        assert str(failed.value) == (
            f"authentication failed as {transport.host.user}: key {enc} is encrypted and not "
            "in ssh-agent: add it with ssh-add, or run jobtui on a terminal to be asked its "
            "passphrase"
        )
    ring = KeyRing(ask=Asker(PASSPHRASE))
    ring.unlock(h.endpoint for h in hosts)
    for transport in make_transports(hosts, keyring=ring):
        with transport:
            assert transport.status([]).runs == {}


def test_a_missing_key_file_is_skipped_and_named_when_nothing_else_works(
    fleet: SshFleet, no_agent: None, key_dir: Path, tmp_path: Path
) -> None:
    host = fleet.hosts[0]
    missing, broken = tmp_path / "missing_key", tmp_path / "broken_key"
    broken.write_text("not a key\n")
    ring = KeyRing()
    assert login(host, ring, endpoint(host, missing, broken, key_dir / "plain")) == host.user
    with pytest.raises(KeyAuthFailure) as failed:
        login(host, ring, endpoint(host, missing, broken, key_dir / "other"))
    assert str(failed.value) == (
        f"key {missing}: no such file; key {broken} cannot be used: not a private key file; "
        f"the server refused {key_dir / 'other'}"
    )


def test_with_nothing_to_offer_the_reason_says_where_it_looked(
    fleet: SshFleet, no_agent: None
) -> None:
    host = fleet.hosts[0]
    with pytest.raises(KeyAuthFailure) as failed:
        login(host, KeyRing(), endpoint(host))
    assert str(failed.value) == (
        "no key to offer: no ssh-agent (SSH_AUTH_SOCK is not set); "
        f"no key file in {', '.join(keys.DEFAULT_KEYS)}"
    )


class ScriptedServer:
    """Stands in for paramiko's Transport: answers each key offered with the next error."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)

    def auth_publickey(self, username: str, key: paramiko.PKey) -> list[str]:
        raise self.errors.pop(0)


def test_a_failure_other_than_a_refusal_is_said_beside_its_key(
    no_agent: None, key_dir: Path
) -> None:
    plain, other = key_dir / "plain", key_dir / "other"
    server = ScriptedServer(
        paramiko.AuthenticationException("Authentication failed."),
        paramiko.AuthenticationException("Authentication timeout."),
    )
    strategy = KeyRing().strategy(Endpoint("h", "10.0.0.1", key_files=(str(plain), str(other))))
    with pytest.raises(KeyAuthFailure) as failed:
        strategy.authenticate(cast(paramiko.Transport, server))
    assert str(failed.value) == f"the server refused {plain}, {other} (Authentication timeout)"


# --- the terminal ---------------------------------------------------------------------


class Pty:
    """A process whose stdin, stdout, stderr and controlling terminal are a pty."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        self.output = b""
        self.proc = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            start_new_session=True,
            # A session leader that opens a terminal makes it its controlling one,
            # which is what /dev/tty (and so getpass) then is.
            preexec_fn=lambda: os.close(os.open(name, os.O_RDWR)),
        )
        os.close(slave)

    def read_until(self, text: bytes, timeout: float = 60) -> bytes:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"no {text!r} in the terminal:\n{self.text}")
        return self.output

    def write(self, data: bytes) -> None:
        os.write(self.master, data)

    def wait(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self._read(max(0.0, deadline - time.monotonic())):
            pass
        return self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def _read(self, timeout: float) -> bool:
        """Read what is there; False once the other side is closed (or on timeout)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the terminal has exited
            return False
        self.output += data
        return bool(data)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self.master)


UNLOCK_SCRIPT = textwrap.dedent(
    """
    import sys
    import termios
    from jobtui.model import Endpoint
    from jobtui.transport.keys import KeyRing, terminal_asker

    ask = terminal_asker()
    print("asker:", ask is not None, flush=True)
    ring = KeyRing(ask=ask)
    try:
        ring.unlock([Endpoint("h", "10.0.0.1", key_files=(sys.argv[1],))])
    except KeyboardInterrupt:
        echo = termios.tcgetattr(sys.stdin.fileno())[3] & termios.ECHO
        print("interrupted, echo", "on" if echo else "off", flush=True)
        sys.exit(130)
    print("unlocked:", ring.key_file(sys.argv[1]) is not None, flush=True)
    """
)


@pytest.fixture
def pty_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    return {**env, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path.cwd() / "src")}


def test_terminal_asker_reads_the_passphrase_on_the_terminal_without_echo(
    key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    term = Pty([sys.executable, "-c", UNLOCK_SCRIPT, str(key_dir / "enc")], pty_env, tmp_path)
    try:
        term.read_until(b"Enter passphrase for key '")
        term.write(WRONG.encode() + b"\n")
        term.read_until(b"Bad passphrase, try again for key '")
        term.write(PASSPHRASE.encode() + b"\n")
        assert term.wait() == 0, term.text
    finally:
        term.close()
    assert "asker: True" in term.text
    assert "unlocked: True" in term.text
    assert PASSPHRASE not in term.text
    assert WRONG not in term.text


def test_ctrl_c_at_the_prompt_raises_keyboard_interrupt_out_of_unlock(
    key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    term = Pty([sys.executable, "-c", UNLOCK_SCRIPT, str(key_dir / "enc")], pty_env, tmp_path)
    try:
        term.read_until(b"Enter passphrase for key '")
        term.write(b"\x03")  # the terminal turns it into SIGINT
        assert term.wait() == 130, term.text
    finally:
        term.close()
    assert "interrupted, echo on" in term.text  # getpass put the terminal back
    assert "Traceback" not in term.text


def test_no_terminal_no_asker(tmp_path: Path, pty_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from jobtui.transport.keys import terminal_asker as t; print(t())"],
        env=pty_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no controlling terminal either
        timeout=60,
        check=False,
    )
    assert proc.stdout == "None\n", proc.stderr


# --- the real CLI ---------------------------------------------------------------------

JOBS = "jobs:\n  - name: hi\n    hosts: fleet\n    shell: sleep 1; echo hi\n    poll: 0.2\n"


def write_run(fleet: SshFleet, tmp_path: Path, keyed: dict[str, Path]) -> list[str]:
    """jobs.yml and inventory.yml (each host's key: `keyed`, else the fleet's own);
    the argv of `jobtui run` on them, headless, with its state in tmp_path/state."""
    (tmp_path / "jobs.yml").write_text(JOBS)
    inventory = fleet.write_inventory(
        tmp_path / "inventory.yml",
        host_vars={
            h.name: {
                "jobtui_dir": str(tmp_path / "jobtui" / h.name),
                **({"ansible_ssh_private_key_file": str(keyed[h.name])} if h.name in keyed else {}),
            }
            for h in fleet.hosts
        },
    )
    state = str(tmp_path / "state")
    run = ["run", "jobs.yml", "-i", str(inventory), "--headless", "--state-dir", state]
    return [sys.executable, "-m", "jobtui", *run]


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


class ArgvWatch:
    """Reads every process's argv and environment, over and over, while a run goes on:
    which of them held `secret`."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.found: set[str] = set()
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or entry.name == str(os.getpid()):
                    continue  # this test process holds it, to type it
                for what in ("cmdline", "environ"):
                    try:
                        if self.secret in (entry / what).read_bytes():
                            self.found.add(f"{entry.name}/{what}")
                    except OSError:
                        continue  # gone, or not ours to read
            self.scans += 1
            time.sleep(0.05)


def test_the_cli_asks_once_on_its_terminal_and_the_passphrase_appears_nowhere(
    fleet: SshFleet, key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    enc = key_dir / "enc"
    argv = write_run(fleet, tmp_path, {h.name: enc for h in fleet.hosts})
    with ArgvWatch(PASSPHRASE) as watch:
        term = Pty(argv, pty_env, tmp_path)
        try:
            term.read_until(f"Enter passphrase for key '{enc}': ".encode())
            term.write(WRONG.encode() + b"\n")
            term.read_until(b"Bad passphrase, try again")
            term.write(PASSPHRASE.encode() + b"\n")
            code = term.wait()
        finally:
            term.close()
    assert code == 0, term.text
    for host in fleet.hosts:
        assert f"{host.name} hi: succeeded" in term.text
    assert term.text.count("Enter passphrase") == 1
    assert term.text.count("Bad passphrase") == 1
    assert "Traceback" not in term.text
    for secret in (PASSPHRASE, WRONG):
        assert secret not in term.text
        assert files_holding(tmp_path / "state", secret) == []
        assert files_holding(tmp_path / "jobtui", secret) == []
    assert list((tmp_path / "jobtui").rglob("stdout*")), "the job directories were not found"
    assert watch.scans > 0
    assert watch.found == set()


def test_the_cli_on_a_terminal_logs_in_through_the_agent_without_asking(
    fleet: SshFleet, agent: SshAgent, key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    agent.add(key_dir / "enc", PASSPHRASE)
    argv = write_run(fleet, tmp_path, {h.name: key_dir / "enc" for h in fleet.hosts})
    term = Pty(argv, {**pty_env, "SSH_AUTH_SOCK": str(agent.socket)}, tmp_path)
    try:
        code = term.wait()
    finally:
        term.close()
    assert code == 0, term.text
    for host in fleet.hosts:
        assert f"{host.name} hi: succeeded" in term.text
    assert "passphrase" not in term.text


def test_ctrl_c_at_the_cli_prompt_stops_it_without_a_traceback(
    fleet: SshFleet, key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    argv = write_run(fleet, tmp_path, {h.name: key_dir / "enc" for h in fleet.hosts})
    term = Pty(argv, pty_env, tmp_path)
    try:
        term.read_until(b"Enter passphrase for key")
        term.write(b"\x03")
        code = term.wait()
    finally:
        term.close()
    assert code != 0, term.text
    assert "Traceback" not in term.text
    assert not (tmp_path / "jobtui").exists(), "nothing may be launched"


def test_headless_without_agent_the_encrypted_key_hosts_are_unreachable_and_say_why(
    fleet: SshFleet, key_dir: Path, tmp_path: Path, pty_env: dict[str, str]
) -> None:
    enc = key_dir / "enc"
    locked = [h.name for h in fleet.hosts[:2]]
    argv = write_run(fleet, tmp_path, dict.fromkeys(locked, enc))
    proc = subprocess.run(
        argv,
        env=pty_env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,  # no terminal to ask on
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    reason = (
        f"authentication failed as {fleet.user}: key {enc} is encrypted and not in "
        "ssh-agent: add it with ssh-add, or run jobtui on a terminal to be asked its passphrase"
    )
    for name in locked:
        assert f"{name}: unreachable: {reason}" in proc.stderr
    assert f"{fleet.hosts[2].name} hi: succeeded" in proc.stderr
    assert "Enter passphrase" not in proc.stderr + proc.stdout
