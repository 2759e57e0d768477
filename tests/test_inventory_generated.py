"""Generated inventories resolve as ansible-inventory resolves them.

Hypothesis writes small INI and YAML inventories (a few groups, hosts with ports and
vars, children declared before or after their groups, group_vars/ and host_vars/
files) and each is given to `ansible-inventory --list` and to jobtui; the documents
must be equal. ansible-inventory takes about a second a call: the examples are few.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from jobtui.config.errors import ConfigError
from tests.inventory_oracle import available, jobtui_list, run_ansible_inventory

pytestmark = pytest.mark.skipif(not available(), reason="ansible-core (test extra) missing")

GROUPS = ["web", "db", "app", "edge", "g5"]
HOSTS = ["h1", "h2", "h3", "web-1.example.com", "10.0.0.7", "n[1:3]", "x[a:b]"]
KEYS = ["a", "b", "level", "note"]  # connection vars are validated by jobtui: not here
INI_VALUES = ["1", "-3", "0x10", "yes", "no", "True", "false", "None", "1.5", "'q'", "01"]
INI_VALUES += ['"x y"', "[1,2]", "{'k':1}", "abc", "a=b", "1e3", "(1,2)"]
YAML_VALUES = st.one_of(
    st.integers(-5, 5), st.booleans(), st.sampled_from(["yes", "01", "x y", "a:b", ""])
)
SLOW = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    phases=[Phase.explicit, Phase.generate],  # shrinking, at a second a call, takes minutes
)

ini_vars = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(INI_VALUES), max_size=3)
host_line = st.tuples(st.sampled_from(HOSTS), st.one_of(st.none(), st.integers(1, 65535)), ini_vars)


@st.composite
def ini_inventory(draw: st.DrawFn) -> tuple[str, dict[str, dict[str, Any]]]:
    """An INI text and the group_vars files to write beside it."""
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4, unique=True))
    blocks: list[str] = []
    top = draw(st.lists(host_line, max_size=2))
    for name in groups:
        lines = draw(st.lists(host_line, max_size=3))
        blocks.append(f"[{name}]\n" + "".join(_ini_host(*line) for line in lines))
        gvars = draw(ini_vars)
        if gvars:
            blocks.append(f"[{name}:vars]\n" + "".join(f"{k} = {v}\n" for k, v in gvars.items()))
    for i, parent in enumerate(groups):
        kids = draw(st.lists(st.sampled_from(groups[i + 1 :] or [""]), max_size=2, unique=True))
        if any(kids):
            blocks.append(f"[{parent}:children]\n" + "".join(f"{k}\n" for k in kids if k))
    blocks = draw(st.permutations(blocks))
    text = "".join(_ini_host(*line) for line in top) + "\n".join(blocks)
    files = draw(
        st.dictionaries(
            st.sampled_from([*groups, "all", "ungrouped", "h1", "h2"]),
            st.dictionaries(st.sampled_from(KEYS), YAML_VALUES, min_size=1, max_size=2),
            max_size=2,
        )
    )
    return text, files


def _ini_host(host: str, port: int | None, values: dict[str, str]) -> str:
    name = host if port is None else f"{host}:{port}"
    return (
        " ".join([name, *(f"{k}={v}" if " " not in v else f"{k}='{v}'" for k, v in values.items())])
        + "\n"
    )


yaml_group: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "hosts": st.dictionaries(
            st.sampled_from(HOSTS),
            st.one_of(st.none(), st.dictionaries(st.sampled_from(KEYS), YAML_VALUES, max_size=2)),
            max_size=3,
        ),
        "vars": st.dictionaries(st.sampled_from(KEYS), YAML_VALUES, max_size=2),
    },
)


@st.composite
def yaml_inventory(draw: st.DrawFn) -> dict[str, Any]:
    groups = draw(st.lists(st.sampled_from(GROUPS), min_size=1, max_size=4, unique=True))
    body = {name: draw(yaml_group) for name in groups}
    for i, parent in enumerate(groups):
        kids = draw(st.lists(st.sampled_from(groups[i + 1 :] or [""]), max_size=2, unique=True))
        if any(kids):
            body[parent]["children"] = {k: None for k in kids if k}
    return {"all": {"children": body, "vars": draw(yaml_group).get("vars", {"z": 0})}}


def _compare(write: Any) -> None:
    """Both resolve the sources alike, or both refuse them (a cycle across sources)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = write(root)
        ansible = run_ansible_inventory(sources, root)  # once: a second a call
        if ansible.returncode != 0:
            with pytest.raises(ConfigError):
                jobtui_list(sources)
        else:
            assert jobtui_list(sources) == json.loads(ansible.stdout)


@SLOW
@given(ini_inventory())
def test_generated_ini_inventories_resolve_as_ansible_does(
    case: tuple[str, dict[str, dict[str, Any]]],
) -> None:
    text, files = case

    def write(root: Path) -> list[str]:
        return [_write_ini(root / "inv", text, files)]

    _compare(write)


def _write_ini(directory: Path, text: str, files: dict[str, dict[str, Any]]) -> str:
    """hosts, and group_vars/NAME.yml (host_vars/NAME.yml for host names)."""
    directory.mkdir()
    (directory / "hosts").write_text(text)
    for name, values in files.items():
        kind = "host_vars" if name in HOSTS else "group_vars"
        (directory / kind).mkdir(exist_ok=True)
        (directory / kind / f"{name}.yml").write_text(yaml.safe_dump(values))
    return str(directory / "hosts")


@settings(SLOW, max_examples=8)
@given(ini_inventory(), yaml_inventory())
def test_generated_ini_and_yaml_sources_together_resolve_as_ansible_does(
    ini: tuple[str, dict[str, dict[str, Any]]], data: dict[str, Any]
) -> None:
    def write(root: Path) -> list[str]:
        (root / "yaml").mkdir()
        (root / "yaml" / "hosts.yml").write_text(yaml.safe_dump(data))
        return [_write_ini(root / "ini", *ini), str(root / "yaml" / "hosts.yml")]

    _compare(write)


@settings(SLOW, max_examples=8)
@given(yaml_inventory())
def test_generated_yaml_inventories_resolve_as_ansible_does(case: dict[str, Any]) -> None:
    def write(root: Path) -> list[str]:
        (root / "hosts.yml").write_text(yaml.safe_dump(case))
        return [str(root / "hosts.yml")]

    _compare(write)


VALUE_TEXT = st.text(
    alphabet=st.sampled_from("01239abexyTFNnu.-+_:,[]{}()'\"= jy#;"), min_size=1, max_size=12
)


@settings(SLOW, max_examples=10)
@given(st.lists(VALUE_TEXT, min_size=1, max_size=30))
def test_generated_ini_values_are_typed_as_ansible_types_them(texts: list[str]) -> None:
    """Many values a case: on a host line (shell-split) and in [g:vars] (the whole rest)."""
    tokens = " ".join(f"v{i}={shlex.quote(t)}" for i, t in enumerate(texts))
    gvars = "".join(f"w{i} = {t}\n" for i, t in enumerate(texts) if t.strip())
    text = f"[g]\nh {tokens}\n[g:vars]\n{gvars}"

    def write(root: Path) -> list[str]:
        (root / "hosts").write_text(text)
        return [str(root / "hosts")]

    _compare(write)
