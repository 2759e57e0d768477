"""Every inventory of the corpus resolves as ansible-inventory resolves it.

The corpus (tests/inventories/) holds INI and YAML inventories, group_vars and
host_vars as files and directories, mixed directories, several sources and the
typing and precedence corner cases. Each is given to `ansible-inventory --list`
(the reference, run as a subprocess) and to jobtui's loader; the two documents must
be equal: groups, their direct hosts and children in order, every host's variables
with their types.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from jobtui.config.errors import ConfigError
from tests.helpers import run_jobtui
from tests.inventory_oracle import (
    ANSIBLE_INVENTORY,
    ansible_env,
    ansible_list,
    available,
    hosts_by_group,
    jobtui_list,
    run_ansible_inventory,
)

CORPUS = Path(__file__).parent / "inventories"

CASES: dict[str, list[str]] = {
    "ini_basic": ["ini_basic/hosts"],
    "ini_typing": ["ini_typing/hosts"],
    "ini_forward_declarations": ["ini_forward/hosts"],
    "yaml_nested": ["yaml_nested/hosts.yml"],
    "group_and_host_vars_files": ["gv_files/hosts"],
    "group_and_host_vars_directories": ["gv_dirs/hosts.yml"],
    "mixed_directory": ["mixed_dir/inv"],
    "several_sources": ["multi_source/a.ini", "multi_source/b.yml"],
    "group_priority": ["priority/hosts"],
    "ungrouped": ["ungrouped/hosts"],
    "ini_beside_yaml_group_vars": ["gv_files/hosts", "gv_dirs/hosts.yml"],
    "ini_addresses_and_ports": ["ini_addresses/hosts"],
    "directory_edge_cases": ["edge/inv"],
    "nested_directory_and_explicit_ungrouped": ["nested_dir/"],
}

needs_ansible = pytest.mark.skipif(not available(), reason="ansible-core (test extra) missing")


@needs_ansible
@pytest.mark.parametrize("case", sorted(CASES))
def test_corpus_inventory_resolves_as_ansible_inventory_does(case: str, tmp_path: Path) -> None:
    sources = [str(CORPUS / s) for s in CASES[case]]
    expected = ansible_list(sources, tmp_path)
    got = jobtui_list(sources)
    assert hosts_by_group(got) == hosts_by_group(expected)
    assert got["_meta"]["hostvars"] == expected["_meta"]["hostvars"]
    assert got == expected


@needs_ansible
def test_a_host_list_resolves_as_ansible_inventory_does(tmp_path: Path) -> None:
    sources = ["web1,web2:2222, db.example.com ,"]
    assert jobtui_list(sources) == ansible_list(sources, tmp_path)


def test_every_corpus_directory_is_a_case() -> None:
    used = {s.split("/")[0] for sources in CASES.values() for s in sources}
    assert used == {p.name for p in CORPUS.iterdir() if p.is_dir()}


@needs_ansible
@pytest.mark.parametrize(
    "text",
    [
        "[p:children]\nnever\n",
        "[ghost:vars]\nx=1\n",
        "[a:children]\nb\n[b:children]\na\n",
        "[g:hostz]\nh\n",
        "[g]\nh:\n",
        "[g]\nh ansible_port\n",
    ],
)
def test_what_ansible_refuses_jobtui_refuses(text: str, tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text(text)
    assert run_ansible_inventory([str(tmp_path / "hosts")], tmp_path).returncode != 0
    with pytest.raises(ConfigError):
        jobtui_list([str(tmp_path / "hosts")])


SCRIPT = """\
#!{python}
import json, sys
print(json.dumps({{
    "web": {{"hosts": ["w1", "w2"], "vars": {{"tier": 1}}, "children": ["edge"]}},
    "edge": {{"hosts": ["e1"]}},
    "_meta": {{"hostvars": {{"w1": {{"ansible_port": 2222}}}}}},
}}))
"""


def write_script(tmp_path: Path) -> Path:
    """An executable inventory script (Ansible's script protocol)."""
    script = tmp_path / "inventory.py"
    script.write_text(SCRIPT.format(python=sys.executable))
    script.chmod(0o755)
    return script


@needs_ansible
def test_an_inventory_script_is_read_through_ansible_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name, value in ansible_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    assert jobtui_list([str(script)]) == ansible_list([str(script)], tmp_path)


def test_an_inventory_script_without_ansible_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = write_script(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="executable inventory script: only Ansible can read"):
        jobtui_list([str(script)])


@needs_ansible
@pytest.mark.parametrize(
    "args",
    [
        ["--list"],
        ["--list", "--limit", "prod:!db1"],
        ["--graph"],
        ["--graph", "prod"],
        ["--host", "web1"],
    ],
)
def test_inventory_command_prints_what_ansible_inventory_prints(
    args: list[str], tmp_path: Path
) -> None:
    source = str(CORPUS / "gv_files" / "hosts")
    ours = run_jobtui("inventory", "-i", source, *args)
    theirs = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", source, *args],
        capture_output=True,
        text=True,
        env=ansible_env(tmp_path),
        cwd=tmp_path,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout


@needs_ansible
@pytest.mark.parametrize("how", ["ansible.cfg", "ANSIBLE_INVENTORY"])
def test_without_i_the_inventory_is_the_one_ansible_finds(how: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    cfg = project / "ansible.cfg"
    cfg.write_text("[defaults]\ninventory = ../inv/hosts, ../inv/more.yml\n")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "hosts").write_text("[web]\nw1 n=1\n")
    (tmp_path / "inv" / "more.yml").write_text("db:\n  hosts:\n    d1: {n: 2}\n")
    env = {**ansible_env(tmp_path), "ANSIBLE_CONFIG": str(cfg)}
    if how == "ANSIBLE_INVENTORY":
        env["ANSIBLE_INVENTORY"] = f"{tmp_path}/inv/hosts,{tmp_path}/inv/more.yml"
        cfg.write_text("[defaults]\n")
    ours = run_jobtui("inventory", "--list", env=env, cwd=project)
    theirs = subprocess.run(
        [str(ANSIBLE_INVENTORY), "--list"],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        check=False,
    )
    assert ours.returncode == theirs.returncode == 0, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout and '"d1"' in ours.stdout
