"""Position-aware, bounded YAML loading."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jobtui.config import yamlsrc
from jobtui.config.errors import ConfigError
from jobtui.config.yamlsrc import YMap, YSeq, load_yaml, to_plain
from jobtui.model import Location


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def write(name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    Path(name).write_bytes(data)
    return name


def error(text: str | bytes) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_yaml(write("f.yml", text))
    return info.value


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{x}: &{x} [{', '.join(['*' + p] * 9)}]"
            for p, x in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def test_mapping_remembers_key_and_value_locations() -> None:
    data = load_yaml(write("f.yml", "a: 1\nb:\n  - x\n  - {y: 2}\n"))
    assert isinstance(data, YMap)
    assert data.key_loc["b"] == Location("f.yml", 2, 1)
    assert data.value_loc["a"] == Location("f.yml", 1, 4)
    seq = data["b"]
    assert isinstance(seq, YSeq)
    assert seq.item_loc == [Location("f.yml", 3, 5), Location("f.yml", 4, 5)]
    assert to_plain(data) == {"a": 1, "b": ["x", {"y": 2}]}


def test_keys_are_the_text_as_written() -> None:
    data = load_yaml(write("f.yml", "1.10: a\ntrue: b\n"))
    assert list(data) == ["1.10", "true"]


def test_duplicate_key_points_at_second_and_names_first_line() -> None:
    err = error("a: 1\nb: 2\na: 3\n")
    assert str(err) == "duplicate key 'a' (f.yml:3:1); 'a' is already defined at line 1"


def test_syntax_error_has_file_line_column_and_problem() -> None:
    err = error("a: [1, 2\nb: 3\n")
    assert err.location is not None and err.location.file == "f.yml"
    assert err.message.startswith("YAML syntax error: expected ',' or ']'")
    assert "(f.yml:2:" in str(err)


def test_billion_laughs_is_refused_quickly() -> None:
    start = time.monotonic()
    err = error(BILLION_LAUGHS)
    assert time.monotonic() - start < 5
    assert "expands to more than" in err.message
    assert "f.yml:" in str(err)


def test_recursive_alias_is_refused() -> None:
    assert error("a: &x [1, *x]\n").message == "recursive YAML alias"


def test_deep_nesting_is_refused() -> None:
    assert "nested" in str(error("[" * 3000 + "]" * 3000))
    assert "nested more than" in str(error("a: " + "[" * 150 + "]" * 150))


def test_empty_file_is_a_clean_error() -> None:
    assert str(error("")) == "the file is empty (f.yml:1:1); expected a YAML mapping"


def test_comments_only_file_counts_as_empty() -> None:
    assert error("# nothing here\n").message == "the file is empty"


def test_non_utf8_file_names_the_byte_and_position() -> None:
    err = error(b"a: 1\nb: caf\xe9\n")
    assert str(err) == "invalid UTF-8 (byte 0xe9) (f.yml:2:7); save the file as UTF-8"


def test_utf8_bom_is_accepted() -> None:
    assert to_plain(load_yaml(write("f.yml", b"\xef\xbb\xbfa: 1\n"))) == {"a": 1}


def test_control_character_is_a_clean_error() -> None:
    err = error("a: b\x00c\n")
    assert err.location == Location("f.yml", 1, 5)


def test_oversized_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsrc, "MAX_FILE_BYTES", 10)
    assert "larger than" in str(error("a: 123456789012\n"))


def test_missing_file_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"cannot read nope\.yml"):
        load_yaml("nope.yml")


def test_merge_key_fills_missing_keys_only() -> None:
    data = load_yaml(write("f.yml", "base: &b {p: 1, q: 2}\nm:\n  <<: *b\n  q: 3\n"))
    assert to_plain(data["m"]) == {"q": 3, "p": 1}


def test_unknown_tag_is_a_clean_error() -> None:
    err = error("password: !vault |\n  abc\n")
    assert "could not determine a constructor" in err.message
    assert err.location == Location("f.yml", 1, 11)


def test_python_tags_are_refused() -> None:
    assert "f.yml" in str(error("a: !!python/object/apply:os.system ['id']\n"))


def test_complex_key_is_refused() -> None:
    assert "mapping key must be a plain value" in error("? [a, b]\n: 1\n").message


def test_several_documents_are_refused() -> None:
    assert "single document" in error("a: 1\n---\nb: 2\n").message
