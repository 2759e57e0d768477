"""Position-aware, bounded YAML loading.

PyYAML's SafeLoader composes the document into nodes (which carry marks); we then
build plain Python values ourselves so that every mapping and sequence remembers
where it, its keys and its items came from. Scalars stay plain `str`/`int`/...;
their location lives in the parent container (`YMap.value_loc`, `YSeq.item_loc`).

Why not `yaml.safe_load`: it forgets positions, silently keeps the last of two
duplicate keys, and expands alias bombs (billion laughs) without limit.

Limits: files over `MAX_FILE_BYTES`, documents that expand to more than
`MAX_NODES` nodes (aliases count every time they are expanded) or nest deeper than
`MAX_DEPTH` are refused with a `ConfigError`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from jobtui.config.errors import ConfigError
from jobtui.model import Location

MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_NODES = 100_000
MAX_DEPTH = 100
MERGE_KEY = "<<"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})


class YMap(dict[str, Any]):
    """A YAML mapping: a dict with the location of itself, of each key and each value.

    Keys are always strings: the scalar's text as written (`1.10:` stays `"1.10"`,
    which is what a host name or a group name means).
    """

    def __init__(self, location: Location) -> None:
        super().__init__()
        self.location = location
        self.key_loc: dict[str, Location] = {}
        self.value_loc: dict[str, Location] = {}


class YSeq(list[Any]):
    """A YAML sequence: a list with the location of itself and of each item."""

    def __init__(self, location: Location) -> None:
        super().__init__()
        self.location = location
        self.item_loc: list[Location] = []


def to_plain(value: Any) -> Any:
    """`value` with every YMap/YSeq turned into a plain dict/list (for specs and templates)."""
    if isinstance(value, YMap):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, YSeq):
        return [to_plain(v) for v in value]
    return value


def read_text(path: str) -> str:
    """The file's text, decoded as UTF-8 (a BOM is allowed), size-limited."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(
            f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB",
            hint="is this really a configuration file?",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ConfigError(
            f"invalid UTF-8 (byte 0x{data[e.start]:02x})",
            Location(path, line, column),
            "save the file as UTF-8",
        ) from None


def load_yaml(path: str) -> Any:
    """Load the single YAML document in `path` as YMap/YSeq/scalars.

    Raises:
        ConfigError: unreadable, too large, not UTF-8, empty, not valid YAML,
            duplicate keys, or beyond the size limits.
    """
    return parse_yaml(read_text(path), path)


def parse_yaml(text: str, path: str) -> Any:
    """Like `load_yaml`, for text already read; `path` is used in locations."""
    try:
        loader = yaml.SafeLoader(text)  # its reader already rejects control characters
    except yaml.reader.ReaderError as e:
        raise ConfigError(
            f"invalid character {e.character!r} in YAML", _offset_location(text, e.position, path)
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("the file is empty", Location(path, 1, 1), "expected a YAML mapping")
        return _Builder(loader, path).build(node, 0)
    except yaml.MarkedYAMLError as e:
        raise _syntax_error(e, path) from None
    except yaml.reader.ReaderError as e:
        raise ConfigError(
            f"invalid character {e.character!r} in YAML", _offset_location(text, e.position, path)
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML in {path}: {e}") from None
    except RecursionError:
        # PyYAML's composer recurses once per nesting level.
        raise ConfigError(
            f"YAML in {path} is nested too deeply", hint=f"at most {MAX_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()


def _syntax_error(e: yaml.MarkedYAMLError, path: str) -> ConfigError:
    mark = e.problem_mark or e.context_mark
    location = Location(path, mark.line + 1, mark.column + 1) if mark else None
    problem = e.problem or e.context or "invalid YAML"
    hint = None
    if e.context and problem.startswith("but "):
        problem = f"{e.context}, {problem}"
    elif e.context and e.problem and e.context_mark is not None:
        hint = f"{e.context} at line {e.context_mark.line + 1}"
    return ConfigError(f"YAML syntax error: {problem}", location, hint)


def _offset_location(text: str, offset: int, path: str) -> Location:
    before = text[:offset]
    return Location(path, before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1)


class _Builder:
    """Turns composed nodes into YMap/YSeq/scalars, counting every node it expands."""

    def __init__(self, loader: yaml.SafeLoader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.count = 0
        # Nodes being built right now: seeing one again means a recursive alias.
        self.active: set[int] = set()
        # Nodes built once: seeing one again means an alias (*name) was expanded.
        self.built: set[int] = set()
        self.aliased = False

    def loc(self, node: Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: Node, depth: int) -> Any:
        self.count += 1
        if id(node) in self.built:
            self.aliased = True
        else:
            self.built.add(id(node))
        if self.count > MAX_NODES:
            if self.aliased:
                raise ConfigError(
                    f"YAML document expands to more than {MAX_NODES:,} values through"
                    " aliases (*name)",
                    self.loc(node),
                    "each *name repeats its anchor's whole value: use fewer aliases",
                )
            raise ConfigError(
                f"the file holds more than {MAX_NODES:,} values (keys, list items and scalars)",
                self.loc(node),
                "split it into several files; in an inventory, name many hosts with one"
                " range (web[0001:5000])",
            )
        if depth > MAX_DEPTH:
            raise ConfigError(
                f"YAML nested more than {MAX_DEPTH} levels deep", self.loc(node), None
            )
        if isinstance(node, ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if node.tag not in _COLLECTION_TAGS:
            raise ConfigError(f"unsupported YAML tag {node.tag}", self.loc(node))
        if id(node) in self.active:
            raise ConfigError("recursive YAML alias", self.loc(node), "an alias refers to itself")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                seq = YSeq(self.loc(node))
                for child in node.value:
                    seq.append(self.build(child, depth + 1))
                    seq.item_loc.append(self.loc(child))
                return seq
            if isinstance(node, MappingNode):
                return self.build_map(node, depth)
            raise ConfigError(f"unsupported YAML node {type(node).__name__}", self.loc(node))
        finally:
            self.active.discard(id(node))

    def build_map(self, node: MappingNode, depth: int) -> YMap:
        result = YMap(self.loc(node))
        merges: list[Node] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ConfigError(
                    "a mapping key must be a plain value, not a list or a mapping",
                    self.loc(key_node),
                )
            key = str(key_node.value)
            if key == MERGE_KEY and key_node.tag == "tag:yaml.org,2002:merge":
                merges.append(value_node)
                continue
            if key in result:
                first = result.key_loc[key]
                raise ConfigError(
                    f"duplicate key '{key}'",
                    self.loc(key_node),
                    f"'{key}' is already defined at line {first.line}",
                )
            result[key] = self.build(value_node, depth + 1)
            result.key_loc[key] = self.loc(key_node)
            result.value_loc[key] = self.loc(value_node)
        for merge in merges:
            self.merge_into(result, merge, depth)
        return result

    def merge_into(self, result: YMap, merge: Node, depth: int) -> None:
        """`<<: *base` or `<<: [*a, *b]`: keys written in the mapping itself win."""
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in sources:
            built = self.build(source, depth + 1)
            if not isinstance(built, YMap):
                raise ConfigError(
                    "'<<' (merge) needs a mapping or a list of mappings", self.loc(source)
                )
            for key, value in built.items():
                if key not in result:
                    result[key] = value
                    result.key_loc[key] = built.key_loc[key]
                    result.value_loc[key] = built.value_loc[key]
