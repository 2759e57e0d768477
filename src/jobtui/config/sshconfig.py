"""OpenSSH client config files, read for paramiko's `SSHConfig` to match.

paramiko parses the blocks and matches them (`Host` patterns and negation, `Match`,
first value wins, `IdentityFile` accumulating); this module only feeds it:

- It checks every line first, as OpenSSH's `readconf.c` would, because paramiko's
  errors name no file and no line: a keyword without a value, unbalanced quotes, a
  `Host` with no pattern, an unknown `Match` criterion, a bad `Port` or time value,
  extra words after a one-value keyword are `ConfigError`s naming `file:line`.
- It expands `Include` (paramiko does not know it), as OpenSSH does: relative paths
  are relative to `~/.ssh`, globs in sorted order, at most 16 levels deep. Included
  lines are inlined where the `Include` stands, and after each included file the
  including block's header line is emitted again (at the top level `Host *`), since
  OpenSSH restores the including block's state after the file. An `Include` inside
  a `Host`/`Match` block (other than `Host *` / `Match all`) whose files hold
  `Host`/`Match` lines is refused: OpenSSH never activates those blocks when the
  including block does not match, which an inlined copy cannot express.
- paramiko sees, for each setting jobtui uses, a reference to the line (`Port L12`)
  rather than its value: the value it picks therefore names its line, which gives
  both the value (split into words as OpenSSH splits them, not as paramiko does)
  and its origin for free. `HostName` and `User` are given as values, because
  `Match host` and `Match user` test them (HostName's `%` hidden so that paramiko
  expands no token: `hops.py` expands them as OpenSSH does; when a `Match host` needs
  a HostName's `%h`, the name gets a parse of its own with it expanded); a companion
  key names their line.
- Lookups are cached by the set of `Host`/`Match host` patterns a name matches (which
  decides all paramiko answers), so 100,000 names cost a few lookups.
- Differences from OpenSSH handled here: paramiko's patterns are `fnmatch` ones, so a
  `[` is escaped (OpenSSH has only `*` and `?`); `Match host`/`originalhost` compare
  without case, as OpenSSH does, while `Host` patterns compare with case.
  `Match exec` is never run (jobtui runs no command to read a config): its block
  never applies, with a warning. `CanonicalizeHostname` is not done (paramiko would
  resolve names in DNS): a warning when it is on.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from jobtui.config.errors import ConfigError
from jobtui.config.sshvalues import MULTI, REST_OF_LINE, SINGLE, USED, check_value, split_args
from jobtui.model import Location
from jobtui.sshlib import paramiko

MAX_DEPTH = 16
"""Include levels, as OpenSSH's READCONF_MAX_DEPTH."""

_VALUED = frozenset({"hostname", "user"})
"""Given to paramiko as values (Match tests them), with a companion naming the line."""
MATCH_CRITERIA = frozenset(
    {"all", "canonical", "final", "exec", "host", "originalhost", "user", "localuser"}
)
_NO_PARAM = frozenset({"all", "canonical", "final"})
_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_HOSTNAME_PERCENT = "\x02"
_FINAL = "\x03final"
"""Stands for the pattern that makes a `Match final` criterion false or true."""
_HOSTNAME_TOKEN = re.compile("\x02([h%])")


@dataclass(frozen=True)
class Line:
    """One setting of a config file, as jobtui reads it."""

    keyword: str
    """Lower case, as paramiko keys it."""
    args: tuple[str, ...]
    """The value split into words as OpenSSH splits it."""
    rest: str
    """The value as written (ProxyCommand takes it whole)."""
    path: str
    number: int
    block: str
    """The header of its block as written (`Host web*`), "" at the top level."""
    index: int
    """Its place among all lines read (Includes inlined): file order."""

    @property
    def where(self) -> str:
        return f"{self.path}:{self.number}"

    @property
    def value(self) -> str:
        """The value as one string: the rest of the line for ProxyCommand and for a
        keyword of several words (split again with `split_args`), else the one word."""
        return self.rest if self.keyword in REST_OF_LINE | MULTI else self.args[0]


@dataclass
class SshConfig:
    """One ssh_config file, Includes expanded, ready for lookups by host name."""

    path: str
    lines: list[Line]
    warnings: list[str]
    _matcher: paramiko.SSHConfig
    _text: str = ""
    """What paramiko was given, for the lookups that need a parse of their own."""
    _needs_name: bool = False
    """A `Match host` must see a HostName's `%h` expanded (paramiko tests it as
    written): each name gets its own parse, with its HostNames expanded."""
    _needs_state: bool = False
    """A `Match host`/`Match user` must see the command line's HostName/User (ssh
    tests those; paramiko knows only its file): they are put first in a parse."""
    _final: bool = False
    """A `Match final`: ssh then reads the file twice, the second time for the host
    name the first resolved. Approached, not matched: a `Match originalhost` of the
    second pass sees that name too, and a `Match host` after a HostName set in the
    second pass differs from ssh (the generated differential tests leave it out)."""
    _blocks: re.Pattern[str] = re.compile("")
    """Which of the patterns paramiko is given match a name: a group per Host line's
    patterns (and per its negated ones), per `Match host`/`originalhost` list,
    compiled as fnmatch compiles them for paramiko. They decide all paramiko answers
    (a `Match host` sees the name or a literal HostName of a block before, `Match
    user` a literal User or the local user): one lookup serves every name that
    matches the same ones. Not used when a HostName's `%h` feeds a `Match host`."""
    _cache: dict[object, dict[str, tuple[Line, ...]]] = field(default_factory=dict)
    _matchers: dict[object, paramiko.SSHConfig] = field(default_factory=dict)

    def lookup(
        self, name: str, user: str | None = None, hostname: str | None = None
    ) -> dict[str, tuple[Line, ...]]:
        """The lines that apply to `name`, by keyword: the first one for a setting
        taken once, every one in order for IdentityFile (duplicates dropped).

        `user`, `hostname`: given on the command line (before the file), as a `Match
        user`/`Match host` sees them.
        """
        state = (user, hostname) if self._needs_state else (None, None)
        key: object = (name, state)
        if not (self._needs_name or self._final) and (match := self._blocks.match(name)):
            key = (tuple(map(bool, match.groups())), state)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = self._lookup(name, state)
        return found

    def _lookup(
        self, name: str, state: tuple[str | None, str | None]
    ) -> dict[str, tuple[Line, ...]]:
        # paramiko's lookup() always makes a second, "final" pass, in which a Match
        # host/user would see a HostName/User set by a later block, and expands tokens
        # (%l asks DNS for this host's name): ssh makes one pass unless a `Match final`
        # asks for two (canonicalisation is never done here), the second for the host
        # name the first resolved. Both are paramiko's pass without expansion, on a
        # text whose `final` criteria say false, then true.
        options: dict[str, Any] = self._parse(name, state, False)._lookup(name)  # type: ignore[attr-defined]
        if self._final:
            first = dict(options)
            host = _HOSTNAME_TOKEN.sub(
                lambda m: name if m.group(1) == "h" else "%", options.get("hostname", name)
            ).lower()
            options = self._parse(name, state, True)._lookup(host, options)  # type: ignore[attr-defined]
            if "hostname" not in first:
                # ssh resolved the host name after the first pass: later ones do nothing.
                options.pop("jobtuilinehostname", None)
        found: dict[str, tuple[Line, ...]] = {}
        for key, value in options.items():
            if key.startswith("jobtuiline"):
                found[key.removeprefix("jobtuiline")] = (self._line(value),)
            elif key == "identityfile":
                seen: set[str] = set()
                files: list[Line] = []
                for ref in value:
                    line = self._line(ref)
                    if line.value not in seen:  # OpenSSH drops a file given twice
                        seen.add(line.value)
                        files.append(line)
                found[key] = tuple(files)
            elif key in USED and key not in _VALUED and isinstance(value, str):
                found[key] = (self._line(value),)
        return found

    def _parse(
        self, name: str, state: tuple[str | None, str | None], second: bool
    ) -> paramiko.SSHConfig:
        """paramiko's parse for this name, command-line state and pass."""
        key = (name if self._needs_name else None, state, second)
        if key == (None, (None, None), False):
            return self._matcher
        found = self._matchers.get(key)
        if found is None:
            text = self._text_for(name, state).replace(_FINAL, "*" if second else "!*")
            found = self._matchers[key] = paramiko.SSHConfig.from_text(text)
        return found

    def _text_for(self, name: str, state: tuple[str | None, str | None]) -> str:
        text = self._text
        if self._needs_name:
            text = _HOSTNAME_TOKEN.sub(lambda m: name if m.group(1) == "h" else "%", text)
        user, hostname = state
        # Top-level lines first: they come before the file's, as the command line's do.
        first = [f"User {_quote_value(user)}"] if user is not None else []
        if hostname is not None:
            first.append(f"HostName {_quote_value(hostname)}")
        return "\n".join([*first, text])

    def _line(self, ref: str) -> Line:
        return self.lines[int(ref[1:])]


def load(path: str, *, home: str) -> SshConfig:
    """Read `path` (a ConfigError if it cannot be read or holds a malformed line)."""
    reader = _Reader(home)
    text = reader.read_top(path)
    try:
        matcher = paramiko.SSHConfig.from_text(text.replace(_FINAL, "!*"))
    except paramiko.ssh_exception.ConfigParseError as e:  # the checks above should catch it
        raise ConfigError(f"cannot read ssh_config {path}: {e}") from None
    match_host = re.search(r"^Match .*\bhost ", text, re.M) is not None
    match_user = re.search(r"^Match .*\buser ", text, re.M) is not None
    needs_name = match_host and any(
        line.keyword == "hostname" and "%h" in line.value for line in reader.lines
    )
    return SshConfig(
        path,
        reader.lines,
        reader.warnings,
        matcher,
        text,
        needs_name,
        match_host or match_user,
        _FINAL in text,
        _blocks(reader.out),
    )


class _Reader:
    def __init__(self, home: str) -> None:
        self.home = home
        self.lines: list[Line] = []
        self.warnings: list[str] = []
        self.out: list[str] = []

    def read_top(self, path: str) -> str:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise ConfigError(
                f"cannot read ssh_config {path}: {reason}", hint="check --ssh-config / -F"
            ) from None
        self._read(path, text, 0, header="", header_out="Host *")
        return "\n".join(self.out) + "\n"

    def _read(self, path: str, text: str, depth: int, header: str, header_out: str) -> bool:
        """Emit the lines of one file; True if it held Host/Match lines."""
        had_blocks = False
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, rest = _split_keyword(line)
            where = Location(path, number, 1)
            if not _KEYWORD.fullmatch(keyword):
                raise ConfigError(f"malformed ssh_config line: {line!r}", where)
            key = keyword.lower()
            args = split_args(rest)
            if args is None:
                raise ConfigError(f"unbalanced quotes in ssh_config line: {line!r}", where)
            if not args:
                raise ConfigError(
                    f"ssh_config keyword {keyword} has no value", where, "give it a value"
                )
            if key in ("host", "match"):
                had_blocks = True
                header = f"{keyword} {rest.strip()}"
                header_out = self._header(key, args, where)
                self.out.append(header_out)
            elif key == "include":
                self._include(args, where, depth, header, header_out)
            elif key in USED:
                self._setting(key, keyword, args, rest.strip(), where, header)
        return had_blocks

    def _header(self, key: str, args: list[str], where: Location) -> str:
        if key == "host":
            return "Host " + " ".join(shlex.quote(_fn_escape(p)) for p in args)
        words: list[str] = []
        criteria: list[str] = []
        i = 0
        while i < len(args):
            criterion = args[i].lower()
            criteria.append(criterion)
            bare = criterion.removeprefix("!")
            if bare not in MATCH_CRITERIA:
                raise ConfigError(
                    f"unknown Match criterion {args[i]!r}",
                    where,
                    "jobtui reads Match " + ", ".join(sorted(MATCH_CRITERIA)),
                )
            if bare == "final":
                # A criterion paramiko tests without its own final pass: `localuser !*`
                # is false, `localuser *` true (the text is given with one or the other).
                words += [criterion.replace("final", "localuser"), _FINAL]
                i += 1
                continue
            if bare in _NO_PARAM:
                words.append(criterion)
                i += 1
                continue
            if i + 1 >= len(args):
                raise ConfigError(f"Match {args[i]} needs a value", where)
            if bare == "exec":
                self.warnings.append(
                    f"ssh_config {where.file}:{where.line}: Match exec is not run by jobtui:"
                    " its block is never applied"
                )
                return "Host '!*'"  # a block that matches nothing
            param = args[i + 1]
            if bare in ("host", "originalhost"):
                # OpenSSH compares host names without case in Match (not in Host).
                param = ",".join(_no_case(_fn_escape(p)) for p in param.split(","))
            else:
                param = ",".join(_fn_escape(p) for p in param.split(","))
            words += [criterion, shlex.quote(param)]
            i += 2
        if "all" in criteria and len(criteria) > 1 + criteria.count("canonical"):
            raise ConfigError("Match all cannot be combined (but with canonical)", where)
        return "Match " + " ".join(words)

    def _setting(
        self, key: str, keyword: str, args: list[str], rest: str, where: Location, header: str
    ) -> None:
        if key in SINGLE and len(args) > 1:
            raise ConfigError(
                f"ssh_config {keyword} takes one value, got {len(args)}: {rest!r}",
                where,
                "quote a value that holds spaces",
            )
        check_value(key, args[0], where)
        index = len(self.lines)
        self.lines.append(Line(key, tuple(args), rest, where.file, where.line, header, index))
        if key in _VALUED:
            # paramiko would expand HostName's tokens (not as ssh does): hide them.
            shown = args[0].replace("%", _HOSTNAME_PERCENT) if key == "hostname" else args[0]
            self.out.append(f"{keyword} {_quote_value(shown)}")
            self.out.append(f"JobtuiLine{key} L{index}")
        else:
            self.out.append(f"{keyword} L{index}")
        if key == "canonicalizehostname" and args[0].lower() in ("yes", "always"):
            self.warnings.append(
                f"ssh_config {where.file}:{where.line}: CanonicalizeHostname is not done"
                " by jobtui: names are used as written"
            )

    def _include(
        self, args: list[str], where: Location, depth: int, header: str, header_out: str
    ) -> None:
        if depth + 1 > MAX_DEPTH:
            raise ConfigError("ssh_config Include nested more than 16 deep", where)
        inside = header_out not in ("Host *", "Host '*'", "Match all")
        for arg in args:
            if arg == "~" or arg.startswith("~/"):
                pattern = self.home + arg[1:]
            elif arg.startswith("~"):
                pattern = os.path.expanduser(arg)  # ~user/...
            elif not os.path.isabs(arg):
                pattern = os.path.join(self.home, ".ssh", arg)  # as ssh, for a user config
            else:
                pattern = arg
            for path in sorted(glob.glob(pattern)):
                try:
                    with open(path, encoding="utf-8") as f:
                        text = f.read()
                except (OSError, UnicodeDecodeError) as e:
                    raise ConfigError(f"cannot read ssh_config {path}: {e}", where) from None
                start = len(self.out)
                had_blocks = self._read(path, text, depth + 1, header, header_out)
                if had_blocks and inside:
                    del self.out[start:]
                    raise ConfigError(
                        f"ssh_config Include inside a block ({header}) of {path}, which"
                        " holds Host/Match lines, is not supported by jobtui",
                        where,
                        "move the Include to the top of the file, before any Host/Match",
                    )
                if had_blocks:
                    self.out.append(header_out)  # back in the including block, as OpenSSH


def _blocks(out: list[str]) -> re.Pattern[str]:
    """The regex of `SshConfig._blocks` for the text given to paramiko."""
    groups: list[str] = []

    def group(patterns: list[str]) -> None:
        for wanted in (False, True):  # the patterns, then the negated ones
            chosen = [p[1:] if wanted else p for p in patterns if p.startswith("!") == wanted]
            if chosen:
                alternatives = "|".join(fnmatch.translate(p) for p in chosen)
                groups.append(f"(?:(?=({alternatives})))?")

    for line in out:
        if line.startswith("Host "):
            group(shlex.split(line[5:]))
        elif line.startswith("Match "):
            words = shlex.split(line[6:])
            for criterion, param in zip(words, [*words[1:], ""], strict=True):
                if criterion.removeprefix("!") in ("host", "originalhost"):
                    group(param.split(","))
    return re.compile("".join(groups), re.S)


def _split_keyword(line: str) -> tuple[str, str]:
    """`Keyword value`, `Keyword=value`, `Keyword = value` (as readconf.c's strdelim)."""
    match = re.match(r"([^\s=]*)\s*(?:=\s*)?(.*)", line)
    assert match is not None  # the pattern matches any text
    return match.group(1), match.group(2)


def _fn_escape(pattern: str) -> str:
    """An OpenSSH pattern (only `*` and `?` are special) as an fnmatch pattern."""
    return pattern.replace("[", "[[]")


def _no_case(pattern: str) -> str:
    """A pattern that matches a name whatever its case, as OpenSSH's Match host does
    (`Match host WEB*` matches web1, where `Host WEB*` does not)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in pattern)


def _quote_value(value: str) -> str:
    # paramiko strips one pair of double quotes around a value, nothing else.
    return f'"{value}"' if value.startswith('"') or value != value.strip() or not value else value
