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

Bounds: a template comes from a job file, which may be hostile or just wrong, and
`jobtui check` must answer. One render may output at most `MAX_OUTPUT` characters,
build no string, list or dict larger than that, compute no integer over
`MAX_INT_BITS` bits, and take at most `TIME_LIMIT` seconds; beyond that it is
refused with a ConfigError. The checks sit where the sandbox lets code run: every
call, attribute and item lookup, `* ** + %`, every filter, every `{% for %}`
iteration (each loop's iterable is wrapped in a guard when the template is
compiled) and every output chunk. Sizes are checked before the work where the
cost is known in advance (`'x' * n`, `center(n)`, `replace`, format widths), after
it elsewhere (the operands are already bounded, so that work is bounded too).
"""

from __future__ import annotations

import functools
import json
import os.path
import re
import secrets
import shlex
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from jobtui.config.errors import ConfigError, did_you_mean
from jobtui.config.shellquote import Refused, quote_placeholders
from jobtui.model import SECRET_VARS, Location


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
    budget = _budget.get()
    if budget is not None:  # the output holds a placeholder: count the value itself
        budget.add_output(len(text))
    state.values.append(text)
    return f"\x00{state.nonce}_{len(state.values) - 1}\x00"


MAX_OUTPUT = 1024 * 1024
"""Characters one render may output; also the largest string, list or dict it may build."""
MAX_INT_BITS = 100_000
TIME_LIMIT = 2.0
"""Seconds one render may take."""
_LIMITS_HINT = (
    f"a template may output and build at most {MAX_OUTPUT // (1024 * 1024)} MiB and take"
    f" at most {TIME_LIMIT:g} s per host and item: loop over fewer items"
)


class _TooCostly(Exception):
    """A render went past one of the bounds; the message says which."""


class _Budget:
    """The bounds of one render: a deadline and the output so far."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.output = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _TooCostly(f"takes more than {TIME_LIMIT:g} s to render")

    def add_output(self, size: int) -> None:
        self.output += size
        if self.output > MAX_OUTPUT:
            raise _TooCostly(f"renders more than {MAX_OUTPUT // (1024 * 1024)} MiB")


_budget: ContextVar[_Budget | None] = ContextVar("jobtui_render_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _sized(value: Any) -> Any:
    """`value`, unless it is a string, list or dict over MAX_OUTPUT, or a huge integer."""
    if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > MAX_OUTPUT:
        raise _TooCostly(f"builds a value larger than {MAX_OUTPUT // (1024 * 1024)} MiB")
    if isinstance(value, int):
        _expect_bits(value.bit_length())
    return value


def _expect_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise _TooCostly(f"computes a number too large (over {MAX_INT_BITS} bits)")


def _expect_size(size: int) -> None:
    if size > MAX_OUTPUT:
        raise _TooCostly(f"builds a value larger than {MAX_OUTPUT // (1024 * 1024)} MiB")


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_counts(args: Iterable[Any]) -> None:
    """Widths and counts (`center(n)`, `ljust(n)`, `batch(n)`) are bounded like sizes."""
    for arg in args:
        if _is_count(arg) and abs(arg) > MAX_OUTPUT:
            _expect_size(abs(arg))


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")


def _check_format(fmt: str, args: Any) -> None:
    """`'%0999999999d' % 1` and `'{:999999999}'.format(1)` would build a GiB string."""
    widths = [w for m in _PERCENT_SPEC.finditer(fmt) for w in m.groups() if w]
    widths += [w for m in _BRACE_SPEC.finditer(fmt) for w in re.findall(r"\d+", m.group(1))]
    for width in widths:
        if width == "*":
            _check_counts(args if isinstance(args, tuple | list) else [args])
        else:
            _expect_size(int(width) if len(width) < 10 else MAX_OUTPUT + 1)


def _check_replace(value: str, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(old, str) and isinstance(new, str):
        times = value.count(old) if old else len(value) + 1
        if _is_count(count) and count >= 0:
            times = min(times, count)
        _expect_size(len(value) + times * max(len(new) - len(old), 0))


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)  # keeps jinja's pass_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_counts([*args, *kwargs.values()])
        plain = [a for a in args if not isinstance(a, Context | jinja2.nodes.EvalContext)]
        if name == "replace" and len(plain) >= 3 and isinstance(plain[0], str):
            _check_replace(*plain[:4])
        elif name == "indent" and plain and isinstance(plain[0], str):
            width = kwargs.get("width", plain[1] if len(plain) > 1 else 4)
            size = len(width) if isinstance(width, str) else width if _is_count(width) else 0
            _expect_size(len(plain[0]) + (plain[0].count("\n") + 1) * size)
        elif name == "format" and plain and isinstance(plain[0], str):
            _check_format(plain[0], tuple(plain[1:]))
        return _sized(func(*args, **kwargs))

    return guarded


class _Sandbox(SandboxedEnvironment):
    """The sandbox, with every way a template runs code bounded in size and time."""

    # Intercepted, so that Jinja does not fold them at compile time either.
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        _check_counts([*args, *kwargs.values()])
        owner = getattr(__obj, "__self__", None)
        method = getattr(__obj, "__name__", "")
        if isinstance(owner, str):
            if method == "replace" and len(args) >= 2:
                _check_replace(owner, *args[:3])
            elif method == "join" and args:
                items = list(args[0])
                _sized(items)
                lengths = sum(len(i) for i in items if isinstance(i, str))
                _expect_size(lengths + len(owner) * max(len(items) - 1, 0))
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, list | dict | set):
            _sized(owner)  # l.append(x) in a loop over l grows for ever
        return _sized(result)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_format(obj, ())  # the sandbox hands back a wrapper, not the method
        return _sized(super().getattr(obj, attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        if isinstance(obj, str) and argument in ("format", "format_map"):
            _check_format(obj, ())  # 'x'['format'] is 'x'.format in Jinja
        return _sized(super().getitem(obj, argument))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and _is_count(times):
                    _expect_size(len(seq) * max(times, 0))
            if _is_count(left) and _is_count(right):
                _expect_bits(left.bit_length() + right.bit_length())
        elif operator == "**" and _is_count(left) and _is_count(right) and abs(left) > 1:
            _expect_bits(max(right, 0) * left.bit_length())
        elif operator == "%" and isinstance(left, str):
            _check_format(left, right)
        return _sized(super().call_binop(context, operator, left, right))


class _LoopGuard(Extension):
    """Wraps each `{% for %}` iterable, so that every iteration checks the deadline.

    An empty loop body runs no other hook: without this, three nested loops over one
    long list would run unchecked.
    """

    def guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        budget = _budget.get()
        for value in iterable:
            if budget is not None:
                budget.tick()
            yield value

    def wrap_loops(self, tree: nodes.Template) -> nodes.Template:
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(self.attr("guard"), [loop.iter], [], None, None)
        return tree


def _env() -> _Sandbox:
    env = _Sandbox(
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,  # as Ansible does
        autoescape=False,
        extensions=[_LoopGuard],
    )
    env.filters["quote"] = lambda value: value
    env.filters["basename"] = lambda value: os.path.basename(str(value))
    env.filters["dirname"] = lambda value: os.path.dirname(str(value))
    env.filters["to_json"] = lambda value: json.dumps(value, sort_keys=True, default=str)
    for name, func in list(env.filters.items()):
        env.filters[name] = _guard_filter(name, func)
    return env


_ENV = _env()


@lru_cache(maxsize=512)
def _compile(source: str) -> jinja2.Template:
    guard = _ENV.extensions[_LoopGuard.identifier]
    assert isinstance(guard, _LoopGuard)
    return _ENV.from_string(guard.wrap_loops(_ENV.parse(source)))


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
    except (SyntaxError, RecursionError, MemoryError):
        # Python's compiler allows 20 nested blocks, and Jinja's parser recurses.
        raise ConfigError(
            f"template in {what} is nested too deeply",
            location,
            "at most 20 nested {% for %}/{% if %} blocks, and fewer nested brackets",
        ) from None


def _render(source: str, variables: dict[str, Any], location: Location | None, what: str) -> str:
    template = _template(source, location, what)
    budget = _Budget()
    token = _budget.set(budget)
    try:
        chunks: list[str] = []
        for chunk in template.generate(variables):
            budget.tick()
            budget.add_output(len(chunk))
            chunks.append(chunk)
        return "".join(chunks)
    except _TooCostly as e:
        raise ConfigError(f"{what} {e}", location, _LIMITS_HINT) from None
    except MemoryError:
        raise ConfigError(f"{what} runs out of memory", location, _LIMITS_HINT) from None
    except RecursionError:
        raise ConfigError(f"{what} recurses too deeply", location, _LIMITS_HINT) from None
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
    finally:
        _budget.reset(token)


def _undefined_hint(message: str, variables: dict[str, Any]) -> str | None:
    if match := re.match(r"'([^']+)' is undefined", message):
        if match.group(1) in SECRET_VARS:
            return (
                "a password is never put in a command (it would be in an argv on the host"
                " and in the store); give it to the job with env: {NAME: {from_env: VAR}}"
            )
        return did_you_mean(match.group(1), list(variables)) or "define it in the inventory vars"
    if (match := re.search(r"has no attribute '([^']+)'", message)) and isinstance(
        item := variables.get("item"), dict
    ):
        return did_you_mean(match.group(1), [str(k) for k in item]) or (
            "the item has: " + ", ".join(str(k) for k in item)
        )
    return None
