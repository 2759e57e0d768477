"""resolve_routes: Ansible's SSH args and inventory vars before ssh_config (checked
against `ssh -G` given the command line Ansible would build), warnings said once,
loops as a host's problem, bad input as a ConfigError naming file:line."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path
from typing import Any

import pytest

from jobtui.config.ansiblecfg import read_config
from jobtui.config.errors import ConfigError
from jobtui.config.route import parse_jump, resolve_routes
from jobtui.model import Endpoint, Host
from tests import ssh_oracle

needs_ssh = pytest.mark.skipif(ssh_oracle.SSH is None, reason="no OpenSSH client")

CONFIG = """\
Host bastion
    HostName bastion.example.com
    User jumper
    Port 2022
    ProxyJump none

Host web*
    User config-user
    Port 2200
    IdentityFile ~/.ssh/config_key
    ConnectTimeout 33

Match user inv-user,common-user
    IdentityFile ~/.ssh/for_%r

Host *
    ServerAliveInterval 20
"""


def host(name: str, **vars: Any) -> Host:
    """A host as the inventory loader makes it from these vars."""
    return Host(
        name=name,
        address=str(vars.get("ansible_host", name)),
        port=int(vars.get("ansible_port", 22)),
        user=vars.get("ansible_user"),
        key_file=vars.get("ansible_ssh_private_key_file"),
        connect_timeout=float(vars.get("ansible_ssh_timeout", vars.get("ansible_timeout", 10))),
        vars=vars,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $HOME, so no real ~/.ssh/config is read."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def config(tmp_path: Path, home: Path) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    return str(path)


def one(h: Host, **kw: Any) -> Endpoint:
    routes = resolve_routes([h], **kw)
    ssh = routes.hosts[h.name].ssh
    assert ssh is not None
    return ssh


def ansible_command_line(h: Host, ssh_args: str | None) -> tuple[str, ...]:
    """The options Ansible's ssh plugin puts before the host, in its order
    (ansible/plugins/connection/ssh.py, _build_command)."""
    args: list[str] = shlex.split(ssh_args) if ssh_args else []
    if "ansible_port" in h.vars:
        args += ["-o", f"Port={h.port}"]
    if h.key_file:
        args += ["-o", f"IdentityFile={h.key_file}"]
    if h.user:
        args += ["-o", f"User={h.user}"]
    if "ansible_ssh_timeout" in h.vars or "ansible_timeout" in h.vars:
        args += ["-o", f"ConnectTimeout={int(h.connect_timeout)}"]
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        if var in h.vars:
            args += shlex.split(h.vars[var])
    return tuple(args)


PRECEDENCE_CASES = [
    host("web1"),
    host("web1", ansible_user="inv-user", ansible_port=2999),
    host("web1", ansible_ssh_private_key_file="/keys/inv_key", ansible_ssh_timeout=5),
    host("web1", ansible_user="inv-user", ansible_ssh_common_args="-o User=common-user -p 1111"),
    host("web1", ansible_ssh_common_args="-l common -i /keys/c", ansible_ssh_extra_args="-l extra"),
    host("web1", ansible_ssh_extra_args="-o Port=4444 -o IdentityFile=/keys/extra"),
    host("web2", ansible_ssh_common_args="-J bastion"),
    host("web3", ansible_ssh_common_args="-o ProxyJump=someone@bastion:2023"),
    host("web4", ansible_ssh_common_args='-o ProxyCommand="echo %h %p %r"'),
    host("web5", ansible_ssh_common_args="-o ProxyCommand=none -o ProxyJump=bastion"),
    host("alias", ansible_host="web6", ansible_ssh_common_args="-o HostName=real.example.com"),
    host(
        "web7", ansible_ssh_common_args="-oStrictHostKeyChecking=accept-new -o IdentitiesOnly=yes"
    ),
    host("web8", ansible_ssh_common_args="-o UserKnownHostsFile='/kh/one /kh/two'"),
    host("web9", ansible_ssh_common_args="-o 'User spaced' -oPort=1212 -Cq -o ConnectTimeout=1m"),
]


@needs_ssh
@pytest.mark.parametrize("ssh_args", [None, "-C -o ControlMaster=auto -o User=cfg-user"])
@pytest.mark.parametrize("case", PRECEDENCE_CASES, ids=lambda h: str(sorted(h.vars.items())))
def test_precedence_is_that_of_the_ssh_command_line_ansible_builds(
    case: Host, ssh_args: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOME", ssh_oracle.HOME)  # where ssh expands ~
    path = tmp_path / "ssh_config"
    path.write_text(CONFIG)
    endpoint = one(case, ssh_config=str(path), ssh_args=ssh_args, local_user=ssh_oracle.USER)
    extra = ansible_command_line(case, ssh_args)
    empty_home = tmp_path / "ssh-home"
    empty_home.mkdir()
    assert ssh_oracle.compare(endpoint, str(path), case.address, str(empty_home), extra) == []


def test_inventory_vars_win_over_ssh_config(config: str):
    endpoint = one(host("web1", ansible_user="inv", ansible_port=2999), ssh_config=config)
    assert (endpoint.user, endpoint.port) == ("inv", 2999)
    assert endpoint.origin["user"] == "inventory var ansible_user"
    assert endpoint.origin["port"] == "inventory var ansible_port"


def test_hosts_alike_but_for_their_port_get_each_their_own(config: str):
    hosts = [host(f"web{i}", ansible_port=3000 + i) for i in range(5)]
    routes = resolve_routes(hosts, ssh_config=config)
    assert [routes.hosts[f"web{i}"].endpoint.port for i in range(5)] == [3000 + i for i in range(5)]
    routes = resolve_routes(hosts, ssh_config=config, ssh_args="-p 2345")
    assert {h.endpoint.port for h in routes.hosts.values()} == {2345}


def test_unset_ansible_port_leaves_ssh_config_port(config: str):
    endpoint = one(host("web1"), ssh_config=config)
    assert endpoint.port == 2200
    assert endpoint.origin["port"] == f"ssh_config {config}:9"


def test_ssh_args_win_over_inventory_vars(config: str):
    endpoint = one(host("web1", ansible_user="inv"), ssh_config=config, ssh_args="-o User=cfg")
    assert endpoint.user == "cfg"
    assert endpoint.origin["user"] == "ansible.cfg ssh_args"


def test_key_files_accumulate_in_command_line_order(config: str, home: Path):
    h = host(
        "web1",
        ansible_ssh_private_key_file="/k/inv",
        ansible_ssh_common_args="-o IdentityFile=/k/common",
    )
    endpoint = one(h, ssh_config=config, ssh_args="-o IdentityFile=~/k/global")
    assert endpoint.key_files == (
        f"{home}/k/global",
        "/k/inv",
        "/k/common",
        f"{home}/.ssh/config_key",
    )


def test_a_dash_i_file_that_does_not_exist_is_dropped_as_ssh_drops_it(config: str, tmp_path: Path):
    key = tmp_path / "key"
    key.write_text("")
    h = host("web1", ansible_ssh_common_args=f"-i {key} -i /no/such/key")
    routes = resolve_routes([h], ssh_config=config)
    assert routes.hosts["web1"].endpoint.key_files[0] == str(key)
    assert "/no/such/key" not in routes.hosts["web1"].endpoint.key_files
    assert routes.warnings == (
        "ansible_ssh_common_args of web1: -i /no/such/key: no such file, not used (as ssh does)",
    )


def test_the_default_ssh_args_of_ansible_say_nothing(config: str):
    routes = resolve_routes(
        [host("web1")], ssh_config=config, ssh_args="-C -o ControlMaster=auto -o ControlPersist=60s"
    )
    assert routes.warnings == ()


def test_an_option_not_understood_is_named_once_for_many_hosts(config: str):
    hosts = [host(f"web{i}", ansible_ssh_common_args="-o Foo=bar -L 80:x:80") for i in range(37)]
    routes = resolve_routes(hosts, ssh_config=config)
    assert routes.warnings == (
        "ansible_ssh_common_args of 37 hosts (web0, web1, web2, ...):"
        " -o Foo=bar is not understood by jobtui and is ignored",
        "ansible_ssh_common_args of 37 hosts (web0, web1, web2, ...):"
        " -L 80:x:80 is not understood by jobtui and is ignored",
    )


def test_an_option_not_understood_on_one_host_names_it(config: str):
    routes = resolve_routes([host("web1", ansible_ssh_extra_args="-o Foo=bar")], ssh_config=config)
    assert routes.warnings == (
        "ansible_ssh_extra_args of web1: -o Foo=bar is not understood by jobtui and is ignored",
    )


def test_agent_forwarding_and_flags_jobtui_does_not_do_are_named(config: str):
    routes = resolve_routes(
        [host("web1", ansible_ssh_extra_args="-A -t -4 -qC")], ssh_config=config
    )
    assert routes.warnings == (
        "ansible_ssh_extra_args of web1: -t is not understood by jobtui and is ignored",
        "ansible_ssh_extra_args of web1: -4 is not understood by jobtui and is ignored",
        "ansible_ssh_extra_args of web1: -A: agent forwarding is not done",
    )


def test_host_key_checking_off_is_refused_with_a_warning(tmp_path: Path, home: Path):
    path = tmp_path / "cfg"
    path.write_text("Host web*\n  StrictHostKeyChecking no\n")
    routes = resolve_routes(
        [host("web1"), host("web2", ansible_ssh_common_args="-o StrictHostKeyChecking=off")],
        ssh_config=str(path),
    )
    assert routes.warnings == (
        f"ssh_config {path}:2 (Host web*): StrictHostKeyChecking no: jobtui does not switch"
        " host key checking off: unknown keys are still refused (--accept-new-host-keys"
        " records them)",
        "ansible_ssh_common_args of web2: -o StrictHostKeyChecking=off: jobtui does not"
        " switch host key checking off: unknown keys are still refused"
        " (--accept-new-host-keys records them)",
    )
    assert all(not h.endpoint.accept_new for h in routes.hosts.values())


def test_hosts_behind_one_bastion_get_equal_jump_endpoints(config: str):
    routes = resolve_routes(
        [host("web1", ansible_ssh_common_args="-J bastion"), host("db1", ansible_port=2)],
        ssh_config=config,
        ssh_args="-o ProxyJump=bastion",
    )
    first, second = (routes.hosts[n].endpoint.via for n in ("web1", "db1"))
    assert first is not None and first == second
    assert (first.address, first.port, first.user) == ("bastion.example.com", 2022, "jumper")
    assert hash(first) == hash(second)


def test_a_jump_chain_goes_through_each_hop_as_its_config_says(config: str):
    endpoint = one(host("web1", ansible_ssh_common_args="-J me@web9:2,bastion"), ssh_config=config)
    assert [(h.name, h.address, h.port, h.user) for h in endpoint.chain()] == [
        ("web9", "web9", 2, "me"),
        ("bastion", "bastion.example.com", 2022, "jumper"),
    ]
    # web9's own config says no ProxyJump; bastion's "none" is overridden by the chain.
    assert endpoint.chain()[0].via is None


def test_a_jump_chain_that_loops_is_that_hosts_problem(tmp_path: Path, home: Path):
    path = tmp_path / "cfg"
    path.write_text("Host a\n  ProxyJump b\n\nHost b\n  ProxyJump a\n")
    routes = resolve_routes([host("a"), host("c")], ssh_config=str(path))
    assert routes.hosts["a"].endpoint.problem == (
        f"jump host chain loops: a -> b -> a (ssh_config {path}:5)"
    )
    assert routes.hosts["c"].endpoint.problem is None


def test_a_jump_host_that_is_its_own_jump_host_loops(tmp_path: Path, home: Path):
    path = tmp_path / "cfg"
    path.write_text("Host *\n  ProxyJump bastion\n")
    routes = resolve_routes([host("web1"), host("bastion")], ssh_config=str(path))
    for name in ("web1", "bastion"):
        problem = routes.hosts[name].endpoint.problem
        assert problem is not None and problem.startswith("jump host chain loops: ")


def test_a_jump_spec_that_cannot_be_read_is_a_problem(config: str):
    endpoint = one(host("web1", ansible_ssh_common_args="-J 'user@'"), ssh_config=config)
    assert endpoint.problem == "cannot read ProxyJump 'user@' (ansible_ssh_common_args)"


@pytest.mark.parametrize(
    ("spec", "hops"),
    [
        ("bastion", [("bastion", None, None)]),
        ("u@b:2200", [("b", "u", 2200)]),
        ("ssh://u@b:2200", [("b", "u", 2200)]),
        ("a,u@b", [("a", None, None), ("b", "u", None)]),
        ("[::1]:22", [("::1", None, 22)]),
        ("b:99999", None),
        ("@b", None),
        ("a,,b", None),
    ],
)
def test_jump_specs(spec: str, hops: Any):
    assert parse_jump(spec) == hops


def test_dash_f_in_the_args_chooses_that_hosts_ssh_config(tmp_path: Path, config: str):
    other = tmp_path / "other"
    other.write_text("Host web1\n  User from-other\n")
    routes = resolve_routes(
        [host("web1", ansible_ssh_common_args=f"-F {other}"), host("web2")], ssh_config=config
    )
    assert routes.hosts["web1"].endpoint.user == "from-other"
    assert routes.hosts["web2"].endpoint.user == "config-user"


def test_a_missing_dash_f_file_is_an_error_naming_the_host(config: str, tmp_path: Path):
    h = host("web1", ansible_ssh_extra_args=f"-F {tmp_path}/nowhere")
    with pytest.raises(ConfigError, match="-F of ansible_ssh_extra_args of host 'web1'"):
        resolve_routes([h], ssh_config=config)


def test_fractional_inventory_timeouts_are_kept(config: str):
    assert one(host("web1", ansible_ssh_timeout=2.5), ssh_config=config).connect_timeout == 2.5


def test_templated_args_are_rendered_with_the_hosts_vars(config: str):
    h = host("web1", ansible_ssh_common_args="-J {{ jump }}", jump="bastion")
    via = one(h, ssh_config=config).via
    assert via is not None and via.name == "bastion"


def test_args_that_cannot_be_rendered_are_that_hosts_problem(config: str):
    routes = resolve_routes(
        [host("web1", ansible_ssh_common_args="-J {{ nowhere }}"), host("web2")], ssh_config=config
    )
    problem = routes.hosts["web1"].endpoint.problem
    assert problem is not None and "'nowhere' is undefined" in problem
    assert routes.hosts["web2"].endpoint.problem is None


def test_jobtui_known_hosts_wins_over_user_known_hosts_file(tmp_path: Path, home: Path):
    path = tmp_path / "cfg"
    path.write_text("Host *\n  UserKnownHostsFile /a /b\n")
    h = host("web1", jobtui_known_hosts=str(tmp_path / "kh"))
    assert one(h, ssh_config=str(path)).known_hosts == (str(tmp_path / "kh"),)
    assert one(host("web2"), ssh_config=str(path)).known_hosts == ("/a", "/b")


def test_default_known_hosts_are_those_of_ssh(home: Path):
    endpoint = one(host("web1"), ssh_config=None)
    assert endpoint.known_hosts == (f"{home}/.ssh/known_hosts", f"{home}/.ssh/known_hosts2")


def test_user_config_is_read_by_default_and_its_includes_are_relative_to_dot_ssh(home: Path):
    (home / ".ssh").mkdir()
    (home / ".ssh" / "config").write_text("Include conf.d/*\n")
    (home / ".ssh" / "conf.d").mkdir()
    (home / ".ssh" / "conf.d" / "web").write_text("Host web1\n  User included\n")
    endpoint = one(host("web1"), local_user="me")
    assert endpoint.user == "included"
    assert endpoint.origin["user"] == f"ssh_config {home}/.ssh/conf.d/web:2"


def test_local_connections_are_left_alone(config: str):
    h = Host("here", "here", connection="local")
    assert resolve_routes([h], ssh_config=config).hosts["here"].ssh is None


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("Host a\n  Port\n", 2, "ssh_config keyword Port has no value"),
        ("Host a\n  User 'bob\n", 2, "unbalanced quotes in ssh_config line"),
        ("Host\n", 1, "ssh_config keyword Host has no value"),
        ("\n\nHost a\n  Port 0x16\n", 4, "ssh_config port must be a port number"),
        ("Match foo bar\n", 1, "unknown Match criterion 'foo'"),
        ("Host a\n  HostName two words\n", 2, "ssh_config HostName takes one value"),
        ("Host a\n  ConnectTimeout soon\n", 2, "ssh_config connecttimeout must be a time"),
        ("Host a\n  StrictHostKeyChecking maybe\n", 2, "ssh_config stricthostkeychecking"),
        ("Host a\n  Include {inc}\n", 2, "ssh_config Include inside a block (Host a)"),
        ("Include {loop}\n", 1, "ssh_config Include nested more than 16 deep"),
    ],
)
def test_a_bad_ssh_config_line_is_an_error_naming_file_and_line(
    text: str, line: int, message: str, tmp_path: Path, home: Path
):
    inc = tmp_path / "inc"
    inc.write_text("Host b\n  User x\n")
    loop = tmp_path / "loop"
    loop.write_text(f"Include {loop}\n")
    path = tmp_path / "cfg"
    path.write_text(text.format(inc=inc, loop=loop))
    with pytest.raises(ConfigError) as caught:
        resolve_routes([host("a")], ssh_config=str(path))
    assert caught.value.message.startswith(message)
    assert caught.value.location is not None
    where = (caught.value.location.file, caught.value.location.line)
    assert where == (str(loop), 1) if "nested" in message else where == (str(path), line)


def test_a_missing_ssh_config_given_explicitly_is_an_error(tmp_path: Path, home: Path):
    with pytest.raises(ConfigError, match=r"cannot read ssh_config .*missing: No such file"):
        resolve_routes([host("a")], ssh_config=str(tmp_path / "missing"))


def test_a_bad_port_in_the_args_is_an_error_naming_the_host(config: str):
    with pytest.raises(ConfigError, match="port of host 'web1' must be a port number"):
        resolve_routes([host("web1", ansible_ssh_common_args="-p http")], ssh_config=config)


def test_args_that_cannot_be_split_are_an_error_naming_the_host(config: str):
    with pytest.raises(ConfigError, match="cannot read ansible_ssh_common_args of host 'web1'"):
        resolve_routes([host("web1", ansible_ssh_common_args="-o 'User=x")], ssh_config=config)


def test_match_exec_is_never_run(tmp_path: Path, home: Path):
    marker = tmp_path / "ran"
    path = tmp_path / "cfg"
    path.write_text(f"Match exec 'touch {marker}'\n  User never\n")
    routes = resolve_routes([host("a")], ssh_config=str(path), local_user="me")
    assert routes.hosts["a"].endpoint.user == "me"
    assert not marker.exists()
    assert routes.warnings == (
        f"ssh_config {path}:1: Match exec is not run by jobtui: its block is never applied",
    )


def test_ansible_cfg_ssh_args_are_read(tmp_path: Path):
    cfg = tmp_path / "ansible.cfg"
    cfg.write_text("[ssh_connection]\nssh_args = -o ProxyJump=bastion\n")
    assert read_config(str(cfg), {}).ssh_args == "-o ProxyJump=bastion"
    assert read_config(str(cfg), {"ANSIBLE_SSH_ARGS": "-C"}).ssh_args == "-C"
    assert read_config(None, {}).ssh_args is None


def test_resolving_asks_no_name_service(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    """Pure configuration: canonicalisation, %l and a final pass ask no DNS."""

    def refuse(*_args: Any, **_kw: Any) -> Any:
        raise AssertionError("the name service was asked")

    for name in ("getfqdn", "gethostbyname", "getaddrinfo", "gethostbyaddr"):
        monkeypatch.setattr(socket, name, refuse)
    path = tmp_path / "cfg"
    path.write_text(
        "CanonicalizeHostname yes\nCanonicalDomains example.org\n"
        "Match final host web*\n  IdentityFile ~/.ssh/%l_%h\n  ProxyCommand echo %h\n"
    )
    routes = resolve_routes([host("web1")], ssh_config=str(path))
    assert routes.hosts["web1"].endpoint.key_files[0].startswith(f"{home}/.ssh/")
    assert any("CanonicalizeHostname is not done" in w for w in routes.warnings)
