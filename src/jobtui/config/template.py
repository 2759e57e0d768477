"""Jinja2 templating of commands, in a sandbox, with context-aware shell quoting.

Variables a template sees (built by `jobtui.plan.template_vars`): every host var
(group vars merged), `inventory_hostname`, `inventory_hostname_short`,
`group_names`, `groups` and `item` (None without a loop; `item.name` works for
mapping items). Undefined names are errors (StrictUndefined). Extra filters:
`basename`, `dirname`, `to_json`, and `quote`, which does nothing here because
every value is already quoted (Ansible users write `| quote` out of habit).

`render_shell` quotes every `{{ expr }}` for the place it lands in: each value is
first replaced by an unguessable placeholder, then the whole output is scanned
with a small POSIX sh lexer that knows unquoted text, '...', "...", $(...),
${...}, `...`, $((...)), comments and here-documents, and each placeholder
becomes the value quoted for its context. A quoted value never changes the
lexer's state, so the scan stays right after it. Where no quoting is safe (inside
${...}, backquotes, $'...', a here-document, right after `$` or `\\`) the template
is refused with a hint, rather than guessed at. Output that does not pass through
`{{ }}` (macros, `{% set %}` blocks) cannot be printed in shell commands.
"""

from __future__ import annotations

import json
import os.path
import re
import secrets
import shlex
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from jobtui.config.errors import ConfigError, did_you_mean
from jobtui.model import Location

_TOP, _CMDSUB, _SINGLE, _DOUBLE, _PARAM, _BACKTICK, _ARITH, _ANSIC, _COMMENT = range(9)
_UNQUOTED = (_TOP, _CMDSUB)
_BARE_SAFE = re.compile(r"[A-Za-z0-9_@%+:,./-]+")
_RESERVED = frozenset(
    "! { } [[ ]] case do done elif else esac fi for function if in select then time until while"
    .split()
)
_OPERATOR_CHARS = frozenset(" \t;&|<>()")


@dataclass
class _RenderState:
    nonce: str = field(default_factory=lambda: str(secrets.randbelow(10**18)).zfill(18))
    values: list[str] = field(default_factory=list)


_state: ContextVar[_RenderState | None] = ContextVar("jobtui_render_state", default=None)


class _Refused(Exception):
    """A value that cannot be rendered safely (raised inside Jinja, turned into ConfigError)."""


@jinja2.pass_context
def _finalize(_context: jinja2.runtime.Context, value: Any) -> str:
    # pass_context keeps Jinja from folding constant `{{ "a b" }}` at compile time,
    # so constants are quoted like any other value.
    text = "" if value is None else str(value)
    if "\x00" in text:
        raise _Refused(
            "a macro or {% set %} block cannot be printed in a command"
            if (state := _state.get()) is not None and state.nonce in text
            else "a value contains a NUL character"
        )
    state = _state.get()
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
        return _ShellQuoter(marked, state).run()
    except _Refused as e:
        raise ConfigError(f"{e} in {what or 'shell'}", location, _SHELL_HINT) from None


_SHELL_HINT = "put the value in an env: variable and use \"$NAME\" there"


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
        _render(re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], word), variables,
                location, what)
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
    except _Refused as e:
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


def _single_quoted(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def quote_word(value: str) -> str:
    """One literal shell word: bare when plainly safe, else single-quoted.

    Unlike shlex.quote, `a=b` and reserved words (`if`, `fi`) are quoted too, so
    a value can never become an assignment or a keyword.
    """
    if _BARE_SAFE.fullmatch(value) and value not in _RESERVED and "=" not in value:
        return value
    return _single_quoted(value)


class _ShellQuoter:
    """Scans rendered text with placeholders, replacing each by its quoted value."""

    def __init__(self, text: str, state: _RenderState) -> None:
        self.text = text
        self.values = state.values
        self.marker = re.compile("\x00" + state.nonce + r"_(\d+)\x00")
        self.i = 0
        self.out: list[str] = []
        self.stack: list[list[int]] = [[_TOP, 0, 0]]  # [kind, paren depth, case depth]
        self.word_start = True
        self.heredocs: list[tuple[str, bool]] = []

    def run(self) -> str:
        text = self.text
        handlers: dict[int, Callable[[str], None]] = {
            _TOP: self.unquoted, _CMDSUB: self.unquoted, _SINGLE: self.single,
            _DOUBLE: self.double, _PARAM: self.param, _BACKTICK: self.backtick,
            _ARITH: self.arith, _ANSIC: self.ansic, _COMMENT: self.comment,
        }  # fmt: skip
        while self.i < len(text):
            match = self.marker.match(text, self.i)
            if match:
                self.out.append(self.quote(self.values[int(match.group(1))]))
                self.i = match.end()
            else:
                handlers[self.stack[-1][0]](text[self.i])
        result = "".join(self.out)
        if "\x00" in result:
            raise _Refused("a filter block altered a templated value")
        if self.values and [f[0] for f in self.stack if f[0] != _COMMENT] != [_TOP]:
            raise _Refused("unterminated quote or substitution around a templated value")
        return result

    def quote(self, value: str) -> str:
        kind = self.stack[-1][0]
        if kind in _UNQUOTED:
            self.word_start = False
            return quote_word(value)
        if kind == _SINGLE:
            return value.replace("'", "'\\''")
        if kind == _DOUBLE:
            return re.sub(r'([$`"\\])', r"\\\1", value)
        if kind == _ARITH and re.fullmatch(r"[+-]?[0-9]+", value):
            return value
        if kind == _COMMENT and "\n" not in value:
            return quote_word(value)
        where = {
            _PARAM: "inside ${...}", _BACKTICK: "inside `...` (use $(...))",
            _ANSIC: "inside $'...'", _ARITH: "that is not an integer, inside $((...))",
            _COMMENT: "with a newline, inside a # comment",
        }[kind]  # fmt: skip
        raise _Refused(f"a templated value {where} cannot be quoted safely")

    def emit(self, count: int = 1) -> None:
        self.out.append(self.text[self.i : self.i + count])
        self.i += count

    def push(self, kind: int, count: int = 1) -> None:
        self.stack.append([kind, 0, 0])
        self.emit(count)

    def pop(self, count: int = 1) -> None:
        self.stack.pop()
        self.emit(count)

    def marker_at(self, offset: int) -> bool:
        return self.text.startswith("\x00", self.i + offset)

    def escaped_pair(self) -> None:
        if self.marker_at(1):
            raise _Refused("a backslash right before {{ }}")
        self.emit(2)

    def dollar(self) -> None:
        text, i = self.text, self.i
        if self.marker_at(1):
            raise _Refused("a '$' right before {{ }}")
        if text.startswith("$((", i):
            self.push(_ARITH, 3)
        elif text.startswith("$(", i):
            self.push(_CMDSUB, 2)
            self.word_start = True
        elif text.startswith("${", i):
            self.push(_PARAM, 2)
        elif text.startswith("$'", i) and self.stack[-1][0] in _UNQUOTED:
            self.push(_ANSIC, 2)
        else:
            self.emit()

    def unquoted(self, char: str) -> None:
        frame = self.stack[-1]
        starts_word, self.word_start = self.word_start, False
        if char == "\\":
            self.escaped_pair()
        elif char == "'":
            self.push(_SINGLE)
        elif char == '"':
            self.push(_DOUBLE)
        elif char == "`":
            self.push(_BACKTICK)
        elif char == "$":
            self.dollar()
        elif char == "#" and starts_word:
            self.push(_COMMENT)
        elif char == "\n":
            self.word_start = True
            self.emit()
            self.heredoc_bodies()
        elif self.text.startswith("<<", self.i) and not self.text.startswith("<<<", self.i):
            self.heredoc_operator()
            self.word_start = True
        elif char == ")" and frame[0] == _CMDSUB and frame[1] == 0 and frame[2] == 0:
            self.pop()
        elif char in _OPERATOR_CHARS:
            if frame[0] == _CMDSUB and char in "()":
                frame[1] = max(0, frame[1] + (1 if char == "(" else -1)) if frame[1] or (
                    char == "("
                ) else frame[1]
            self.word_start = True
            self.emit()
        else:
            if starts_word and frame[0] == _CMDSUB:
                # `case x in a) ...` inside $(...): that `)` must not close the substitution.
                word = re.match(r"(case|esac)(?=[\s;)]|$)", self.text[self.i : self.i + 5])
                if word:
                    frame[2] = frame[2] + 1 if word.group(1) == "case" else max(0, frame[2] - 1)
            self.emit()

    def single(self, char: str) -> None:
        self.pop() if char == "'" else self.emit()

    def double(self, char: str) -> None:
        if char == "\\":
            self.escaped_pair()
        elif char == '"':
            self.pop()
        elif char == "`":
            self.push(_BACKTICK)
        elif char == "$":
            self.dollar()
        else:
            self.emit()

    def param(self, char: str) -> None:
        if char == "}":
            self.pop()
        elif char == "'":
            self.push(_SINGLE)
        else:
            self.double(char)  # quotes, $ and ` nest as they do in "..."

    def backtick(self, char: str) -> None:
        if char == "\\":
            self.escaped_pair()
        elif char == "`":
            self.pop()
        else:
            self.emit()

    def ansic(self, char: str) -> None:
        if char == "\\":
            self.escaped_pair()
        elif char == "'":
            self.pop()
        else:
            self.emit()

    def arith(self, char: str) -> None:
        frame = self.stack[-1]
        if char == "(":
            frame[1] += 1
            self.emit()
        elif char == ")" and frame[1]:
            frame[1] -= 1
            self.emit()
        elif self.text.startswith("))", self.i):
            self.pop(2)
        else:
            self.double(char)

    def comment(self, char: str) -> None:
        if char == "\n":
            self.stack.pop()  # the newline itself is handled by the enclosing context
        else:
            self.emit()

    def heredoc_operator(self) -> None:
        """`<<WORD` / `<<-WORD`: remember the delimiter; the body starts at the next newline."""
        self.emit(2)
        strip_tabs = self.text.startswith("-", self.i)
        if strip_tabs:
            self.emit()
        while self.text.startswith((" ", "\t"), self.i):
            self.emit()
        delimiter: list[str] = []
        quote = ""
        while self.i < len(self.text):
            char = self.text[self.i]
            if char == "\x00":
                raise _Refused("a templated here-document delimiter")
            if quote:
                if char == quote:
                    quote = ""
                else:
                    delimiter.append(char)
            elif char in "'\"":
                quote = char
            elif char == "\\" and self.i + 1 < len(self.text):
                self.emit()
                delimiter.append(self.text[self.i])
            elif char in _OPERATOR_CHARS or char == "\n":
                break
            else:
                delimiter.append(char)
            self.emit()
        self.heredocs.append(("".join(delimiter), strip_tabs))

    def heredoc_bodies(self) -> None:
        for delimiter, strip_tabs in self.heredocs:
            while self.i < len(self.text):
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end + 1
                line = self.text[self.i : end]
                if "\x00" in line:
                    raise _Refused("a templated value inside a here-document")
                self.emit(end - self.i)
                body = line.rstrip("\n")
                if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                    break
        self.heredocs.clear()
