"""Ansible YAML inventories."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory, expand_hosts, load_inventory
from jobtui.model import Host, Location

HERE = Location("inv.yml", 1, 1)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str) -> Inventory:
    Path("inv.yml").write_text(text)
    return load_inventory("inv.yml")


def error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text)
    return info.value


NESTED = """\
all:
  vars: {level: all, from_all: 1}
  hosts:
    lonely:
  children:
    prod:
      vars: {level: prod, from_prod: 1}
      children:
        dbservers:
          vars: {level: db}
          hosts:
            db1: {level: host}
            db2:
    webservers:
      hosts:
        web1:
"""


def test_range_keeps_zero_padding() -> None:
    assert expand_hosts("web[01:03].example.com", HERE) == [
        "web01.example.com",
        "web02.example.com",
        "web03.example.com",
    ]


def test_range_of_letters() -> None:
    assert expand_hosts("db-[a:c]", HERE) == ["db-a", "db-b", "db-c"]


def test_range_with_step() -> None:
    assert expand_hosts("n[1:10:3]", HERE) == ["n1", "n4", "n7", "n10"]


def test_several_ranges_in_one_name() -> None:
    assert expand_hosts("r[1:2]c[a:b]", HERE) == ["r1ca", "r1cb", "r2ca", "r2cb"]


@pytest.mark.parametrize("pattern", ["web[01:3]", "web[3:1]", "web[a:3]", "web[1:2", "w[1:3:0]"])
def test_bad_range_is_an_error_with_location(pattern: str) -> None:
    with pytest.raises(ConfigError) as info:
        expand_hosts(pattern, HERE)
    assert info.value.location == HERE


def test_huge_range_is_refused() -> None:
    with pytest.raises(ConfigError, match="expands to 100,000,000 hosts, more than 100,000"):
        expand_hosts("h[1:100000000]", HERE)


def test_range_in_inventory_expands_hosts_in_order() -> None:
    inv = load("all:\n  hosts:\n    web[1:3]:\n      ansible_user: ops\n")
    assert list(inv.hosts) == ["web1", "web2", "web3"]
    assert inv.hosts["web2"].user == "ops"


def test_groups_include_all_and_ungrouped() -> None:
    inv = load(NESTED)
    assert inv.groups["all"] == ["lonely", "db1", "db2", "web1"]
    assert inv.groups["ungrouped"] == ["lonely"]
    assert inv.hosts["lonely"].groups == ("ungrouped",)


def test_parent_group_contains_hosts_of_children() -> None:
    inv = load(NESTED)
    assert inv.groups["prod"] == ["db1", "db2"]
    assert inv.hosts["db2"].groups == ("dbservers", "prod")


def test_var_precedence_all_then_parent_then_child_then_host() -> None:
    inv = load(NESTED)
    assert inv.hosts["db1"].vars["level"] == "host"
    assert inv.hosts["db2"].vars["level"] == "db"
    assert inv.hosts["web1"].vars["level"] == "all"
    assert inv.hosts["db2"].vars["from_prod"] == 1
    assert inv.hosts["db2"].vars["from_all"] == 1


def test_sibling_groups_merge_by_name() -> None:
    inv = load("b_group:\n  hosts: {h:}\n  vars: {x: b}\na_group:\n  hosts: {h:}\n  vars: {x: a}\n")
    assert inv.hosts["h"].vars["x"] == "b"  # same depth: sorted by name, last one wins


def test_group_priority_beats_name_order() -> None:
    inv = load(
        "a_group:\n  hosts: {h:}\n  vars: {x: a, ansible_group_priority: 5}\n"
        "b_group:\n  hosts: {h:}\n  vars: {x: b}\n"
    )
    assert inv.hosts["h"].vars["x"] == "a"


def test_top_level_groups_are_children_of_all() -> None:
    inv = load("webservers:\n  hosts:\n    w1:\n")
    assert inv.groups["all"] == ["w1"]
    assert inv.groups["ungrouped"] == []
    assert inv.groups["webservers"] == ["w1"]


def test_host_in_two_groups_is_one_host_with_both_groups() -> None:
    inv = load("a:\n  hosts:\n    h: {x: 1}\nb:\n  hosts:\n    h: {y: 2}\n")
    assert list(inv.hosts) == ["h"]
    assert inv.hosts["h"].groups == ("a", "b")
    assert inv.hosts["h"].vars == {"x": 1, "y": 2}


def test_empty_group_is_kept() -> None:
    inv = load("all:\n  hosts: {h:}\n  children:\n    spare:\n")
    assert inv.groups["spare"] == []


def test_connection_vars_become_host_fields() -> None:
    inv = load(
        "all:\n  hosts:\n    h:\n      ansible_host: 10.0.0.5\n      ansible_port: '2222'\n"
        "      ansible_user: root\n      ansible_ssh_private_key_file: ~/.ssh/k\n"
        "      jobtui_dir: /var/tmp/jt\n"
    )
    host = inv.hosts["h"]
    assert (host.address, host.port, host.user, host.key_file, host.jobtui_dir) == (
        "10.0.0.5",
        2222,
        "root",
        "~/.ssh/k",
        "/var/tmp/jt",
    )


def test_defaults_for_a_bare_host() -> None:
    host = load("all:\n  hosts:\n    h.example.com:\n").hosts["h.example.com"]
    assert host == Host("h.example.com", "h.example.com", groups=("ungrouped",))
    assert host.connection == "ssh" and host.jobtui_dir == "~/.jobtui" and host.port == 22


@pytest.mark.parametrize(
    ("given", "used"), [("smart", "ssh"), ("paramiko", "ssh"), ("local", "local")]
)
def test_connection_aliases(given: str, used: str) -> None:
    inv = load(f"all:\n  hosts:\n    h:\n      ansible_connection: {given}\n")
    assert inv.hosts["h"].connection == used


def test_unsupported_connection_points_at_the_value() -> None:
    err = error("all:\n  vars:\n    ansible_connection: winrm\n  hosts:\n    h:\n")
    assert str(err).startswith(
        "'ansible_connection' of host 'h' must be ssh or local, got 'winrm' (inv.yml:3:25)"
    )


@pytest.mark.parametrize("port", ["0", "70000", "ssh", "true"])
def test_bad_port_is_an_error_with_location(port: str) -> None:
    err = error(f"all:\n  hosts:\n    h:\n      ansible_port: {port}\n")
    assert err.location == Location("inv.yml", 4, 21)
    assert "must be a port number" in err.message


def test_group_cycle_is_refused() -> None:
    err = error("a:\n  children:\n    b:\n      children:\n        a:\n")
    assert err.message == "group cycle: a -> b -> a"
    assert err.location == Location("inv.yml", 5, 9)


def test_unknown_group_key_suggests_the_right_one() -> None:
    err = error("all:\n  host:\n    h:\n")
    assert str(err) == "unknown key 'host' in group 'all' (inv.yml:2:3); did you mean 'hosts'?"


def test_hosts_as_a_list_is_an_error() -> None:
    err = error("all:\n  hosts:\n    - h1\n    - h2\n")
    assert err.location == Location("inv.yml", 3, 5)
    assert "must be a mapping" in err.message


def test_inventory_must_be_a_mapping() -> None:
    assert error("- a\n").location == Location("inv.yml", 1, 1)


def test_local_inventory_has_one_local_host() -> None:
    inv = Inventory.local()
    assert list(inv.hosts) == ["localhost"]
    assert inv.hosts["localhost"].connection == "local"
    assert inv.groups == {"all": ["localhost"], "ungrouped": ["localhost"]}


def test_from_hosts_groups_by_host_groups() -> None:
    inv = Inventory.from_hosts(
        [Host("a", "127.0.0.2", groups=("db",)), Host("b", "127.0.0.3")], source="test"
    )
    assert inv.groups == {"all": ["a", "b"], "ungrouped": ["b"], "db": ["a"]}


def test_from_hosts_refuses_duplicate_names() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        Inventory.from_hosts([Host("a", "x"), Host("a", "y")])


def test_example_inventory_loads() -> None:
    inv = load_inventory(str(Path(__file__).parent.parent / "config" / "inventory.yml"))
    assert inv.groups["dbservers"] == [f"db0{i}.example.com" for i in (1, 2, 3)]
    assert inv.hosts["localhost"].connection == "local"
    assert inv.hosts["web02.example.com"].port == 2222
