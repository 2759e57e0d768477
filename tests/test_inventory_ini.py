"""INI inventories, inventory sources and group_vars: jobtui's own behaviour and errors."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobtui.cli import main
from jobtui.config.errors import ConfigError
from jobtui.config.ini import _PLAIN_LINE, ini_value
from jobtui.config.inventory import Inventory
from jobtui.config.sources import load_inventories
from jobtui.model import Location


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def load(text: str, name: str = "hosts") -> Inventory:
    Path(name).write_text(text)
    return load_inventories([name])


def error(text: str, name: str = "hosts") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(text, name)
    return info.value


def test_ini_host_gets_port_vars_and_group_vars() -> None:
    inv = load("[web]\nweb1:2222 tier=1\n[web:vars]\nansible_user=ops\n")
    host = inv.hosts["web1"]
    assert (host.port, host.user, host.vars["tier"], host.groups) == (2222, "ops", 1, ("web",))


def test_hosts_before_any_section_are_ungrouped() -> None:
    inv = load("alone\n[g]\nmember\n")
    assert inv.groups["ungrouped"] == ["alone"]
    assert inv.hosts["alone"].groups == ("ungrouped",)


def test_ini_ranges_with_letters_and_steps_expand() -> None:
    inv = load("[g]\nn[01:05:2]\nx-[a:c]\n")
    assert list(inv.hosts) == ["n01", "n03", "n05", "x-a", "x-b", "x-c"]


def test_children_may_be_declared_before_the_child_group() -> None:
    inv = load("[prod:children]\nweb\n[web]\nw1\n")
    assert inv.hosts["w1"].groups == ("prod", "web")


def test_ini_values_are_typed_as_ansible_types_them() -> None:
    inv = load("""h a=1 b=yes c="x y" d=[1,2] e=True f=01 g=1.5\n""")
    values = inv.hosts["h"].vars
    assert values == {"a": 1, "b": "yes", "c": "x y", "d": [1, 2], "e": True, "f": "01", "g": 1.5}


def test_group_vars_lines_keep_the_whole_rest_of_the_line() -> None:
    inv = load("[g]\nh\n[g:vars]\nmsg = hello world\nn = 3\n")
    assert (inv.hosts["h"].vars["msg"], inv.hosts["h"].vars["n"]) == ("hello world", 3)


@pytest.mark.parametrize(
    ("text", "line", "col", "words"),
    [
        ("[web\nh\n", 1, 1, "invalid section header '[web'"),
        ("[web server]\nh\n", 1, 1, "invalid section header"),
        ("[g:hostz]\nh\n", 1, 1, "unknown type 'hostz'"),
        ("[g]\n  h ansible_port\n", 2, 3, "expected key=value"),
        ("[g]\nh a='open\n", 2, 1, "cannot split host line"),
        ("[g]\nh:\n", 2, 1, "ends with ':'"),
        ("[g]\nweb[10:01]\n", 2, 1, "empty host range"),
        ("[g]\nh\n[g:vars]\njust-a-word\n", 4, 1, "expected key=value"),
        ("[p:children]\nnever\n", 2, 1, "defined nowhere"),
        ("[ghost:vars]\nx=1\n", 1, 1, "defined nowhere"),
        ("[a:children]\nb\n[b:children]\na\n", 4, 1, "group cycle: a -> b -> a"),
    ],
)
def test_bad_ini_is_an_error_with_line_column_and_hint(
    text: str, line: int, col: int, words: str
) -> None:
    e = error(text)
    assert words in str(e)
    assert e.location == Location("hosts", line, col)


def test_a_section_with_a_space_has_a_hint() -> None:
    assert "without spaces" in str(error("[web server]\n"))


def test_group_vars_and_host_vars_beside_the_file_are_read(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "host_vars" / "h").mkdir(parents=True)
    (tmp_path / "group_vars" / "g.yml").write_text("x: group\ny: group\n")
    (tmp_path / "host_vars" / "h" / "a.yml").write_text("y: host\n")
    inv = load("[g]\nh x=inline\n")
    assert (inv.hosts["h"].vars["x"], inv.hosts["h"].vars["y"]) == ("inline", "host")


def test_a_group_vars_file_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "g.yml").write_text("- a\n- b\n")
    e = error("[g]\nh\n")
    assert "must be a mapping" in str(e) and e.location is not None
    assert e.location.file.endswith("g.yml")


def test_a_yml_file_with_ini_content_is_read_as_ini() -> None:
    inv = load("[web]\nw1\n", name="hosts.yml")
    assert list(inv.hosts) == ["w1"]


def test_a_host_list_puts_its_hosts_in_ungrouped() -> None:
    inv = load_inventories(["a,b:2200,"])
    assert inv.groups["ungrouped"] == ["a", "b"] and inv.hosts["b"].port == 2200


def test_a_missing_source_is_an_error_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="does not exist; give a file, a directory"):
        load_inventories(["nowhere.ini"])


def test_toml_inventories_are_refused_with_a_hint() -> None:
    assert "convert it" in str(error("[all]\n", name="hosts.toml"))


def test_later_sources_win_for_the_same_host() -> None:
    Path("a").write_text("h v=a\n")
    Path("b.yml").write_text("all:\n  hosts:\n    h: {v: b}\n")
    assert load_inventories(["a", "b.yml"]).hosts["h"].vars["v"] == "b"


def test_inventory_command_prints_graph_and_host(capsys: pytest.CaptureFixture[str]) -> None:
    Path("hosts").write_text("[web]\nw1 n=1\n")
    assert main(["inventory", "-i", "hosts", "--graph"]) == 0
    assert capsys.readouterr().out == "@all:\n  |--@ungrouped:\n  |--@web:\n  |  |--w1\n"
    assert main(["inventory", "-i", "hosts", "--host", "w1"]) == 0
    assert capsys.readouterr().out == '{\n    "n": 1\n}\n'


def test_inventory_command_on_an_unknown_host_fails_with_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    Path("hosts").write_text("[web]\nweb1\n")
    assert main(["inventory", "-i", "hosts", "--host", "web2"]) == 2
    assert "did you mean 'web1'?" in capsys.readouterr().err


def test_a_plugin_config_without_ansible_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    e = error("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n", name="aws_ec2.yml")
    assert "inventory plugin config: only Ansible can read it" in str(e)
    assert e.hint is not None and "ansible-inventory" in e.hint


def test_a_bracketed_ipv6_host_takes_its_port() -> None:
    inv = load("[g]\n[::1]:2222\nfe80::1\n")
    assert [(h.name, h.port) for h in inv.hosts.values()] == [("::1", 2222), ("fe80::1", 22)]


def test_a_vault_encrypted_group_vars_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text("$ANSIBLE_VAULT;1.1;AES256\n6162\n")
    assert "vault-encrypted: jobtui does not decrypt" in str(error("h\n"))


def _reference_value(text: str) -> object:
    """What ansible-core's ini plugin does, before jobtui's fast paths."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@given(st.text(alphabet="0123456789-+_aeNnoTrufls .xj\t\u00a0'\"#\\", max_size=12))
def test_fast_paths_type_and_split_as_literal_eval_and_shlex(text: str) -> None:
    here = Location("hosts", 1, 1)
    try:
        expected = _reference_value(text)
    except (TypeError, RecursionError, MemoryError):
        return
    if isinstance(expected, int | bool | None | str):
        assert ini_value(text, here) == expected and type(ini_value(text, here)) is type(expected)
    line = f"h {text}".strip()
    if _PLAIN_LINE.fullmatch(line):
        assert line.split() == shlex.split(line, comments=True)


INI_SEEDS = (
    "[web]\nweb[01:03]:2222 tier=1 note='a b'\n[web:vars]\nansible_user=ops\n",
    "h0\n[db:children]\nweb\n[web]\nw1 ansible_host=10.0.0.1\n[all:vars]\nx=[1, 2]\n",
    "# comment\n; another\n[g]\nh ansible_port=22 k=\"v w\"\n[g:vars]\nd={'a': 1}\n",
)
INI_BITS = st.sampled_from(
    (
        *("[", "]", ":", "=", "'", '"', "#", ";", "\\", "host", "=[1,"),
        *("[a:z]", "[01:", ":vars]", ":children]", "[10:01]", "[1:9:0]"),
        *("\n", " ", "\t", "\x00", "\u00e9"),
    )
)


@st.composite
def mutated_ini(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(INI_SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        if draw(st.booleans()):
            text = text[:pos] + draw(INI_BITS) + text[pos:]
        else:
            text = text[:pos] + text[pos + draw(st.integers(1, 12)) :]
    return text


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(mutated_ini(), st.text(max_size=120)))
def test_any_ini_text_loads_or_raises_config_error_naming_the_file(text: str) -> None:
    """The INI parser, fuzzed: an inventory or a ConfigError with the file, never another
    exception (a traceback on the operator's screen)."""
    path = Path("fuzz.ini")
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_inventories([str(path)])
    except ConfigError as e:
        assert "fuzz.ini" in str(e)
