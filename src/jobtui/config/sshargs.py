"""Ansible's SSH arguments (`ssh_args`, `ansible_ssh_common_args`, `..._extra_args`),
read as the `ssh` command line they are.

Split with `shlex`, as Ansible's ssh plugin splits them, then read as `ssh`'s getopt
would: `-o Key=value` (or `-o Key value`, `-oKey=value`, keys without case), `-J`,
`-p`, `-l`, `-i`, `-F`, and bundled flags (`-Cq`). The options that decide how a host
is reached become `Option`s; flags and options that change nothing jobtui does are
dropped quietly; anything else is returned as not understood, for a warning.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from jobtui.config.sshvalues import REST_OF_LINE, SINGLE, split_args

UNDERSTOOD = frozenset(
    {
        "hostname",
        "port",
        "user",
        "identityfile",
        "identitiesonly",
        "proxyjump",
        "proxycommand",
        "connecttimeout",
        "serveraliveinterval",
        "userknownhostsfile",
        "stricthostkeychecking",
        "forwardagent",
        "hostkeyalias",
    }
)
"""`-o` keys read (route.py warns about `ForwardAgent yes` and `HostKeyAlias`)."""
HARMLESS = frozenset(
    {
        # Connection sharing and logging of the ssh binary: jobtui keeps its own
        # connection per host, and Ansible's default ssh_args set these.
        "controlmaster",
        "controlpersist",
        "controlpath",
        "compression",
        "loglevel",
        "serveralivecountmax",
        # Authentication: jobtui only does public keys (agent, files), never asks.
        "preferredauthentications",
        "kbdinteractiveauthentication",
        "challengeresponseauthentication",
        "passwordauthentication",
        "pubkeyauthentication",
        "gssapiauthentication",
        "batchmode",
        "tcpkeepalive",
        "hashknownhosts",
        "checkhostip",
        "visualhostkey",
    }
)
"""`-o` keys that change nothing jobtui does: no warning."""
QUIET_FLAGS = frozenset("Cqvx" + "Tnak")
"""Compression, quiet, verbose, no X11/agent forwarding, no tty, stdin: no effect here."""
WITH_ARGUMENT = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
"""ssh's options that take an argument (`ssh -h`)."""
_FLAG_KEYS = {"p": "port", "l": "user", "i": "identityfile", "J": "proxyjump"}


@dataclass(frozen=True)
class Option:
    """One setting given on the command line, as ssh_config names it."""

    key: str
    """Lower case (`proxyjump`)."""
    value: str
    text: str
    """As written, for messages (`-o ProxyJump=bastion`)."""


@dataclass(frozen=True)
class SshArgs:
    options: tuple[Option, ...] = ()
    config_file: str | None = None
    """`-F FILE`: the ssh_config of these hosts (the last `-F` wins, as in ssh)."""
    ignored: tuple[str, ...] = ()
    """What jobtui does not understand, as written (`-o Foo=bar`)."""


class BadArgs(ValueError):
    """Arguments that cannot be split or read (unbalanced quotes, `-o` without value)."""


def parse(text: str) -> SshArgs:
    """The options of one SSH argument string (BadArgs if it cannot be read)."""
    try:
        words = [w.strip() for w in shlex.split(text) if w.strip()]  # as Ansible splits
    except ValueError as e:
        raise BadArgs(f"cannot split {text!r}: {e}") from None
    options: list[Option] = []
    ignored: list[str] = []
    config_file: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word == "-":
            ignored.append(word)
            continue
        j = 1
        while j < len(word):
            flag = word[j]
            j += 1
            if flag not in WITH_ARGUMENT:
                if flag == "A":
                    options.append(Option("forwardagent", "yes", "-A"))
                elif flag not in QUIET_FLAGS:
                    ignored.append(f"-{flag}")
                continue
            if j < len(word):
                arg, shown = word[j:], f"-{flag}{word[j:]}"
            elif i < len(words):
                arg, shown = words[i], f"-{flag} {words[i]}"
                i += 1
            else:
                raise BadArgs(f"-{flag} needs a value")
            if flag == "o":
                option = _option(arg, shown)
                if option is None:
                    ignored.append(shown)
                elif option.key not in HARMLESS:
                    options.append(option)
            elif flag == "F":
                config_file = arg
            elif flag in _FLAG_KEYS:
                options.append(Option(_FLAG_KEYS[flag], arg, shown))
            else:
                ignored.append(shown)
            break
    return SshArgs(tuple(options), config_file, tuple(ignored))


def _option(arg: str, shown: str) -> Option | None:
    """`Key=value` / `Key value` of `-o`, as a config line (None: not understood)."""
    key, sep, value = arg.partition("=")
    if not sep or " " in key.strip():
        key, _, value = arg.strip().partition(" ")
    key = key.strip().lower()
    value = value.strip()
    if key in HARMLESS:
        return Option(key, value, shown)
    if key not in UNDERSTOOD:
        return None
    if not value:
        raise BadArgs(f"{shown} has no value")
    if key not in REST_OF_LINE:
        words = split_args(value)
        if words is None or not words:
            raise BadArgs(f"cannot read {shown}: unbalanced quotes")
        if key in SINGLE and len(words) > 1:
            raise BadArgs(f"{shown} takes one value")
        value = words[0] if key in SINGLE else value
    return Option(key, value, shown)
