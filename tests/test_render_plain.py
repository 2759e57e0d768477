"""config/render.py gives what template.py gives, for text with no template in it."""

from __future__ import annotations

import pytest

from jobtui.config import render, template
from jobtui.config.errors import ConfigError

PLAIN = [
    "sleep 2",
    "pg_dump -Fc app > /backup/app.dump\n",
    "echo 'a b' \"c $HOME\" \\\n  && true\n\n",
    "printf '%s\\n' x | tr x y; exit 3",
    "echo 'unclosed",
    'echo "unclosed',
    "",
    "\n",
    "cat <<EOF\nline\nEOF\n",
    "a=$(date) `true` $x",
    "   ",
    "'quoted prog' --flag='x y'",
]


def outcome(fn: object, *args: object) -> tuple[str, str]:
    try:
        return ("ok", fn(*args))  # type: ignore[operator]
    except ConfigError as e:
        return ("error", str(e))


@pytest.mark.parametrize("text", PLAIN)
@pytest.mark.parametrize("name", ["render_shell", "render_plain", "render_command"])
def test_plain_text_renders_as_jinja_renders_it(text: str, name: str) -> None:
    assert render.is_plain(text)
    fast, slow = getattr(render, name), getattr(template, name)
    assert outcome(fast, text, {}, None, "shell") == outcome(slow, text, {}, None, "shell")


@pytest.mark.parametrize("text", ["echo {{ x }}", "a\r\nb", "a\x00b", "x" * (64 * 1024 + 1)])
def test_anything_else_goes_to_jinja(text: str) -> None:
    assert not render.is_plain(text)
    assert outcome(render.render_plain, text, {"x": 1}) == outcome(
        template.render_plain, text, {"x": 1}
    )


def test_check_template_refuses_what_template_refuses() -> None:
    with pytest.raises(ConfigError):
        render.check_template("echo {{ unclosed")
    render.check_template("echo plain")
