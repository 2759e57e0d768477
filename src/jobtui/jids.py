"""Jids: how runs are named on their hosts. Random and unguessable (or, for a
retry, derived under a secret of the batch), never starting with `-`, and checked
against `JID_RE` (jobtui's) or `ANSIBLE_JID_RE` (Ansible's own async jobs) before
they reach a path or a shell. `jobtui.model` re-exports every name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobtui.model import RunKey

JID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}\Z")
"""Every jid is checked against this before it reaches a path or a shell."""

ANSIBLE_JID_RE = re.compile(r"^j?[0-9]{1,15}\.[0-9]{1,10}\Z")
"""The jid of a job Ansible launched with `async` (`j123456789012.4242`; older
Ansible: no `j`), valid wherever a jid is taken."""


def is_ansible_jid(jid: str) -> bool:
    return isinstance(jid, str) and ANSIBLE_JID_RE.match(jid) is not None


def check_any_jid(jid: str) -> str:
    """`jid` unchanged if it is jobtui's (`JID_RE`) or Ansible's (`ANSIBLE_JID_RE`),
    else `InvalidJid`."""
    if is_ansible_jid(jid):
        return jid
    try:
        return check_jid(jid)
    except InvalidJid as e:
        raise InvalidJid(f"{e}, or an Ansible job id such as j123456789012.4242") from None


class InvalidJid(ValueError):
    """A jid that does not match `JID_RE`."""


def check_jid(jid: str) -> str:
    """Return `jid` unchanged if it is well formed, else raise `InvalidJid`."""
    if not isinstance(jid, str) or not JID_RE.match(jid):
        shown = repr(jid) if len(str(jid)) <= 40 else repr(str(jid)[:40]) + "..."
        raise InvalidJid(f"invalid jid {shown}: expected 8-64 characters from [A-Za-z0-9_-]")
    return jid


def new_jid() -> str:
    """A random, unguessable jid (128 bits, URL-safe base64: 22 characters), never
    starting with `-` (a command line would take it for an option)."""
    while True:
        jid = secrets.token_urlsafe(16)
        if not jid.startswith("-"):
            return jid


def attempt_jid(secret: bytes, key: RunKey, attempt: int) -> str:
    """The jid of one attempt of a run, derived under a secret of its batch.

    Two consoles that follow one batch (a race, or one the lock did not stop) name
    an attempt alike, so the host's `mkdir` of its job directory starts it once;
    nobody without the secret can guess it. 128 bits, never starting with `-`.
    """
    message = f"{key.job}\0{key.host}\0{key.item_index}\0{attempt}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:16]
    jid = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
    return "_" + jid[1:] if jid.startswith("-") else jid
