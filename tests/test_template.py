"""Templating: sandboxed Jinja, with shell quoting that follows the quoting context.

Most tests run the rendered command with a real `sh -c` (dash here, bash too when
installed) and check that the value arrives byte for byte, never executed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobtui.config.errors import ConfigError
from jobtui.config.shellquote import quote_word
from jobtui.config.template import render_command, render_plain, render_shell
from jobtui.model import Location

SHELLS = [s for s in ("/bin/sh", shutil.which("dash"), shutil.which("bash")) if s]
WHERE = Location("jobs.yml", 4, 5)

NASTY = [
    "x; touch /tmp/pwned",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "it's",
    'say "hi"',
    "a b  c",
    "\\",
    "back\\slash\\",
    "'\"'\"",
    "${HOME}",
    "$HOME",
    "",
    "line1\nline2",
    "if",
    "A=b",
    "*",
    "~root",
    "}",
    ")",
    "#not a comment",
    "-n",
    "tab\there",
    "ümlaut ✓",
    "'; touch /tmp/pwned; '",
    '"; touch /tmp/pwned; "',
]

# Templates that print the item as one argument of printf, in every quoting context.
CONTEXTS = {
    "unquoted": "printf '%s\\n' {{ item }}",
    "single": "printf '%s\\n' '{{ item }}'",
    "double": "printf '%s\\n' \"{{ item }}\"",
    "glued": "printf '%s\\n' pre{{ item }}'mid'{{ item }}\"post\"",
    "cmdsub": "printf '%s\\n' \"$(printf '%s' {{ item }})\"",
    "cmdsub-double": "printf '%s\\n' \"$(printf '%s' \"{{ item }}\")\"",
    "cmdsub-single": "printf '%s\\n' \"$(printf '%s' '{{ item }}')\"",
    "for-loop": "{% for i in [1] %}printf '%s\\n' {{ item }}{% endfor %}",
    "if-block": "{% if item is defined %}printf '%s\\n' \"{{ item }}\"{% endif %}",
    "after-heredoc": "cat <<EOF >/dev/null\n$(id) ' \"\nEOF\nprintf '%s\\n' {{ item }}",
    "after-comment": "# it's a comment\nprintf '%s\\n' {{ item }} # {{ 'c' }}",
    "case-in-cmdsub": ("printf '%s\\n' \"$(case a in a) printf '%s' \"{{ item }}\";; esac)\""),
    "param-unquoted": "x=1; printf '%s\\n' ${x:+'}'} >/dev/null; printf '%s\\n' {{ item }}",
}


def glued(value: str) -> str:
    return f"pre{value}mid{value}post"


EXPECTED: dict[str, Callable[[str], str]] = {
    "glued": glued,
    # $(...) drops trailing newlines of what it captures: shell semantics, not quoting.
    **{
        name: (lambda value: value.rstrip("\n"))
        for name in ("cmdsub", "cmdsub-double", "cmdsub-single", "case-in-cmdsub")
    },
}


def run(shell: str, script: str, cwd: Path) -> bytes:
    result = subprocess.run(
        [shell, "-c", script], capture_output=True, cwd=cwd, timeout=10, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def expected(context: str, value: str) -> bytes:
    text = EXPECTED[context](value) if context in EXPECTED else value
    return text.encode() + b"\n"


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("context", list(CONTEXTS))
def test_value_arrives_as_one_literal_argument(shell: str, context: str, tmp_path: Path) -> None:
    for value in NASTY:
        script = render_shell(CONTEXTS[context], {"item": value})
        assert run(shell, script, tmp_path) == expected(context, value), script
    assert list(tmp_path.iterdir()) == []  # nothing was touched
    assert not Path("/tmp/pwned").exists()


@settings(max_examples=60, deadline=None)
@given(
    value=st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")),
    context=st.sampled_from(sorted(CONTEXTS)),
)
def test_any_text_arrives_byte_identical(value: str, context: str, tmp_path_factory) -> None:
    script = render_shell(CONTEXTS[context], {"item": value})
    assert run("/bin/sh", script, tmp_path_factory.getbasetemp()) == expected(context, value)


def test_plain_values_stay_readable() -> None:
    assert render_shell("pg_dump {{ item }} > /b/{{ item }}.sql", {"item": "users_db"}) == (
        "pg_dump users_db > /b/users_db.sql"
    )


def test_constant_expressions_are_quoted_too() -> None:
    assert render_shell("echo {{ 'a b' }}", {}) == "echo 'a b'"


@pytest.mark.parametrize("value", ["A=b", "if", "fi", "{", "done"])
def test_words_that_would_change_meaning_are_quoted(value: str) -> None:
    assert quote_word(value) == f"'{value}'"


def test_arithmetic_accepts_integers() -> None:
    assert render_shell("echo $(( {{ n }} * 2 ))", {"n": 21}) == "echo $(( 21 * 2 ))"


def test_mapping_item_attributes() -> None:
    item = {"name": "shop site", "size": 3}
    assert render_shell("sync {{ item.name }} {{ item['size'] }}", {"item": item}) == (
        "sync 'shop site' 3"
    )


def test_quote_filter_does_not_quote_twice() -> None:
    assert render_shell("echo {{ item | quote }}", {"item": "a b"}) == "echo 'a b'"


def test_none_renders_as_empty_string() -> None:
    assert render_shell("echo {{ x }}", {"x": None}) == "echo ''"


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("echo \\{{ item }}", "backslash right before"),
        ('echo "\\{{ item }}"', "backslash right before"),
        ("echo ${{ item }}", "'$' right before"),
        ('echo "${{ item }}"', "'$' right before"),
        ("echo ${X:-{{ item }}}", "inside ${...}"),
        ("echo `echo {{ item }}`", "inside `...`"),
        ('echo "`echo {{ item }}`"', "inside `...`"),
        ("echo $'{{ item }}'", "$'...' near"),
        ("echo $(( {{ item }} ))", "not an integer"),
        ("cat <<EOF\n{{ item }}\nEOF", "here-document"),
        ("cat <<'EOF'\n{{ item }}\nEOF", "here-document"),
        ("cat <<{{ item }}\nx\n", "here-document delimiter"),
        ("echo hi # {{ multi }}", "newline, inside a # comment"),
        ("echo '{{ item }}", "unterminated"),
        ('echo "${x:+\'}" {{ item }}', "shells disagree"),
        ("{% macro m(x) %}{{ x }}{% endmacro %}echo {{ m(item) }}", "macro"),
        ("{% set s %}{{ item }}{% endset %}echo {{ s }}", "macro"),
    ],
)
def test_unsafe_places_are_refused(template: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_shell(template, {"item": "x; id", "multi": "a\nid"}, WHERE, "'shell' of job 'j'")
    assert reason in info.value.message
    assert info.value.location == WHERE


def test_nul_in_a_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="NUL"):
        render_shell("echo {{ item }}", {"item": "a\x00b"})


def test_undefined_variable_has_location_and_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        render_shell("echo {{ itme }}", {"item": 1}, WHERE, "'shell' of job 'j'")
    assert str(info.value) == (
        "'itme' is undefined in 'shell' of job 'j' (jobs.yml:4:5); did you mean 'item'?"
    )


def test_missing_item_attribute_lists_close_keys() -> None:
    with pytest.raises(ConfigError) as info:
        render_plain("{{ item.nme }}", {"item": {"name": "a"}}, WHERE)
    assert info.value.hint == "did you mean 'name'?"


def test_syntax_error_has_location() -> None:
    with pytest.raises(ConfigError) as info:
        render_shell("echo {{ item ", {"item": 1}, WHERE, "'shell' of job 'j'")
    assert info.value.message.startswith("template syntax error in 'shell' of job 'j'")
    assert info.value.location == WHERE


def test_sandbox_blocks_python_internals() -> None:
    with pytest.raises(ConfigError, match="cannot render"):
        render_plain("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


def test_runtime_errors_become_config_errors() -> None:
    with pytest.raises(ConfigError, match="division"):
        render_plain("{{ 1 / 0 }}", {})


def test_render_plain_does_not_quote() -> None:
    assert render_plain("/srv/{{ item }}", {"item": "a b"}) == "/srv/a b"


def test_render_command_keeps_item_with_spaces_as_one_argument(tmp_path: Path) -> None:
    script = render_command("printf '%s\\n' {{ item }} '{{ item }} 2'", {"item": "a b; id"})
    assert script == "exec printf '%s\\n' 'a b; id' 'a b; id 2'"
    assert run("/bin/sh", script, tmp_path) == b"a b; id\na b; id 2\n"


def test_render_command_keeps_jinja_tags_with_spaces_in_one_word() -> None:
    assert render_command("echo {{ item.name | upper }}", {"item": {"name": "x y"}}) == (
        "exec echo 'X Y'"
    )


def test_render_command_with_unbalanced_quote_is_an_error() -> None:
    with pytest.raises(ConfigError, match="cannot split"):
        render_command("echo 'oops", {}, WHERE)


def test_render_command_with_empty_program_is_an_error() -> None:
    with pytest.raises(ConfigError, match="is empty"):
        render_command("{{ x }}", {"x": ""}, WHERE)


# Constructs that dash (Debian's /bin/sh) and bash (/bin/sh on RHEL) lex or evaluate
# differently: a template quoted for one of them could run a value as code on the other.
DIVERGENT = [
    ("echo $'it\\'s' {{ item }}", "$'...'"),
    ("echo $'a' {{ item }}", "$'...'"),
    ("echo \"${x:-$'a'}\" {{ item }}", "$'...'"),
    ("echo {{ item }} $'a'", "$'...'"),
    ('echo "a$" {{ item }} "b"', '$"'),
    ('echo "${x:-$"a"}" {{ item }}', '$"'),
    ("(( {{ item }} ))", "not an integer"),
    ("echo $[ {{ item }} ]", "not an integer"),
    ('echo "$[ {{ item }} ]"', "not an integer"),
    ("[[ {{ item }} -eq 1 ]]", "[[ ... ]]"),
    ("[[ -n x && {{ item }} -eq 1 ]]", "[[ ... ]]"),
    ("x=$([[ {{ item }} -eq 1 ]])", "[[ ... ]]"),
]


@pytest.mark.parametrize(("template", "reason"), DIVERGENT)
def test_constructs_dash_and_bash_read_differently_are_refused(template: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_shell(template, {"item": "x; id"}, WHERE, "'shell' of job 'j'")
    assert reason in info.value.message
    assert info.value.location == WHERE


@pytest.mark.parametrize(
    ("template", "value", "output"),
    [
        ("printf '%s\\n' $\"{{ item }}\"", "a$(id)", "$a$(id)"),  # dash; bash: a$(id)
        ("printf '%s\\n' \"$'\" {{ item }}", "a b", "$'\na b"),  # in "...", $' is text
        ("printf '%s\\n' {a,{{ item }}}", "b,c", "{a,b,c}"),  # dash; bash: a, b,c
        ("printf '%s\\n' $(( {{ n }} + 1 )) \"$[ {{ n }} ]\"", "", "3\n$[ 2 ]"),  # dash
        ("[[ 1 ]] || printf '%s\\n' {{ item }}", "a b", "a b"),  # no value inside [[ ]]
        ("echo $'a'", "", "$a"),  # dash; no templated value: nothing to refuse
    ],
)
def test_constructs_both_shells_agree_on_stay_allowed(
    template: str, value: str, output: str, tmp_path: Path
) -> None:
    script = render_shell(template, {"item": value, "n": 2})
    assert run("/bin/sh", script, tmp_path).decode() == output + "\n"


def test_a_comma_in_a_value_is_quoted_against_brace_expansion(tmp_path: Path) -> None:
    script = render_shell("printf '%s\\n' {a,{{ item }}}", {"item": "b,c"})
    if shutil.which("bash"):
        assert run("bash", script, tmp_path) == b"a\nb,c\n"


PAYLOADS = [
    "$(touch pwned)",
    ";touch pwned;",
    "';touch pwned;'",
    "'; touch pwned; '",
    '"; touch pwned; "',
    '";touch pwned;"',
    "`touch pwned`",
    "a[$(touch pwned)]",
    "\ntouch pwned\n",
    "')\ntouch pwned\n#",
    "'\ntouch pwned #",
    '"\ntouch pwned #',
]
FRAGMENTS = [
    "$'it\\'s'", "$'a'", "$'", "'", '"', "$\"", "\"a$\"", "$\"b\"", "((", "))", "$[", "]",
    "[[", "]]", "-eq", "{a,", "}", "\\'", "$(", ")", "${x:-", "`", ";", " ", "\n", "#",
    "x", "<<<", "case a in a)", "esac",
]  # fmt: skip


def _differential(prefix: list[str], suffix: list[str], payload: str, tmp: Path) -> None:
    template = " ".join([*prefix, "{{ item }}", *suffix])
    try:
        script = render_shell(template, {"item": payload})
    except ConfigError:
        return  # refused: nothing runs
    for shell in ("dash", "bash"):
        if shutil.which(shell) is None:
            continue
        workdir = tmp / shell
        workdir.mkdir()
        subprocess.run(
            [shell, "-c", script],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            timeout=10,
            check=False,
        )
        assert list(workdir.iterdir()) == [], f"{shell} ran the value of {template!r}: {script!r}"


@pytest.mark.parametrize(("template", "reason"), DIVERGENT)
def test_divergent_constructs_never_run_the_value_in_dash_or_bash(
    template: str, reason: str, tmp_path: Path
) -> None:
    before, after = template.split("{{ item }}")
    for index, payload in enumerate(PAYLOADS):
        (tmp_path / str(index)).mkdir()
        _differential([before], [after], payload, tmp_path / str(index))


@settings(max_examples=300, deadline=None)
@example(prefix=["echo", "$'it\\'s'"], suffix=[], payload="\ntouch pwned\n")
@example(prefix=["echo", '"a$"'], suffix=['"b"'], payload='"\ntouch pwned #')
@example(prefix=["(("], suffix=["))"], payload="$(touch pwned)")
@given(
    prefix=st.lists(st.sampled_from(FRAGMENTS), max_size=5),
    suffix=st.lists(st.sampled_from(FRAGMENTS), max_size=2),
    payload=st.sampled_from(PAYLOADS),
)
def test_no_template_runs_a_value_in_dash_or_bash(
    prefix: list[str], suffix: list[str], payload: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _differential(prefix, suffix, payload, Path(tmp))


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ("{% for i in range(3) %}{{ loop.index }}{% else %}none{% endfor %}", "123"),
        ("{% for i in [] %}x{% else %}none{% endfor %}", "none"),
        ("{% for i in [1, 2, 3] if i > 1 %}{{ i }}{% endfor %}", "23"),
        ("{% for k, v in {'a': 1}.items() %}{{ k }}{{ v }}{% endfor %}", "a1"),
        (
            "{% for n in tree recursive %}{{ n.name }}{{ loop(n.kids) }}{% endfor %}",
            "abc",
        ),
        ("{{ [1, 2] | map('string') | join(',') }}", "1,2"),
        ("{{ 'a-a' | replace('a', 'b') }} {{ 'a\nb' | indent(2) }}", "b-b a\n  b"),
        ("{{ '%05d' | format(3) }} {{ '%d' % 3 }} {{ '{:>3}'.format(1) }}", "00003 3   1"),
        ("{{ 'x' * 3 }} {{ 2 ** 10 }} {{ 'a' ~ 'b' }} {{ [1] + [2] }}", "xxx 1024 ab [1, 2]"),
        ("{{ 'x' | center(5) }}|{{ ','.join(['a', 'b']) }}", "  x  |a,b"),
    ],
)
def test_the_bounds_leave_ordinary_templates_alone(template: str, output: str) -> None:
    tree = [{"name": "a", "kids": [{"name": "b", "kids": []}, {"name": "c", "kids": []}]}]
    assert render_plain(template, {"tree": tree}) == output


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ 'x' * 10**11 }}", "larger than 1 MiB"),
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "2 s"),
        (
            "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
            "1 MiB",
        ),
        ("{% set l = [1] %}{% for i in l %}{% set _ = l.append(i) %}{% endfor %}", "to render"),
        ("{{ 10 ** (10 ** 10) }}", "too large"),
    ],
)
def test_template_bombs_are_config_errors(template: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_plain(template, {}, WHERE, "'chdir' of job 'j'")
    assert reason in info.value.message and info.value.location == WHERE
    assert info.value.hint is not None and "at most" in info.value.hint


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in [1] %}" * 30 + "{% endfor %}" * 30,
        "{% if 1 %}" * 300 + "{% endif %}" * 300,
        "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
        "{{ " + "[" * 1000 + "]" * 1000 + " }}",
        "{{ x" + "|e" * 5000 + " }}",
    ],
)
def test_templates_nested_too_deeply_are_config_errors(source: str) -> None:
    with pytest.raises(ConfigError) as info:
        render_shell(source, {"x": 1}, WHERE, "'shell' of job 'j'")
    assert "nested too deeply" in info.value.message and info.value.location == WHERE
