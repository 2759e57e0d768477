"""Which keys a connection offers, in the order OpenSSH offers them, and the
passphrases of encrypted ones.

The order is OpenSSH's (`pubkey_prepare` in sshconnect2.c): the agent's copies of the
endpoint's identity files, in the agent's order; then the agent's other keys (not with
`IdentitiesOnly`); then the identity files the agent does not hold. The identity
files are the endpoint's `key_files`, else OpenSSH's default ones that exist. A key the
agent holds is matched to its file by public key: the one an OpenSSH-format private
key keeps in clear (even encrypted), the key itself when it is not encrypted, else
`FILE.pub`.

A `KeyRing` is shared by every connection of a console (up to `--forks` of them at
once): each key file is read once. An encrypted key the agent does not hold is
decrypted only by `KeyRing.unlock`, which the CLI calls once before the console owns
the terminal; a connection never asks anything. A key that could not be used (missing,
unreadable, encrypted and locked) is named, with why, in the `KeyAuthFailure` a
connection raises when no key was accepted, so the host's reason says what to do.

A passphrase lives only in `unlock`'s local variables while the key is decrypted: it
is never stored, logged, or put in a message. (Python cannot wipe a `str`; the last
reference is dropped at once.)

Not done, on purpose or not yet: certificates (`FILE-cert.pub`, `CertificateFile`),
FIDO keys (`sk-*`: a file of one says it cannot be used; through the agent it is
offered like any agent key), PKCS#11, `IdentityAgent` (the agent is `SSH_AUTH_SOCK`'s),
`AddKeysToAgent`, agent forwarding, and ssh's refusal of a private key file others can
read. Encrypted default keys (`~/.ssh/id_*`) are asked for up front when the agent does
not hold them, where ssh asks only once the agent's keys were refused: an empty answer
skips one.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import io
import os
import pwd
import socket
import sys
import termios
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from jobtui.sshlib import paramiko  # isort: skip  (first: see sshlib.py)
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from paramiko.auth_strategy import (
    AuthFailure,
    AuthResult,
    AuthSource,
    AuthStrategy,
    InMemoryPrivateKey,
    SourceResult,
)

from jobtui.model import Endpoint

DEFAULT_KEYS = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519")
"""The identity files OpenSSH tries when none is configured (those paramiko can use)."""

PASSPHRASE_TRIES = 3
"""Passphrases asked for one key before giving up on it (ssh's NumberOfPasswordPrompts)."""

Ask = Callable[[str], str | None]
"""Asks the user `prompt`; the answer, or None when there is none (no terminal, EOF)."""

_OPENSSH_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END = "-----END OPENSSH PRIVATE KEY-----"
_OPENSSH_MAGIC = b"openssh-key-v1\0"


def terminal_asker() -> Ask | None:
    """Ask on the controlling terminal, as ssh does; None when there is no terminal.

    Needs stdin to be a terminal too: jobtui run from a script, a pipe or cron must
    never stop to wait on a terminal it happens to have.
    """
    if sys.stdin is None or not sys.stdin.isatty():
        return None
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
    except OSError:
        return None  # getpass would fall back to echoing on stdin: never
    return _ask_on_terminal


def _ask_on_terminal(prompt: str) -> str | None:
    try:
        return getpass.getpass(prompt)  # reads /dev/tty with echo off, restores it
    except EOFError:  # Ctrl-D: no answer, as ssh takes it
        return None
    except (OSError, termios.error):  # the terminal went away meanwhile: nobody to ask
        return None
    except KeyboardInterrupt:
        # getpass has restored the echo; end the prompt's line so that whatever the
        # CLI prints next starts on a line of its own.
        with contextlib.suppress(OSError), open("/dev/tty", "w") as tty:
            tty.write("\n")
        raise


class KeyAuthFailure(paramiko.AuthenticationException):
    """No key was accepted. Its `str` is the reason the host shows: the keys that
    could not be used and why, then what was offered and refused.

    Not an `AuthFailure` (whose `str` is paramiko's list of attempts), though it
    carries the same `result`: what catches `AuthenticationException` and shows its
    `str` shows this reason.
    """

    def __init__(self, result: AuthResult, reasons: Iterable[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__(str(self))
        self.result = result

    def __str__(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class _KeyFile:
    """One identity file as read (once) from disk."""

    path: str
    key: paramiko.PKey | None = None
    """The private key, ready to sign: not encrypted, or decrypted by `unlock`."""
    public: bytes | None = None
    """Its public key blob, to find the agent's copy (None: unknown)."""
    missing: bool = False
    """No such file: expected of a default key, a problem for a configured one."""
    problem: str | None = None
    """Why the file cannot be used on its own, said as the host's reason."""
    locked: bytes | None = None
    """The file's bytes while it is encrypted and waits for its passphrase."""


def _headless(path: str) -> str:
    return (
        f"key {path} is encrypted and not in ssh-agent: add it with ssh-add, "
        "or run jobtui on a terminal to be asked its passphrase"
    )


class KeyRing:
    """Keys read once for every connection of a console: identity files, decrypted or
    not; the agent is asked by each connection for its own keys (an agent connection
    is one conversation at a time, so each connection opens its own)."""

    def __init__(self, ask: Ask | None = None) -> None:
        """`ask`: how `unlock` asks a passphrase (`terminal_asker()`); None: headless,
        encrypted keys that the agent does not hold are skipped."""
        self._ask = ask
        self._lock = threading.Lock()
        self._files: dict[str, _KeyFile] = {}

    def key_file(self, path: str) -> paramiko.PKey | None:
        """The key in `path`, or None when it is missing, locked or cannot be used."""
        return self._file(path).key

    def strategy(self, endpoint: Endpoint) -> AuthStrategy:
        """What `SSHClient.connect(auth_strategy=...)` tries for `endpoint`."""
        return _Strategy(self, endpoint)

    def unlock(self, endpoints: Iterable[Endpoint]) -> None:
        """Ask the passphrase of every encrypted key file that `endpoints` and their jump
        hosts would use and that the agent does not hold: once per file, up to
        `PASSPHRASE_TRIES` tries. An empty answer or None skips the key (as ssh takes
        an empty passphrase). Without `ask`, nothing is asked.

        Call it once, before anything else uses the terminal. Ctrl-C at a prompt
        raises KeyboardInterrupt out of here, the terminal restored; keys decrypted
        before it stay decrypted.
        """
        if self._ask is None:
            return
        paths: dict[str, None] = {}  # ordered, unique: the order ssh would ask in
        for endpoint in endpoints:
            if endpoint.problem:
                continue  # unreachable whatever the keys
            for hop in (*endpoint.chain(), endpoint):
                paths.update(dict.fromkeys(_identity_paths(hop)))
        locked = [f for f in map(self._file, paths) if f.locked is not None]
        if not locked:
            return
        held = {key.blob for key in _agent_keys_once()}
        for keyfile in locked:
            if keyfile.public is None or keyfile.public not in held:
                self._ask_passphrase(keyfile, self._ask)

    def _ask_passphrase(self, keyfile: _KeyFile, ask: Ask) -> None:
        prompt = f"Enter passphrase for key '{keyfile.path}': "
        for _ in range(PASSPHRASE_TRIES):
            data = keyfile.locked
            if data is None:
                return
            passphrase = ask(prompt)
            if not passphrase:
                with self._lock:
                    keyfile.problem = (
                        f"key {keyfile.path} is encrypted and not in ssh-agent, and its "
                        "passphrase was not given: add it with ssh-add"
                    )
                return
            try:
                key = _load(data, passphrase.encode())
            except ValueError:  # cryptography's word for a wrong passphrase
                key = None
            except _Unusable as e:
                with self._lock:
                    keyfile.problem, keyfile.locked = f"key {keyfile.path}: {e}", None
                return
            finally:
                del passphrase
            if key is not None:
                with self._lock:
                    keyfile.key, keyfile.public = key, key.asbytes()
                    keyfile.problem = keyfile.locked = None
                return
            prompt = f"Bad passphrase, try again for key '{keyfile.path}': "
        with self._lock:
            keyfile.problem = (
                f"key {keyfile.path} is encrypted and not in ssh-agent, and the "
                f"{PASSPHRASE_TRIES} passphrases given for it were wrong"
            )

    def _file(self, path: str) -> _KeyFile:
        # One lock for the whole read: two connections asking for the same file at
        # once must not read it twice, and reading one (no key derivation) is quick.
        with self._lock:
            found = self._files.get(path)
            if found is None:
                found = self._files[path] = _read_key_file(path)
            return found

    def _files_of(self, endpoint: Endpoint) -> list[_KeyFile]:
        """The endpoint's identity files, read; a missing default key is left out
        (unless its .pub names a key the agent may hold)."""
        files = [self._file(p) for p in _identity_paths(endpoint)]
        return [f for f in files if endpoint.key_files or not f.missing or f.public]


def _identity_paths(endpoint: Endpoint) -> list[str]:
    paths = endpoint.key_files or DEFAULT_KEYS
    return list(dict.fromkeys(os.path.expanduser(p) for p in paths))


class _Unusable(Exception):
    """A key file that no passphrase would make usable (its type, its format)."""


def _read(path: str) -> bytes:
    """A key file's bytes (one place, so a test can count the reads)."""
    with open(path, "rb") as f:
        return f.read()


def _read_key_file(path: str) -> _KeyFile:
    # A file that cannot sign may still name a key the agent holds (as ssh, which
    # looks for its public key in it, then in FILE.pub): hence `public` below.
    try:
        data = _read(path)
    except FileNotFoundError:
        public = _pub_file_blob(path)
        return _KeyFile(path, public=public, missing=True, problem=f"key {path}: no such file")
    except OSError as e:
        return _KeyFile(path, problem=f"key {path} cannot be read: {e.strerror or e}")
    try:
        key = _load(data, None)
    except TypeError:  # cryptography's word for "encrypted, and no passphrase given"
        public = _openssh_public_blob(data) or _pub_file_blob(path)
        return _KeyFile(path, public=public, problem=_headless(path), locked=data)
    except _Unusable as e:
        public = _openssh_public_blob(data) or _pub_file_blob(path)
        return _KeyFile(path, public=public, problem=f"key {path} cannot be used: {e}")
    except ValueError:
        public = _public_line_blob(data.decode("ascii", "replace"))
        if public is not None:  # `IdentityFile key.pub`, its private key in the agent
            problem = f"key {path} is a public key, and ssh-agent does not hold its private key"
            return _KeyFile(path, public=public, problem=problem)
        return _KeyFile(path, problem=f"key {path} cannot be used: not a private key file")
    return _KeyFile(path, key=key, public=key.asbytes())


def _load(data: bytes, passphrase: bytes | None) -> paramiko.PKey:
    """The private key in `data` as paramiko signs with it.

    Raises TypeError when it is encrypted and no passphrase is given, ValueError when
    the passphrase is wrong or `data` is no key, `_Unusable` for a key paramiko
    cannot use. (cryptography reads every format ssh-keygen writes, PKCS#8 included,
    where paramiko's own readers do not.)
    """
    loaded: PrivateKeyTypes
    try:
        if _OPENSSH_BEGIN.encode() in data:
            loaded = serialization.load_ssh_private_key(data, passphrase)
        else:
            loaded = serialization.load_pem_private_key(data, passphrase)
    except UnsupportedAlgorithm as e:
        raise _Unusable(f"{e}; paramiko signs with RSA, ECDSA and Ed25519 keys") from None
    if isinstance(loaded, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=loaded)
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey(vals=(loaded, loaded.public_key()))
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        # paramiko builds an Ed25519 key only from OpenSSH's format: give it that,
        # unencrypted, in memory (it holds the same secret once loaded anyway).
        text = loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ).decode("ascii")
        return paramiko.Ed25519Key(file_obj=io.StringIO(text))
    kind = type(loaded).__name__.removeprefix("_").removesuffix("PrivateKey") or "this"
    raise _Unusable(f"{kind} keys are not supported (paramiko signs with RSA, ECDSA, Ed25519)")


def _openssh_public_blob(data: bytes) -> bytes | None:
    """The public key that an OpenSSH-format private key file keeps in clear."""
    text = data.decode("ascii", "replace")
    if _OPENSSH_BEGIN not in text:
        return None
    body = text.split(_OPENSSH_BEGIN, 1)[1].split(_OPENSSH_END, 1)[0]
    try:
        raw = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_OPENSSH_MAGIC):
        return None
    pos = len(_OPENSSH_MAGIC)
    # cipher name, kdf name, kdf options, then a uint32 count, then the public key.
    for _ in range(3):
        field, pos = _ssh_string(raw, pos)
        if field is None:
            return None
    if int.from_bytes(raw[pos : pos + 4], "big") < 1:
        return None
    public, _ = _ssh_string(raw, pos + 4)
    return public


def _ssh_string(raw: bytes, pos: int) -> tuple[bytes | None, int]:
    if pos + 4 > len(raw):
        return None, pos
    end = pos + 4 + int.from_bytes(raw[pos : pos + 4], "big")
    return (raw[pos + 4 : end], end) if end <= len(raw) else (None, pos)


def _pub_file_blob(path: str) -> bytes | None:
    """The public key in `path`.pub, if there is one."""
    try:
        with open(f"{path}.pub", encoding="ascii", errors="replace") as f:
            return _public_line_blob(f.read())
    except OSError:
        return None  # then the agent's copy cannot be recognised: ask, as ssh would


def _public_line_blob(text: str) -> bytes | None:
    """The key blob of a public key line (`type base64 comment`), if `text` is one."""
    fields = text.split()
    if len(fields) < 2:
        return None
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    # The blob starts with its own type name: a check that this is a key at all.
    kind, _ = _ssh_string(blob, 0)
    return blob if kind == fields[0].encode() else None


def _open_agent() -> paramiko.Agent | None:
    if not os.environ.get("SSH_AUTH_SOCK"):
        return None
    try:
        return paramiko.Agent()  # no agent answering there: an agent with no key
    except (paramiko.SSHException, OSError):
        return None  # a broken agent offers nothing; the failure says what it holds


def _agent_keys_once() -> list[paramiko.AgentKey]:
    agent = _open_agent()
    if agent is None:
        return []
    try:
        return list(agent.get_keys())
    finally:
        agent.close()


def _agent_state(held: int) -> str:
    """What the agent offered, for a failure that offered nothing."""
    sock = os.environ.get("SSH_AUTH_SOCK")
    if not sock:
        return "no ssh-agent (SSH_AUTH_SOCK is not set)"
    if held:
        return f"ssh-agent holds {held} other key(s)"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(sock)
    except OSError as e:
        return f"no ssh-agent answers at {sock} ({e.strerror or e})"
    return "ssh-agent holds no key"


def local_user() -> str:
    """The login `ssh` uses when none is set: the local user's (by uid, as ssh)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return getpass.getuser()


class _Strategy(AuthStrategy):
    """One connection's keys; its failure says why each unusable key was not offered."""

    def __init__(self, ring: KeyRing, endpoint: Endpoint) -> None:
        super().__init__(ssh_config=paramiko.SSHConfig())
        self.ring = ring
        self.endpoint = endpoint
        self.user = endpoint.user or local_user()
        self._agent: paramiko.Agent | None = None
        self._labels: dict[int, str] = {}
        """id(source) -> how the failure names it."""
        self._problems: list[str] = []
        self._agent_held = 0

    def authenticate(self, transport: paramiko.Transport) -> list[SourceResult]:
        try:
            return super().authenticate(transport)
        except AuthFailure as e:
            raise KeyAuthFailure(e.result, self._reasons(e.result)) from e
        finally:
            if self._agent is not None:
                self._agent.close()  # signing is over: each connection had its own

    def get_sources(self) -> Iterator[AuthSource]:
        files = self.ring._files_of(self.endpoint)
        self._agent = _open_agent()
        agent_keys = list(self._agent.get_keys()) if self._agent is not None else []
        self._agent_held = len(agent_keys)
        configured = {f.public: f for f in files if f.public is not None}
        offered: set[bytes] = set()
        # The agent's copies of the identity files, in the agent's order (as ssh does).
        for key in agent_keys:
            if key.blob in configured and key.blob not in offered:
                offered.add(key.blob)
                yield self._source(key, f"{configured[key.blob].path} (through ssh-agent)")
        if not self.endpoint.identities_only:
            for key in agent_keys:
                if key.blob not in offered:
                    offered.add(key.blob)
                    comment = f" ({key.comment})" if key.comment else ""
                    yield self._source(key, f"ssh-agent key {key.fingerprint}{comment}")
        for f in files:  # then the files, as ssh tries those the agent does not hold
            if f.public is not None and f.public in offered:
                continue
            if f.key is not None:
                offered.add(f.key.asbytes())
                yield self._source(f.key, f.path)
            elif f.problem and not (f.missing and not self.endpoint.key_files):
                self._problems.append(f.problem)  # a missing default key is no problem

    def _source(self, key: paramiko.PKey, label: str) -> AuthSource:
        source = InMemoryPrivateKey(self.user, key)
        self._labels[id(source)] = label
        return source

    def _reasons(self, result: AuthResult) -> list[str]:
        refused = []
        for source, outcome in result:
            label = self._labels.get(id(source), repr(source))
            # paramiko's plain "Authentication failed." is the server's no; anything
            # else (a timeout, the connection dropped, the agent failed to sign) is
            # worth its words.
            plain = str(outcome) == "Authentication failed."
            refused.append(label if plain else f"{label} ({str(outcome).rstrip('.')})")
        reasons = list(self._problems)
        if refused:
            reasons.append("the server refused " + ", ".join(refused))
        elif not reasons:
            looked = ", ".join(self.endpoint.key_files or DEFAULT_KEYS)
            only = " (IdentitiesOnly)" if self.endpoint.identities_only else ""
            agent = _agent_state(self._agent_held)
            reasons.append(f"no key to offer{only}: {agent}; no key file in {looked}")
        return reasons
