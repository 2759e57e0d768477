"""Ansible host patterns."""

from __future__ import annotations

import pytest

from jobtui.config.errors import ConfigError
from jobtui.config.inventory import Inventory
from jobtui.config.patterns import select_hosts, split_pattern
from jobtui.model import Host, Location


@pytest.fixture
def inv() -> Inventory:
    hosts = [
        Host("db01", "db01", groups=("dbservers", "prod")),
        Host("db02", "db02", groups=("dbservers", "staging")),
        Host("web01", "web01", groups=("prod", "webservers")),
        Host("web02", "web02", groups=("staging", "webservers")),
        Host("bastion", "bastion"),
    ]
    result = Inventory.from_hosts(hosts)
    result.groups["empty"] = []
    return result


def names(inv: Inventory, pattern: str) -> list[str]:
    return [h.name for h in select_hosts(inv, pattern)]


@pytest.mark.parametrize("pattern", ["all", "*"])
def test_all_selects_every_host_in_order(inv: Inventory, pattern: str) -> None:
    assert names(inv, pattern) == ["db01", "db02", "web01", "web02", "bastion"]


def test_group_name(inv: Inventory) -> None:
    assert names(inv, "webservers") == ["web01", "web02"]


def test_host_name(inv: Inventory) -> None:
    assert names(inv, "db02") == ["db02"]


def test_glob_matches_host_names(inv: Inventory) -> None:
    assert names(inv, "web*") == ["web01", "web02"]


def test_glob_matches_group_names_too(inv: Inventory) -> None:
    assert names(inv, "db*ers") == ["db01", "db02"]


def test_union_keeps_inventory_order_without_duplicates(inv: Inventory) -> None:
    assert names(inv, "web02:dbservers:db01") == ["db01", "db02", "web02"]


def test_comma_separates_like_colon(inv: Inventory) -> None:
    assert names(inv, "bastion, db01") == ["db01", "bastion"]


def test_exclusion(inv: Inventory) -> None:
    assert names(inv, "all:!prod") == ["db02", "web02", "bastion"]


def test_intersection(inv: Inventory) -> None:
    assert names(inv, "webservers:&staging") == ["web02"]


def test_unions_apply_before_intersections_and_exclusions(inv: Inventory) -> None:
    assert names(inv, "!db02:dbservers:&staging:webservers") == ["web02"]


def test_only_exclusions_start_from_all(inv: Inventory) -> None:
    assert names(inv, "!dbservers") == ["web01", "web02", "bastion"]


def test_regex_term(inv: Inventory) -> None:
    assert names(inv, "~web0[2-9]") == ["web02"]


def test_glob_character_class_is_not_split(inv: Inventory) -> None:
    assert split_pattern("web0[1:2]:db01") == ["web0[1:2]", "db01"]


def test_empty_group_selects_nothing_without_error(inv: Inventory) -> None:
    assert names(inv, "empty") == []


def test_unknown_name_is_an_error_with_hint_and_location(inv: Inventory) -> None:
    where = Location("jobs.yml", 3, 12)
    with pytest.raises(ConfigError) as info:
        select_hosts(inv, "dbservers:webserver", where)
    assert str(info.value) == (
        "host pattern 'webserver' matches no host or group (jobs.yml:3:12);"
        " did you mean 'webservers'?"
    )


def test_unknown_name_without_close_match_lists_groups(inv: Inventory) -> None:
    with pytest.raises(ConfigError) as info:
        select_hosts(inv, "zzz")
    assert info.value.hint is not None and "dbservers" in info.value.hint


def test_glob_matching_nothing_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match="'mail\\*' matches no host"):
        select_hosts(inv, "mail*")


def test_exclusion_of_unknown_name_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match="'prd'"):
        select_hosts(inv, "all:!prd")


def test_empty_pattern_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match="empty host pattern"):
        select_hosts(inv, " : ")


def test_bad_regex_is_an_error(inv: Inventory) -> None:
    with pytest.raises(ConfigError, match="invalid regex"):
        select_hosts(inv, "~web(")
