"""OpenSSH's own answer for an ssh_config: what `ssh -G` (and `ssh -v`) resolve.

`ssh -G -F FILE NAME` prints the settings `ssh` would use, without connecting. It
prints `IdentityFile` and `ProxyCommand` before token expansion, so the expanded ones
are read from `ssh -v` with a ProxyCommand that ends at once (`true`, or the config's
own, which the tests keep to harmless `echo`s): no network, no login.
`HOME` is a temp dir for every run (ssh reads no `~/.ssh/config` with `-F` anyway).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass

from jobtui import defaults
from jobtui.model import Endpoint

SSH = shutil.which("ssh")
DEFAULT_IDS = tuple(
    f"~/.ssh/id_{t}" for t in ("rsa", "ecdsa", "ecdsa_sk", "ed25519", "ed25519_sk", "xmss", "dsa")
)
"""What `ssh -G` lists when no IdentityFile is configured."""
HOME = pwd.getpwuid(os.geteuid()).pw_dir
"""Where ssh expands `~` (the passwd entry, not $HOME)."""
USER = pwd.getpwuid(os.geteuid()).pw_name


class JumpLoop(Exception):
    """ssh refuses the name: its jump host is itself."""


@dataclass(frozen=True)
class Resolved:
    """One host as OpenSSH resolves it, in Endpoint's terms."""

    address: str
    port: int
    user: str
    key_files: tuple[str, ...]
    identities_only: bool
    known_hosts: tuple[str, ...]
    accept_new: bool
    connect_timeout: float
    keepalive: float
    proxy_command: str | None
    proxy_jump: str | None


def _run(args: list[str], home: str) -> subprocess.CompletedProcess[str]:
    assert SSH is not None
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home}
    return subprocess.run(
        [SSH, *args], capture_output=True, text=True, env=env, timeout=30, check=False
    )


def ssh_g(config: str, name: str, home: str, extra: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """`ssh -G -F config [extra] name`: keyword -> values (in order)."""
    done = _run(["-G", "-F", config, *extra, name], home)
    if "jumphost loop" in done.stderr:
        raise JumpLoop(done.stderr.strip())
    assert done.returncode == 0, done.stderr
    out: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    return out


def resolve(config: str, name: str, home: str, extra: tuple[str, ...] = ()) -> Resolved:
    """What OpenSSH makes of `name` under `config` (and command-line `extra` options)."""
    g = ssh_g(config, name, home, extra)
    one = {k: v[0] for k, v in g.items()}
    proxy = one.get("proxycommand")
    jump = one.get("proxyjump")
    files: tuple[str, ...] = ()
    command: str | None = None
    if tuple(g.get("identityfile", ())) != DEFAULT_IDS or proxy is not None:
        # Only ssh -v shows them expanded; `true` stands in for any jump host.
        # Key files do not depend on the way there: drop the command line's own.
        more = extra if proxy is not None else ("-o", "ProxyCommand=true", *_without_proxy(extra))
        # -v last: it wins over a -q of the command line.
        done = _run(["-F", config, *more, "-o", "BatchMode=yes", "-v", name], home)
        seen: list[str] = []
        for line in done.stderr.splitlines():
            if line.startswith("debug1: identity file "):
                path = line.removeprefix("debug1: identity file ").rsplit(" type ", 1)[0]
                if not (path.endswith("-cert") and seen and seen[-1] + "-cert" == path):
                    seen.append(path)
            elif proxy is not None and line.startswith("debug1: Executing proxy command: exec "):
                command = line.removeprefix("debug1: Executing proxy command: exec ")
        if tuple(g.get("identityfile", ())) != DEFAULT_IDS:
            files = tuple(seen)
    timeout = one.get("connecttimeout", "none")
    return Resolved(
        address=one["hostname"],
        port=int(one["port"]),
        user=one["user"],
        key_files=files,
        identities_only=one.get("identitiesonly") == "yes",
        known_hosts=tuple(one["userknownhostsfile"].split()),
        accept_new=one.get("stricthostkeychecking") == "accept-new",
        connect_timeout=defaults.CONNECT_TIMEOUT if timeout == "none" else float(timeout),
        keepalive=float(one.get("serveraliveinterval", "0")),
        proxy_command=command,
        proxy_jump=jump if jump != "none" else None,
    )


def _without_proxy(args: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "-J":
            skip = True
            continue
        if arg == "-o" and i + 1 < len(args) and args[i + 1].lower().startswith("proxy"):
            skip = True
            continue
        out.append(arg)
    return out


def as_resolved(endpoint: Endpoint) -> Resolved:
    """An endpoint in the oracle's terms (ssh's 0, no keepalive, is jobtui's default)."""
    return Resolved(
        address=endpoint.address,
        port=endpoint.port,
        user=endpoint.user,
        key_files=endpoint.key_files,
        identities_only=endpoint.identities_only,
        known_hosts=endpoint.known_hosts,
        accept_new=endpoint.accept_new,
        connect_timeout=endpoint.connect_timeout,
        keepalive=0.0 if endpoint.keepalive == defaults.KEEPALIVE else endpoint.keepalive,
        proxy_command=endpoint.proxy_command,
        proxy_jump=None,
    )


def split_hop(spec: str) -> tuple[str, tuple[str, ...]]:
    """A ProxyJump hop as ssh's command line options: (host, ("-l", user, "-p", port))."""
    spec = spec.removeprefix("ssh://")
    extra: list[str] = []
    if "@" in spec:
        user, _, spec = spec.rpartition("@")
        extra += ["-l", user]
    if ":" in spec:
        spec, _, port = spec.partition(":")
        extra += ["-p", port]
    return spec, tuple(extra)


def compare(
    endpoint: Endpoint,
    config: str,
    name: str,
    home: str,
    extra: tuple[str, ...] = (),
    depth: int = 0,
) -> list[str]:
    """The differences between jobtui's endpoint for `name` and OpenSSH's, jump hops
    included (each compared with `ssh -G` of the hop, as the spec names it)."""
    ours = as_resolved(endpoint)
    try:
        theirs = resolve(config, name, home, extra)
    except JumpLoop as e:
        if endpoint.problem and "loops" in endpoint.problem:
            return []
        return [f"{name} {' '.join(extra)}: ssh says {e}, jobtui {endpoint!r}"]
    diffs: list[str] = []
    fields = ours.__dataclass_fields__
    for f in fields:
        if f == "proxy_jump":
            continue
        a, b = getattr(ours, f), getattr(theirs, f)
        if f == "keepalive" and b == 0.0 and a in (0.0, float(defaults.KEEPALIVE)):
            continue
        if a != b:
            diffs.append(f"{name} {' '.join(extra)}: {f}: jobtui {a!r}, ssh {b!r}")
    if endpoint.problem and "loops" in endpoint.problem:
        return diffs  # ssh would spawn itself forever: nothing to compare the way with
    jump = theirs.proxy_jump
    if (jump is None) != (endpoint.via is None):
        diffs.append(f"{name}: via: jobtui {endpoint.via!r}, ssh proxyjump {jump!r}")
        return diffs
    if jump is None or endpoint.via is None or depth > 4:
        return diffs
    hops = jump.split(",")
    ours_chain = endpoint.chain()
    if len(ours_chain) < len(hops):
        return [*diffs, f"{name}: jobtui chain {ours_chain!r} for {jump!r}"]
    # The spec's hops are the last ones of the chain; the first may go on further.
    mine = ours_chain[len(ours_chain) - len(hops) :]
    for i, (hop, spec) in enumerate(zip(mine, hops, strict=True)):
        host, opts = split_hop(spec)
        if hop.name != host:
            diffs.append(f"{name}: hop {i}: jobtui {hop.name!r}, spec {spec!r}")
            continue
        before = ("-J", ",".join(hops[:i])) if i else ()
        diffs += compare(hop, config, host, home, (*opts, *before), depth + 1)
    return diffs
