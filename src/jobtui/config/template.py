"""Jinja2 templating of commands, in a sandbox, with context-aware shell quoting.

Variables a template sees (built by `jobtui.plan.template_vars`): every host var
(group vars merged), `inventory_hostname`, `inventory_hostname_short`,
`group_names`, `groups` and `item` (None without a loop; `item.name` works for
mapping items). Undefined names are errors (StrictUndefined). Extra filters:
`basename`, `dirname`, `to_json`, and `quote`, which does nothing here because
every value is already quoted (Ansible users write `| quote` out of habit).

`render_shell` quotes every `{{ expr }}` for the place it lands in: `finalize`
replaces each value by an unguessable placeholder (a per-render random nonce), and
`jobtui.config.shellquote` then scans the output like sh would and puts each value
back, quoted for its context, or refuses the template where no quoting is safe.
Values only ever reach the output through that path; output of macros and
`{% set %}` blocks (which already holds placeholders) cannot be printed in shell.
"""

from __future__ import annotations

import json
import os.path
import re
import secrets
import shlex
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from jobtui.config.errors import ConfigError, did_you_mean
from jobtui.config.shellquote import Refused, quote_placeholders
from jobtui.model import Location


@dataclass
class _RenderState:
    nonce: str = field(default_factory=lambda: str(secrets.randbelow(10**18)).zfill(18))
    values: list[str] = field(default_factory=list)


_state: ContextVar[_RenderState | None] = ContextVar("jobtui_render_state", default=None)


@jinja2.pass_context
def _finalize(_context: Context, value: Any) -> str:
    # pass_context keeps Jinja from folding constant `{{ "a b" }}` at compile time,
    # so constants are quoted like any other value.
    state = _state.get()
    text = "" if value is None else str(value)
    if "\x00" in text:
        if state is not None and state.nonce in text:
            raise Refused("a macro or {% set %} block cannot be printed in a command")
        raise Refused("a value contains a NUL character")
    if state is None:
        return text
    state.values.append(text)
    return f"\x00{state.nonce}_{len(state.values) - 1}\x00"


def _env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,  # as Ansible does
        autoescape=False,
    )
    env.filters["quote"] = lambda value: value
    env.filters["basename"] = lambda value: os.path.basename(str(value))
    env.filters["dirname"] = lambda value: os.path.dirname(str(value))
    env.filters["to_json"] = lambda value: json.dumps(value, sort_keys=True, default=str)
    return env


_ENV = _env()


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    return _ENV.from_string(source)


def check_template(source: str, location: Location | None = None, what: str = "template") -> None:
    """Raise ConfigError if `source` is not valid Jinja (done at load time)."""
    _template(source, location, what)


def render_plain(
    template: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Render without any quoting (chdir, env values)."""
    return _render(template, variables, location, what or "template")


def render_shell(
    template: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Render for /bin/sh: every `{{ }}` value arrives as literal text, never as code."""
    state = _RenderState()
    token = _state.set(state)
    try:
        marked = _render(template, variables, location, what or "shell")
    finally:
        _state.reset(token)
    try:
        return quote_placeholders(marked, state.values, state.nonce)
    except Refused as e:
        raise ConfigError(f"{e} in {what or 'shell'}", location, _SHELL_HINT) from None


_SHELL_HINT = 'put the value in an env: variable and use "$NAME" there'


def render_command(
    template: str, variables: dict[str, Any], location: Location | None = None, what: str = ""
) -> str:
    """Ansible's `command:`: split into words first, render each, return `exec 'argv'...`.

    Each word is rendered on its own, so a value with spaces stays one argument
    (and `{% %}` blocks must open and close within one word).
    """
    what = what or "command"
    spans: list[str] = []

    def hide(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\x00{len(spans) - 1}\x00"

    if "\x00" in template:
        raise ConfigError(f"{what} contains a NUL character", location)
    # Jinja tags may hold spaces and quotes: keep each one inside a single word.
    hidden = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", hide, template, flags=re.S)
    try:
        words = shlex.split(hidden)
    except ValueError as e:
        raise ConfigError(f"cannot split {what} into words: {e}", location) from None
    argv = [
        _render(
            re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], word),
            variables,
            location,
            what,
        )
        for word in words
    ]
    if not argv or not argv[0]:
        raise ConfigError(f"{what} is empty", location, "name the program to run")
    return "exec " + " ".join(shlex.quote(arg) for arg in argv)


def _template(source: str, location: Location | None, what: str) -> jinja2.Template:
    if "\x00" in source:
        raise ConfigError(f"{what} contains a NUL character", location)
    try:
        return _compile(source)
    except jinja2.TemplateSyntaxError as e:
        line = f" (template line {e.lineno})" if "\n" in source.strip() else ""
        raise ConfigError(
            f"template syntax error in {what}: {e.message}{line}", location, "check {{ }} and {% %}"
        ) from None


def _render(source: str, variables: dict[str, Any], location: Location | None, what: str) -> str:
    template = _template(source, location, what)
    try:
        return template.render(variables)
    except jinja2.UndefinedError as e:
        raise ConfigError(
            f"{e.message} in {what}", location, _undefined_hint(str(e.message), variables)
        ) from None
    except Refused as e:
        raise ConfigError(f"{e} in {what}", location) from None
    except jinja2.TemplateError as e:  # SecurityError from the sandbox, among others
        raise ConfigError(f"cannot render {what}: {e}", location) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as e:
        raise ConfigError(f"cannot render {what}: {e}", location) from None


def _undefined_hint(message: str, variables: dict[str, Any]) -> str | None:
    if match := re.match(r"'([^']+)' is undefined", message):
        return did_you_mean(match.group(1), list(variables)) or "define it in the inventory vars"
    if (match := re.search(r"has no attribute '([^']+)'", message)) and isinstance(
        item := variables.get("item"), dict
    ):
        return did_you_mean(match.group(1), [str(k) for k in item]) or (
            "the item has: " + ", ".join(str(k) for k in item)
        )
    return None
