"""Rendering a job's text: what has no Jinja syntax is taken as it is, without Jinja2.

Most commands (`shell: pg_dump ...`, `sleep 2`) hold no `{`: rendering them through
Jinja2 gives back the text (less one trailing newline, which Jinja drops), yet
loading Jinja2 and the sandbox was a tenth of every start of the console. Such text
is handled here, with the same checks and the same results as `template.py` (the
shell quoting of `render_shell`, the word splitting of `render_command`); anything
else, and anything unusual (a `{`, a carriage return, a NUL, a long text), goes to
`template.py`, imported then.
"""

from __future__ import annotations

import shlex
from typing import Any

from jobtui.config.errors import ConfigError
from jobtui.model import Location

MAX_PLAIN = 64 * 1024
"""Longer text goes through Jinja2 (and its output bounds) whatever it holds."""


def is_plain(source: str) -> bool:
    """No Jinja syntax (every tag starts with `{`) and nothing Jinja would change but
    the trailing newline (it turns `\\r\\n` into `\\n`; a NUL is refused)."""
    return (
        len(source) <= MAX_PLAIN
        and "{" not in source
        and "\r" not in source
        and ("\x00" not in source)
    )


def _as_jinja_renders(text: str) -> str:
    """Jinja's output for text with no tags: the text, less one trailing newline."""
    return text[:-1] if text.endswith("\n") else text


def check_template(source: str, location: Location | None = None, what: str = "template") -> None:
    """Raise ConfigError if `source` is not valid Jinja (done at load time)."""
    if is_plain(source):
        return
    from jobtui.config import template

    template.check_template(source, location, what)


def render_plain(
    source: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Render without any quoting (chdir, env values): `template.render_plain`."""
    if is_plain(source):
        return _as_jinja_renders(source)
    from jobtui.config import template

    return template.render_plain(source, variables, location, what)


def render_shell(
    source: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Render for /bin/sh: `template.render_shell` (with no value to quote, the text
    is still scanned as sh would, and refused where that refuses it)."""
    if not is_plain(source):
        from jobtui.config import template

        return template.render_shell(source, variables, location, what)
    from jobtui.config.shellquote import Refused, quote_placeholders

    try:
        return quote_placeholders(_as_jinja_renders(source), [], "0")
    except Refused as e:
        from jobtui.config.template import _SHELL_HINT

        raise ConfigError(f"{e} in {what or 'shell'}", location, _SHELL_HINT) from None


def render_command(
    source: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Ansible's `command:`: `template.render_command` (words split first, each
    rendered: here, each taken as it is)."""
    if not is_plain(source):
        from jobtui.config import template

        return template.render_command(source, variables, location, what)
    what = what or "command"
    try:
        words = shlex.split(source)
    except ValueError as e:
        raise ConfigError(f"cannot split {what} into words: {e}", location) from None
    argv = [_as_jinja_renders(word) for word in words]
    if not argv or not argv[0]:
        raise ConfigError(f"{what} is empty", location, "name the program to run")
    return "exec " + " ".join(shlex.quote(arg) for arg in argv)
