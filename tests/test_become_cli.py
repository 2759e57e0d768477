"""The command line's become, without hosts: where a password comes from, -K, -b's user,
and what `inventory --host` says (never the password)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from jobtui import become_cmd
from jobtui.cli import main
from jobtui.model import USER_RE, Become, Host, JobSpec, RunSpec
from jobtui.runs import Run
from jobtui.transport.jumps import ProxyProcess
from tests.helpers import wait_until

REPO = Path(__file__).resolve().parent.parent


def args(**kw: object) -> argparse.Namespace:
    return argparse.Namespace(**{"ask_become_pass": False, **kw})


def host(name: str, **kw: object) -> Host:
    return Host(name=name, address=name, **kw)  # type: ignore[arg-type]


def test_a_hosts_own_password_wins_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSIBLE_BECOME_PASS", "from-env")
    own = host("a", become=True, vars={"ansible_become_pass": "own"})
    other = host("b", become=True)
    setup = become_cmd.for_hosts([own, other], args())
    assert setup is not None
    assert setup.password(own) == "own"
    assert setup.password(other) == "from-env"
    assert setup.users == {"a": {Become("root")}, "b": {Become("root")}}


def test_minus_k_asks_once_and_only_when_a_host_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def getpass(prompt: str) -> str:
        asked.append(prompt)
        return "typed"

    monkeypatch.setattr("getpass.getpass", getpass)
    monkeypatch.setenv("ANSIBLE_BECOME_PASS", "from-env")
    job = JobSpec(name="j", hosts="all", shell="true", become=True)
    hosts = [host(f"h{i}") for i in range(3)]
    runs = [Run(RunSpec(job, h, None, 0, "true", become=Become())) for h in hosts]
    setup = become_cmd.for_runs(runs, args(ask_become_pass=True))
    assert setup is not None and asked == ["BECOME password: "]
    assert {setup.password(h) for h in hosts} == {"typed"}
    assert setup.owners == {r.jid: "root" for r in runs}
    # Every host has its own: nothing to ask.
    asked.clear()
    own = [host("o", vars={"ansible_become_password": "x"})]
    runs = [Run(RunSpec(job, own[0], None, 0, "true", become=Become()))]
    assert become_cmd.for_runs(runs, args(ask_become_pass=True)) is not None
    assert asked == []
    # No run becomes anyone: no setup, nothing asked.
    plain = [Run(RunSpec(job, hosts[0], None, 0, "true"))]
    assert become_cmd.for_runs(plain, args(ask_become_pass=True)) is None
    assert asked == []


def test_minus_b_looks_at_the_named_user_or_the_inventorys() -> None:
    hosts = [host("a", become_user="postgres"), host("b")]
    setup = become_cmd.for_hosts(hosts, args(become=True, become_user=None))
    assert setup is not None
    assert setup.users == {"a": {Become("postgres")}, "b": {Become("root")}}
    setup = become_cmd.for_hosts(hosts, args(become=True, become_user="svc"))
    assert setup is not None and setup.users["b"] == {Become("svc")}
    assert become_cmd.for_hosts(hosts, args(become=False, become_user=None)) is None


def test_a_become_user_that_is_no_user_name_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["status", "-i", "localhost,", "-b", "--become-user", "x;reboot"])
    assert e.value.code == 2
    assert "'x;reboot' is not a user name" in capsys.readouterr().err


def test_minus_k_with_its_input_closed_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("h ansible_connection=local ansible_become=true\n")
    jobs = tmp_path / "jobs.yml"
    jobs.write_text("jobs:\n  - {name: j, hosts: all, shell: 'true'}\n")
    done = subprocess.run(
        [sys.executable, "-m", "jobtui", "run", str(jobs), "-i", str(inv), "-K", "--headless"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd=REPO,
        timeout=60,
        check=False,
        start_new_session=True,  # no terminal: getpass reads stdin, which is empty
    )
    assert done.returncode == 2, done.stderr
    assert "-K: no password could be read" in done.stderr
    assert "Traceback" not in done.stderr


def test_inventory_host_says_how_it_becomes_never_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text(
        "db ansible_host=127.0.0.9 ansible_become=yes ansible_become_user=postgres"
        " ansible_become_password=hunter2\n"
    )
    assert main(["inventory", "-i", str(inv), "--host", "db"]) == 0
    err = capsys.readouterr().err
    assert "become       sudo as postgres (password from the inventory)" in err
    assert "hunter2" not in err


def test_a_template_cannot_put_a_password_in_a_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inv = tmp_path / "inv.ini"
    inv.write_text("h ansible_connection=local ansible_become_password=hunter2\n")
    jobs = tmp_path / "jobs.yml"
    jobs.write_text(
        "jobs:\n  - {name: j, hosts: all, shell: 'echo {{ ansible_become_password }}'}\n"
    )
    assert main(["check", str(jobs), "-i", str(inv)]) == 2
    err = capsys.readouterr().err
    assert "'ansible_become_password' is undefined" in err
    assert "a password is never put in a command" in err
    assert "hunter2" not in err


@pytest.mark.parametrize("name", ["root\n", "-root", "#0", "ro ot", "r;t", ""])
def test_a_user_name_is_a_user_name(name: str) -> None:
    assert not USER_RE.match(name)


def test_ansible_cfg_privilege_escalation_is_the_default_below_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("ANSIBLE_CONFIG", "ANSIBLE_BECOME", "ANSIBLE_BECOME_USER"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ansible.cfg").write_text(
        "[privilege_escalation]\nbecome = True\nbecome_user = backup\n"
    )
    (tmp_path / "inv.ini").write_text(
        "cfg ansible_connection=local\n"
        "mine ansible_connection=local ansible_become_user=postgres\n"
        "off ansible_connection=local ansible_become=no\n"
    )
    (tmp_path / "jobs.yml").write_text("jobs:\n  - {name: j, hosts: all, shell: 'true'}\n")
    assert main(["check", "jobs.yml", "-i", "inv.ini"]) == 0
    rows = {line.split()[1]: line.split()[2] for line in capsys.readouterr().out.splitlines()[1:4]}
    # off: an empty AS cell, the time limit comes next
    assert rows == {"cfg": "backup", "mine": "postgres", "off": "3600s"}
    monkeypatch.setenv("ANSIBLE_BECOME", "false")
    assert main(["check", "jobs.yml", "-i", "inv.ini"]) == 0
    assert "AS" not in capsys.readouterr().out.splitlines()[0].split()


def test_become_ask_pass_in_ansible_cfg_asks_as_minus_k(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ansible.cfg").write_text("[privilege_escalation]\nbecome_ask_pass = yes\n")
    monkeypatch.setattr("getpass.getpass", lambda prompt: "typed")
    setup = become_cmd.for_hosts([host("a", become=True)], args())
    assert setup is not None and setup.password(host("a")) == "typed"


def test_a_proxy_command_does_not_inherit_the_sudo_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANSIBLE_BECOME_PASS", "hunter2")
    monkeypatch.setenv("JOBTUI_TEST_KEPT", "yes")
    seen = tmp_path / "env"
    proxy = ProxyProcess(f"env > {seen}")
    try:
        assert wait_until(lambda: seen.exists() and "JOBTUI_TEST_KEPT" in seen.read_text(), 10)
    finally:
        proxy.close()
    assert "hunter2" not in seen.read_text()
