"""Differential: the endpoint jobtui resolves from an ssh_config equals what OpenSSH's
own `ssh -G` (and `ssh -v`, for expanded key files and proxy commands) resolves, for a
corpus of configs (tests/sshconfigs/) and for generated ones. Jump hops are compared
too, each with `ssh -G` of the hop as the ProxyJump spec names it."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobtui.config.route import resolve_routes
from jobtui.model import Host
from tests import ssh_oracle

pytestmark = pytest.mark.skipif(ssh_oracle.SSH is None, reason="no OpenSSH client")

CORPUS = Path(__file__).parent / "sshconfigs"


def _names(text: str) -> list[str]:
    first = text.splitlines()[0]
    assert first.startswith("# names: "), "a corpus file names its hosts on line 1"
    return first.removeprefix("# names: ").split()


def _differences(config: str, names: list[str], home: str) -> list[str]:
    routes = resolve_routes(
        [Host(n, n) for n in names], ssh_config=config, local_user=ssh_oracle.USER
    )
    diffs: list[str] = []
    for n in names:
        endpoint = routes.hosts[n].endpoint
        diffs += ssh_oracle.compare(endpoint, config, n, home)
    return diffs


@pytest.fixture
def as_ssh_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """jobtui expands `~` with $HOME, ssh with the passwd entry: make them one. The
    ssh runs get an empty HOME of their own (returned)."""
    monkeypatch.setenv("HOME", ssh_oracle.HOME)
    home = tmp_path / "home"
    home.mkdir()
    return str(home)


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.conf")))
def test_corpus_config_resolves_as_openssh_does(name: str, tmp_path: Path, as_ssh_home: str):
    text = (CORPUS / name).read_text().replace("@DIR@", str(CORPUS))
    config = tmp_path / name
    config.write_text(text)
    assert _differences(str(config), _names(text), as_ssh_home) == []


# -- generated configs -------------------------------------------------------------------

NAMES = ["web1", "WEB1", "web2", "db1", "bastion", "jump", "a.example.com", "x"]
PATTERNS = [
    "web*",
    "web?",
    "WEB*",
    "db1",
    "*",
    "bastion",
    "jump",
    "*.example.com",
    "x",
    "!web2",
    "!db*",
    "a*",
]
OPTIONS = {
    "HostName": ["%h.example.org", "real-%h", "fixed.example.net", "%h"],
    "Port": ["22", "2222", "2200"],
    "User": ["alice", "bob"],
    "IdentityFile": ["~/.ssh/k1", "~/k_%h_%r_%p", "/keys/%u/%n", "%d/k_%C"],
    "IdentitiesOnly": ["yes", "no"],
    "ProxyJump": ["bastion", "u@jump:2201", "jump,bastion", "none", "ssh://v@bastion"],
    "ProxyCommand": ["echo %h %p %r", "none"],
    "ConnectTimeout": ["5", "1m"],
    "ServerAliveInterval": ["30", "2m"],
    "UserKnownHostsFile": ["~/kh1 ~/kh_%h", "/tmp/kh_%r"],
    "StrictHostKeyChecking": ["accept-new", "yes", "ask"],
}


@st.composite
def configs(draw: st.DrawFn) -> str:
    """Host/Match blocks of options; maybe top-level options and an `Include` of
    another such config (`@INC@`, written beside it) at the top."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines.append("Include @INC@")
    for key in draw(st.lists(st.sampled_from(sorted(OPTIONS)), max_size=2)):
        lines.append(f"{key} {draw(st.sampled_from(OPTIONS[key]))}")
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(
            st.sampled_from(["host", "host", "match-host", "match-orig", "match-all", "match-user"])
        )
        pats = draw(st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True))
        if kind == "host":
            lines.append("Host " + " ".join(pats))
        elif kind == "match-all":
            lines.append("Match all")
        elif kind == "match-user":
            users = draw(st.lists(st.sampled_from(["alice", "bob", "!bob", ssh_oracle.USER])))
            lines.append("Match user " + ",".join(users or ["*"]))
        else:
            criterion = "host" if kind == "match-host" else "originalhost"
            lines.append(f"Match {criterion} " + ",".join(pats))
        keys = draw(st.lists(st.sampled_from(sorted(OPTIONS)), min_size=1, max_size=5))
        for key in keys:
            lines.append(f"    {key} {draw(st.sampled_from(OPTIONS[key]))}")
    return "\n".join(lines) + "\n"


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=configs(),
    inner=configs(),
    names=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
)
def test_generated_config_resolves_as_openssh_does(
    text: str, inner: str, names: list[str], tmp_path: Path, as_ssh_home: str
):
    config = tmp_path / "generated.conf"
    included = tmp_path / "included.conf"
    config.write_text(text.replace("@INC@", str(included)))
    included.write_text(inner.replace("Include @INC@", ""))
    assert _differences(str(config), names, as_ssh_home) == [], (text, inner)
