"""Quote values for the place they land in a POSIX sh command line.

`quote_placeholders` gets a rendered command in which every templated value is a
placeholder `\x00<nonce>_<index>\x00`. It scans the text with a small sh lexer
(unquoted text, '...', "...", $(...), ${...}, `...`, $((...)), comments,
here-documents) and replaces each placeholder by its value quoted for that
context: unquoted -> one quoted word; '...' -> ' becomes '\\''; "..." -> $ ` " \\
get a backslash; $((...)) -> integers only; a comment -> no newline. A quoted value
never changes the lexer's state, so the scan stays right after it. Where no
quoting is safe (inside ${...}, backquotes, a here-document, right after `$` or a
backslash), it raises `Refused` rather than guess.

Which sh: jobs run under the host's /bin/sh, which is dash on Debian and Ubuntu,
bash (in POSIX mode) on RHEL and its kin, and busybox ash on Alpine. A template is
quoted once for all of them, so where they read the same text differently no
quoting is right for both, and a template that has a templated value is refused:

- `$'...'` is ANSI-C quoting in bash and ash, but in dash a `$` followed by an
  ordinary '...' (where a backslash is literal): after `$'it\\'s'` dash is inside a
  quote where bash is not, so a value quoted for one is code for the other.
- `$"` inside "..." or "${...}": bash opens a locale string there, dash ends the
  double quote.
- bash's arithmetic contexts `((...))` and `$[...]` (plain text or nested
  subshells in dash) expand `$(...)` even inside single quotes: integers only,
  as in `$((...))`.
- `[[ ... ]]` (bash only) evaluates the operands of `-eq` and its kin as
  arithmetic, which runs a `$(...)` in an array subscript: no value inside.
- A `,` is quoted (`'b,c'`), so a value inside bash's brace expansion `{a,...}`
  stays one word.

The constructs themselves stay allowed where no value is templated, and `$"..."`
outside double quotes (a double-quoted string in both shells). A value given to a
command that runs its arguments as code (`eval`, `sh -c`, `let`, `ssh`) arrives as
one literal argument and is then run by that command: that is the template's
choice, not something quoting can prevent.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple


class Refused(Exception):
    """A value that cannot be placed safely; the caller turns it into a ConfigError."""


_TOP, _CMDSUB, _SINGLE, _DOUBLE, _PARAM, _BACKTICK, _ARITH, _ANSIC, _COMMENT = range(9)
_UNQUOTED = (_TOP, _CMDSUB)
_BARE_SAFE = re.compile(r"[A-Za-z0-9_@%+:./-]+")  # no `,`: bash brace expansion
_RESERVED = frozenset(
    {"!", "{", "}", "[[", "]]", "case", "do", "done", "elif", "else", "esac", "fi", "for"}
    | {"function", "if", "in", "select", "then", "time", "until", "while"}
)
_OPERATOR_CHARS = frozenset(" \t;&|<>()")
# One pattern for every nonce: a pattern per render overflowed re's cache (100,000 runs).
_MARKER = re.compile(r"\x00(\d+)_(\d+)\x00")


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

    def __init__(self, text: str, values: list[str], nonce: str) -> None:
        self.text = text
        self.values = values
        self.nonce = nonce
        self.i = 0
        self.out: list[str] = []
        # Frames are [kind, n, m, in [[ ]]]; n is the paren depth in $(...) and
        # $((...)) (the bracket depth in $[...]), and 1 for a ${...} inside double
        # quotes; m is the case depth in $(...), and 1 for a $[...] (which ends at `]`).
        self.stack: list[list[int]] = [[_TOP, 0, 0, 0]]
        self.word_start = True
        self.heredocs: list[tuple[str, bool]] = []
        self.slots: list[tuple[int, int, int, int]] = []
        self.error: str | None = None

    def run(self) -> None:
        """Scan the text; values are not looked at, only where each placeholder stands.

        Fills `out` (with "" at each placeholder) and `slots`; a refusal the text
        itself causes is kept in `error`, after `len(slots)` placeholders.
        """
        text = self.text
        handlers: dict[int, Callable[[str], None]] = {
            _TOP: self.unquoted, _CMDSUB: self.unquoted, _SINGLE: self.single,
            _DOUBLE: self.double, _PARAM: self.param, _BACKTICK: self.backtick,
            _ARITH: self.arith, _ANSIC: self.ansic, _COMMENT: self.comment,
        }  # fmt: skip
        try:
            while self.i < len(text):
                match = _MARKER.match(text, self.i) if text[self.i] == "\x00" else None
                if match and match.group(1) == self.nonce:
                    frame = self.stack[-1]
                    self.slots.append((len(self.out), int(match.group(2)), frame[0], frame[3]))
                    self.out.append("")
                    if frame[0] in _UNQUOTED:
                        self.word_start = False
                    self.i = match.end()
                else:
                    handlers[self.stack[-1][0]](text[self.i])
            if "\x00" in "".join(self.out):
                raise Refused("a filter block altered a templated value")
            if self.values and [f[0] for f in self.stack if f[0] != _COMMENT] != [_TOP]:
                raise Refused("unterminated quote or substitution around a templated value")
        except Refused as e:
            self.error = str(e)

    def emit(self, count: int = 1) -> None:
        self.out.append(self.text[self.i : self.i + count])
        self.i += count

    def push(self, kind: int, count: int = 1) -> None:
        self.stack.append([kind, 0, 0, 0])
        self.emit(count)

    def pop(self, count: int = 1) -> None:
        self.stack.pop()
        self.emit(count)

    def marker_at(self, offset: int) -> bool:
        return self.text.startswith("\x00", self.i + offset)

    def escaped_pair(self) -> None:
        if self.marker_at(1):
            raise Refused("a backslash right before {{ }}")
        self.emit(2)

    def dollar(self) -> None:
        text, i = self.text, self.i
        if self.marker_at(1):
            raise Refused("a '$' right before {{ }}")
        kind = self.stack[-1][0]
        if text.startswith("$'", i) and self.values and kind != _DOUBLE:
            raise Refused(
                "$'...' near a templated value (bash reads ANSI-C quoting, dash a '$' and a"
                " '...' string: no quoting is safe for both)"
            )
        if text.startswith('$"', i) and self.values and kind not in _UNQUOTED:
            raise Refused(
                '$" inside "..." near a templated value (bash opens a locale string there,'
                " dash ends the quote: write \\$ for a literal $)"
            )
        if text.startswith("$[", i):  # bash's old $((...)); in dash plain text
            self.push(_ARITH, 2)
            self.stack[-1][2] = 1
        elif text.startswith("$((", i):
            self.push(_ARITH, 3)
        elif text.startswith("$(", i):
            self.push(_CMDSUB, 2)
            self.word_start = True
        elif text.startswith("${", i):
            outer = self.stack[-1]
            in_double = outer[0] == _DOUBLE or (outer[0] == _PARAM and outer[1] == 1)
            self.push(_PARAM, 2)
            self.stack[-1][1] = int(in_double)
        elif text.startswith("$'", i) and kind in _UNQUOTED:
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
        elif starts_word and self.text.startswith("((", self.i):
            self.push(_ARITH, 2)  # bash's arithmetic command (nested subshells in dash)
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
            if frame[0] == _CMDSUB and char == "(":
                frame[1] += 1
            elif frame[0] == _CMDSUB and char == ")" and frame[1]:
                frame[1] -= 1
            self.word_start = True
            self.emit()
        else:
            if starts_word:
                # `[[ ... ]]`: bash's conditional; in dash a command named `[[`.
                word = re.match(r"(\[\[|\]\])(?=[\s;&|)]|$)", self.text[self.i : self.i + 3])
                if word:
                    frame[3] = int(word.group(1) == "[[")
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
        in_double = self.stack[-1][1]
        if char == "}":
            self.pop()
        elif char == "'" and in_double and self.values:
            # dash reads "${x:+'}" as a plain quote, bash as the start of a quoted string.
            raise Refused('a \' inside "${...}" (shells disagree on it) near a templated value')
        elif char == "'":
            self.push(_SINGLE)
        elif char == '"':
            self.push(_DOUBLE)
        else:
            self.double(char)  # backslash, $ and ` as in "..."

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
        opener, closer = "[]" if frame[2] else "()"
        if char == opener:
            frame[1] += 1
            self.emit()
        elif char == closer and frame[1]:
            frame[1] -= 1
            self.emit()
        elif frame[2] and char == "]":
            self.pop()
        elif not frame[2] and self.text.startswith("))", self.i):
            self.pop(2)
        elif char in "\\$`":
            self.double(char)
        else:
            self.emit()

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
                raise Refused("a templated here-document delimiter")
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
                    raise Refused("a templated value inside a here-document")
                self.emit(end - self.i)
                body = line.rstrip("\n")
                if (body.lstrip("\t") if strip_tabs else body) == delimiter:
                    break
        self.heredocs.clear()


def _quote_for(kind: int, in_conditional: int, value: str) -> str:
    """`value` quoted for a placeholder that stands in `kind` (a lexer context)."""
    if kind in _UNQUOTED and in_conditional:
        raise Refused(
            "a templated value inside [[ ... ]] (bash only, where -eq and the like run"
            " a $(...) in the value) cannot be quoted safely (use [ ... ])"
        )
    if kind in _UNQUOTED:
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
        _ANSIC: "inside $'...'",
        _ARITH: "that is not an integer, inside $((...)), ((...)) or $[...]",
        _COMMENT: "with a newline, inside a # comment",
    }[kind]  # fmt: skip
    raise Refused(f"a templated value {where} cannot be quoted safely")


class _Scan(NamedTuple):
    pieces: tuple[str, ...]
    slots: tuple[tuple[int, int, int, int], ...]
    """(index in pieces, value index, lexer context, inside [[ ]]) per placeholder."""
    error: str | None


@lru_cache(maxsize=1024)
def _scan(text: str, count: int) -> _Scan:
    # Where a placeholder stands depends on the text around it, never on the values:
    # scanned once per distinct command, which 100,000 hosts share.
    quoter = _ShellQuoter(text, [""] * count, "0")
    quoter.run()
    return _Scan(tuple(quoter.out), tuple(quoter.slots), quoter.error)


def quote_placeholders(text: str, values: list[str], nonce: str) -> str:
    """Replace each placeholder in `text` by `values[i]`, quoted for its context."""
    # Every NUL in `text` is one of this render's placeholders: neither a template
    # nor a value may hold one (template.py refuses both).
    scan = _scan(text.replace("\x00" + nonce + "_", "\x000_"), len(values))
    out = list(scan.pieces)
    for position, index, kind, in_conditional in scan.slots:
        out[position] = _quote_for(kind, in_conditional, values[index])
    if scan.error is not None:
        raise Refused(scan.error)
    return "".join(out)
