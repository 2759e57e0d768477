"""No -i: the inventory and connection defaults are found where Ansible finds them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobtui.config.ansiblecfg import load_configured
from jobtui.config.errors import ConfigError


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cwd and a HOME of the test's own; no ANSIBLE_* from the caller."""
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path / "work")
    for name in list(os.environ):
        if name.startswith("ANSIBLE_"):
            monkeypatch.delenv(name)


def test_ansible_inventory_env_is_used_without_i(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("[g]\nh1\n")
    (tmp_path / "b").write_text("h2\n")
    env = {"ANSIBLE_INVENTORY": f"{tmp_path / 'a'},{tmp_path / 'b'}"}
    assert list(load_configured(None, env).hosts) == ["h1", "h2"]


def test_ansible_cfg_in_cwd_gives_inventory_user_and_key(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "inv").mkdir()
    (work / "inv" / "hosts").write_text("plain\nown ansible_user=root\n")
    (work / "ansible.cfg").write_text(
        "[defaults]\ninventory = inv/hosts  ; relative to this file\n"
        "remote_user = deploy\nprivate_key_file = ~/.ssh/deploy\n"
    )
    inv = load_configured(None, {})
    assert (inv.hosts["plain"].user, inv.hosts["own"].user) == ("deploy", "root")
    assert inv.hosts["plain"].key_file == str(tmp_path / "home" / ".ssh" / "deploy")


def test_ansible_config_env_wins_over_the_cwd_file(tmp_path: Path) -> None:
    (tmp_path / "work" / "ansible.cfg").write_text("[defaults]\ninventory = nowhere\n")
    (tmp_path / "other.cfg").write_text("[defaults]\ninventory = hosts\n")
    (tmp_path / "hosts").write_text("chosen\n")
    inv = load_configured(None, {"ANSIBLE_CONFIG": str(tmp_path / "other.cfg")})
    assert list(inv.hosts) == ["chosen"]


def test_home_ansible_cfg_is_read_last(tmp_path: Path) -> None:
    (tmp_path / "home" / ".ansible.cfg").write_text(f"[defaults]\ninventory = {tmp_path}/h\n")
    (tmp_path / "h").write_text("from-home\n")
    assert list(load_configured(None, {}).hosts) == ["from-home"]


def test_a_world_writable_cwd_ansible_cfg_is_ignored(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "ansible.cfg").write_text("[defaults]\ninventory = hosts\n")
    (work / "hosts").write_text("h\n")
    work.chmod(0o777)
    with pytest.raises(ConfigError, match="no inventory given"):
        load_configured(None, {})


def test_i_wins_over_ansible_cfg_but_its_remote_user_applies(tmp_path: Path) -> None:
    (tmp_path / "work" / "ansible.cfg").write_text(
        "[defaults]\ninventory = nowhere\nremote_user = deploy\n"
    )
    (tmp_path / "given").write_text("g1\n")
    inv = load_configured([str(tmp_path / "given")], {})
    assert [(h.name, h.user) for h in inv.hosts.values()] == [("g1", "deploy")]


def test_no_inventory_anywhere_is_an_error_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="pass -i INVENTORY, set ANSIBLE_INVENTORY"):
        load_configured(None, {})
