"""A subset of Go's text/template: what docker's `--format` strings use.

Actions `{{.Field}}`, `{{.Label "key"}}`, `{{$var}}`, field chains, pipelines
(`{{.Name | upper}}`), parentheses, `if`/`else if`/`else`, `range` (with
`$i, $v :=`), `with`, trim markers (`{{- ` and ` -}}`), comments, docker's
template functions (json, split, join, title, lower, upper, pad, truncate) and
Go's builtins (index, len, print, printf, println, eq, ne, lt, le, gt, ge, not,
and, or). Errors carry Go's wording: `template: :1:2: executing "" at <.Foo>:
can't evaluate field Foo in type ...`.

The data is plain Python: dicts from the Engine API's JSON (missing keys are an
error, as in docker's fallback to the raw JSON), lists, scalars, and `Row`s (a
listing's row: the fields docker's formatter context offers).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    """A parse or execution error, with Go's message (without docker's prefix)."""


class Row:
    """One row of a listing: docker's formatter context (`*network.networkContext`)."""

    def __init__(self, type_name: str, values: dict[str, Any],
                 labels: dict[str, str] | None = None) -> None:
        self.type_name = type_name
        self.values = values
        self.labels = labels or {}

    def label(self, name: str) -> str:
        return self.labels.get(name, "")

    def to_json(self) -> str:
        """Docker's MarshalJSON of the context: every field, keys sorted, HTML escaped."""
        return go_json(dict(sorted(self.values.items())), escape_html=True)


class Header:
    """The header row of a table: each field's column title."""

    def __init__(self, titles: dict[str, str]) -> None:
        self.titles = titles

    @staticmethod
    def label(name: str) -> str:
        last = name.split(".")[-1]
        return last.replace("-", " ").replace("_", " ")


# -- printing values the way Go does -------------------------------------------


class _NilPointer:
    """A field whose Go type is a pointer, and nil: prints `<nil>`."""

    def __bool__(self) -> bool:
        return False


NIL_POINTER = _NilPointer()


def go_json(value: Any, escape_html: bool = False) -> str:
    """encoding/json's output for decoded JSON (order kept, compact)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _go_value(value: Any) -> str:
    """fmt's %v of a value nested in a map or slice."""
    if value is None:
        return "<nil>"
    return go_print(value)


def go_print(value: Any) -> str:
    """What `{{...}}` prints for a value (fmt.Fprint)."""
    if value is None:
        return "<no value>"
    if value is NIL_POINTER:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, Row):
        return "{" + " ".join(go_print(v) for _, v in sorted(value.values.items())) + "}"
    return str(value)


def go_type(value: Any) -> str:
    if isinstance(value, Row):
        return value.type_name
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "float64"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return "interface {}"


def truth(value: Any) -> bool:
    if isinstance(value, Row | Header):
        return True
    return bool(value)


# -- functions --------------------------------------------------------------------


def _json(value: Any) -> str:
    if isinstance(value, Row):
        return value.to_json()
    if value is NIL_POINTER:
        return "null"
    return go_json(value)


def _title(text: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def _pad(text: str, prefix: int, suffix: int) -> str:
    return " " * prefix + text + " " * suffix if text else text


def _truncate(text: str, length: int) -> str:
    return text if len(text) < length else text[:length]


def _split(text: str, sep: str) -> list[str]:
    return list(text) if sep == "" else text.split(sep)


def _join(items: list[str], sep: str) -> str:
    return sep.join(go_print(item) for item in items)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list | str):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"error calling index: index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"error calling index: can't index item of type {go_type(value)}")
    return value


def _sprint(*args: Any) -> str:
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_print(arg)
    return out


_VERB = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([a-zA-Z%])")


def _printf(fmt: str, *args: Any) -> str:
    queue = list(args)

    def verb(match: re.Match[str]) -> str:
        flags, width, precision, kind = match.groups()
        if kind == "%":
            return "%"
        if not queue:
            return f"%!{kind}(MISSING)"
        arg = queue.pop(0)
        if kind == "d" and isinstance(arg, int | float) and not isinstance(arg, bool):
            text = str(int(arg))
        elif kind == "q":
            text = go_quote(go_print(arg))
        elif kind == "x" and isinstance(arg, int) and not isinstance(arg, bool):
            text = format(arg, "x")
        else:
            text = go_print(arg)
            if precision is not None and kind == "s":
                text = text[:int(precision)]
        if width:
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width))
        return text

    return _VERB.sub(verb, fmt)


def go_quote(text: str) -> str:
    """strconv.Quote."""
    out = ['"']
    simple = {'"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n",
              "\r": "\\r", "\t": "\\t", "\v": "\\v"}
    for ch in text:
        if ch in simple:
            out.append(simple[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable() and ch != " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _compare(name: str, test: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, *others: Any) -> bool:
        if not others:
            raise TemplateError(f"error calling {name}: missing argument for comparison")
        try:
            return any(test(a, b) for b in others) if name == "eq" else test(a, others[0])
        except TypeError:
            raise TemplateError(f"error calling {name}: incompatible types for "
                                "comparison") from None
    return compare


def _and(*args: Any) -> Any:
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


FUNCTIONS: dict[str, tuple[Callable[..., Any], int | None]] = {
    # name: (function, number of arguments or None when variadic)
    "json": (_json, 1), "split": (_split, 2), "join": (_join, 2), "title": (_title, 1),
    "lower": (str.lower, 1), "upper": (str.upper, 1), "pad": (_pad, 3),
    "truncate": (_truncate, 2), "index": (_index, None), "len": (len, 1),
    "print": (_sprint, None), "println": (lambda *a: " ".join(map(go_print, a)) + "\n", None),
    "printf": (_printf, None), "not": (lambda a: not truth(a), 1), "and": (_and, None),
    "or": (_or, None), "eq": (_compare("eq", lambda a, b: a == b), None),
    "ne": (_compare("ne", lambda a, b: a != b), None),
    "lt": (_compare("lt", lambda a, b: a < b), None),
    "le": (_compare("le", lambda a, b: a <= b), None),
    "gt": (_compare("gt", lambda a, b: a > b), None),
    "ge": (_compare("ge", lambda a, b: a >= b), None),
}

# In a table's header docker swaps these for functions that return the title as is.
HEADER_FUNCTIONS = {name: ((lambda value, *_: value), count) for name, (_, count) in
                    FUNCTIONS.items() if name in ("json", "split", "join", "title", "lower",
                                                  "upper", "truncate")}


# -- lexing -----------------------------------------------------------------------


@dataclass
class Token:
    kind: str  # text field dot var ident string number bool nil pipe lparen rparen decl
    #            assign comma left right
    value: Any
    pos: int
    end: int = 0
    spaced: bool = True  # whitespace before it


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS = re.compile(r"(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)")
_SPACE = " \t\r\n"


def _lex(src: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    trim_next = False
    while i < len(src):
        start = src.find("{{", i)
        text = src[i:] if start < 0 else src[i:start]
        if trim_next:
            text = text.lstrip(_SPACE)
        trim_next = False
        if start >= 0 and src[start + 2:start + 3] == "-" and src[start + 3:start + 4] \
                and src[start + 3] in _SPACE:
            text = text.rstrip(_SPACE)
        if text:
            tokens.append(Token("text", text, i))
        if start < 0:
            break
        i, trim_next = _lex_action(src, start, tokens)
    return tokens


def _lex_action(src: str, start: int, tokens: list[Token]) -> tuple[int, bool]:
    i = start + 2
    if src.startswith("-", i) and i + 1 < len(src) and src[i + 1] in _SPACE:
        i += 2
    while i < len(src) and src[i] in _SPACE:
        i += 1
    if src.startswith("/*", i):
        close = src.find("*/", i + 2)
        if close < 0:
            raise TemplateError(f"template: :{_line(src, start)}: unclosed comment")
        i = close + 2
        trim = False
        if src.startswith(" -}}", i):
            trim, i = True, i + 4
        elif src.startswith("}}", i):
            i += 2
        else:
            raise TemplateError(f"template: :{_line(src, start)}: comment ends before "
                                "closing delimiter")
        return i, trim
    tokens.append(Token("left", None, start))
    spaced = True
    while True:
        if i >= len(src):
            raise TemplateError(f"template: :{_line(src, start)}: unclosed action")
        ch = src[i]
        if ch in _SPACE:
            if src.startswith("-}}", i + 1):
                tokens.append(Token("right", None, i, i + 4))
                return i + 4, True
            i += 1
            spaced = True
            continue
        if src.startswith("}}", i):
            tokens.append(Token("right", None, i, i + 2))
            return i + 2, False
        token, i = _lex_token(src, i, start)
        token.spaced = spaced
        tokens.append(token)
        spaced = False


def _lex_token(src: str, i: int, action: int) -> tuple[Token, int]:
    ch = src[i]
    if ch == '"':
        j = i + 1
        while j < len(src) and src[j] != '"':
            if src[j] == "\n":
                break
            j += 2 if src[j] == "\\" else 1
        if j >= len(src) or src[j] != '"':
            raise TemplateError(f"template: :{_line(src, action)}: unterminated quoted string")
        try:
            value = json.loads(src[i:j + 1].replace("\\'", "'").replace("\\a", "\\u0007")
                               .replace("\\v", "\\u000b"))
        except json.JSONDecodeError:
            raise TemplateError(f"template: :{_line(src, action)}: invalid syntax: "
                                f"{src[i:j + 1]}") from None
        return Token("string", value, i, j + 1), j + 1
    if ch == "`":
        j = src.find("`", i + 1)
        if j < 0:
            raise TemplateError(f"template: :{_line(src, action)}: unterminated raw quoted "
                                "string")
        return Token("string", src[i + 1:j], i, j + 1), j + 1
    if ch == ".":
        match = _FIELDS.match(src, i)
        if match:
            names = match.group()[1:].split(".")
            return Token("field", names, i, match.end()), match.end()
        if i + 1 < len(src) and src[i + 1].isdigit():
            pass  # a number like .5
        else:
            return Token("dot", None, i, i + 1), i + 1
    if ch == "$":
        match = _IDENT.match(src, i + 1)
        name = "$" + (match.group() if match else "")
        j = match.end() if match else i + 1
        chain = _FIELDS.match(src, j)
        names = chain.group()[1:].split(".") if chain else []
        end = chain.end() if chain else j
        return Token("var", (name, names), i, end), end
    match = _NUMBER.match(src, i)
    if match and (ch.isdigit() or ch in "+-."):
        literal = match.group().replace("_", "")
        try:
            value: Any = int(literal, 0)
        except ValueError:
            value = float(literal)
        return Token("number", value, i, match.end()), match.end()
    if ch == "'":
        j = src.find("'", i + 1)
        return Token("number", ord(src[i + 1]), i, j + 1), j + 1
    match = _IDENT.match(src, i)
    if match:
        word = match.group()
        if word in ("true", "false"):
            return Token("bool", word == "true", i, match.end()), match.end()
        if word == "nil":
            return Token("nil", None, i, match.end()), match.end()
        return Token("ident", word, i, match.end()), match.end()
    if src.startswith(":=", i):
        return Token("decl", None, i, i + 2), i + 2
    simple = {"|": "pipe", "(": "lparen", ")": "rparen", "=": "assign", ",": "comma"}
    if ch in simple:
        return Token(simple[ch], ch, i, i + 1), i + 1
    raise TemplateError(f"template: :{_line(src, action)}: unexpected {ch!r} in command")


def _line(src: str, pos: int) -> int:
    return src.count("\n", 0, pos) + 1


# -- parsing ----------------------------------------------------------------------


@dataclass
class Node:
    pos: int
    end: int


@dataclass
class Text(Node):
    text: str = ""


@dataclass
class Operand(Node):
    kind: str = ""  # field dot var ident literal pipe
    value: Any = None
    names: list[str] = field(default_factory=list)  # a field chain after the operand


@dataclass
class Command(Node):
    args: list[Operand] = field(default_factory=list)


@dataclass
class Pipeline(Node):
    decl: list[str] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)


@dataclass
class Action(Node):
    pipe: Pipeline | None = None


@dataclass
class Control(Node):
    keyword: str = ""  # if range with
    pipe: Pipeline | None = None
    body: list[Node] = field(default_factory=list)
    orelse: list[Node] = field(default_factory=list)


class _Parser:
    def __init__(self, src: str, functions: dict[str, Any]) -> None:
        self.src = src
        self.tokens = _lex(src)
        self.i = 0
        self.functions = functions

    def fail(self, message: str, pos: int) -> TemplateError:
        return TemplateError(f"template: :{_line(self.src, pos)}: {message}")

    def peek(self, offset: int = 0) -> Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> list[Node]:
        nodes, stop = self.parse_list()
        if stop is not None:
            raise self.fail(f"unexpected {{{{{stop.value}}}}}", stop.pos)
        return nodes

    def parse_list(self) -> tuple[list[Node], Token | None]:
        """Nodes up to an `{{end}}` or `{{else...}}` (returned, `left` consumed) or EOF."""
        nodes: list[Node] = []
        while self.peek() is not None:
            token = self.take()
            if token.kind == "text":
                nodes.append(Text(token.pos, token.pos + len(token.value), token.value))
                continue
            first = self.peek()
            if first is None or first.kind == "right":
                raise self.fail("missing value for command", token.pos)
            if first.kind == "ident" and first.value in ("end", "else"):
                return nodes, first
            if first.kind == "ident" and first.value in ("if", "range", "with"):
                self.take()
                nodes.append(self.parse_control(first))
                continue
            pipe = self.parse_pipeline(token.pos, allow_decl=True)
            self.expect_right()
            nodes.append(Action(token.pos, pipe.end, pipe))
        return nodes, None

    def expect_right(self) -> None:
        token = self.peek()
        if token is None or token.kind != "right":
            pos = token.pos if token else len(self.src)
            raise self.fail(f"unexpected {self._describe(token)} in command", pos)
        self.take()

    @staticmethod
    def _describe(token: Token | None) -> str:
        if token is None:
            return "EOF"
        return f'"{token.value}"' if token.kind == "string" else f"<{token.value}>"

    def parse_control(self, keyword: Token) -> Control:
        pipe = self.parse_pipeline(keyword.pos, allow_decl=True,
                                   range_decl=keyword.value == "range")
        self.expect_right()
        node = Control(keyword.pos, pipe.end, keyword.value, pipe)
        node.body, stop = self.parse_list()
        if stop is None:
            raise self.fail("unexpected EOF", len(self.src))
        self.take()  # end / else
        if stop.value == "else":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "ident" and nxt.value in ("if", "with"):
                self.take()
                node.orelse = [self.parse_control(nxt)]
                return node
            self.expect_right()
            node.orelse, stop = self.parse_list()
            if stop is None or stop.value != "end":
                raise self.fail("expected end; found " + ("EOF" if stop is None else "else"),
                                len(self.src) if stop is None else stop.pos)
            self.take()
        self.expect_right()
        return node

    def parse_pipeline(self, pos: int, allow_decl: bool = False,
                       range_decl: bool = False) -> Pipeline:
        pipe = Pipeline(pos, pos)
        token = self.peek()
        if allow_decl and token is not None and token.kind == "var":
            after = self.peek(1)
            if after is not None and after.kind in ("decl", "assign"):
                pipe.decl = [token.value[0]]
                self.i += 2
            elif (range_decl and after is not None and after.kind == "comma"
                  and self.peek(2) is not None and self.peek(2).kind == "var"
                  and self.peek(3) is not None and self.peek(3).kind in ("decl", "assign")):
                pipe.decl = [token.value[0], self.peek(2).value[0]]
                self.i += 4
        while True:
            command = self.parse_command()
            pipe.commands.append(command)
            pipe.end = command.end
            token = self.peek()
            if token is None or token.kind != "pipe":
                break
            self.take()
        return pipe

    def parse_command(self) -> Command:
        command = Command(0, 0)
        while True:
            token = self.peek()
            if token is None or token.kind in ("right", "pipe", "rparen"):
                break
            if command.args and not token.spaced and token.kind not in ("field",):
                raise self.fail(f"missing space? {self._describe(token)}", token.pos)
            command.args.append(self.parse_operand())
        if not command.args:
            pos = token.pos if token else len(self.src)
            raise self.fail("missing value for command", pos)
        command.pos, command.end = command.args[0].pos, command.args[-1].end
        return command

    def parse_operand(self) -> Operand:
        token = self.take()
        kind = token.kind
        if kind == "field":
            node = Operand(token.pos, token.end, "field", None, list(token.value))
        elif kind == "dot":
            node = Operand(token.pos, token.end, "dot")
        elif kind == "var":
            name, names = token.value
            node = Operand(token.pos, token.end, "var", name, list(names))
        elif kind == "ident":
            if token.value not in self.functions:
                raise self.fail(f'function "{token.value}" not defined', token.pos)
            node = Operand(token.pos, token.end, "ident", token.value)
        elif kind in ("string", "number", "bool", "nil"):
            node = Operand(token.pos, token.end, "literal", token.value)
        elif kind == "lparen":
            pipe = self.parse_pipeline(token.pos)
            close = self.peek()
            if close is None or close.kind != "rparen":
                raise self.fail("unclosed left paren", token.pos)
            self.take()
            node = Operand(token.pos, close.end, "pipe", pipe)
        else:
            raise self.fail(f"unexpected {self._describe(token)} in operand", token.pos)
        nxt = self.peek()
        if nxt is not None and nxt.kind == "field" and not nxt.spaced and kind != "field":
            self.take()
            node.names = list(nxt.value)
            node.end = nxt.end
        return node


# -- executing ----------------------------------------------------------------------


_NO_FINAL = object()


class _Exec:
    def __init__(self, src: str, functions: dict[str, tuple[Callable[..., Any], int | None]],
                 root: Any) -> None:
        self.src = src
        self.functions = functions
        self.out: list[str] = []
        self.vars: list[tuple[str, Any]] = [("$", root)]

    def fail(self, node: Node, message: str) -> TemplateError:
        line_start = self.src.rfind("\n", 0, node.pos) + 1
        col = node.pos - line_start
        context = self.src[node.pos:node.end]
        return TemplateError(f'template: :{_line(self.src, node.pos)}:{col}: executing "" '
                             f"at <{context}>: {message}")

    def walk(self, nodes: list[Node], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(go_print(value))
            elif isinstance(node, Control):
                self.control(node, dot)

    def control(self, node: Control, dot: Any) -> None:
        mark = len(self.vars)
        try:
            if node.keyword == "range":
                self.range(node, dot)
                return
            value = self.pipeline(node.pipe, dot)
            if truth(value):
                self.walk(node.body, value if node.keyword == "with" else dot)
            else:
                self.walk(node.orelse, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: Control, dot: Any) -> None:
        decl = node.pipe.decl
        node.pipe.decl = []
        try:
            value = self.pipeline(node.pipe, dot)
        finally:
            node.pipe.decl = decl
        if isinstance(value, dict):
            items = sorted(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None:
            items = []
        else:
            raise self.fail(node.pipe, f"range can't iterate over {go_print(value)}")
        if not items:
            self.walk(node.orelse, dot)
            return
        mark = len(self.vars)
        for key, item in items:
            del self.vars[mark:]
            if len(decl) == 1:
                self.vars.append((decl[0], item))
            elif len(decl) == 2:
                self.vars += [(decl[0], key), (decl[1], item)]
            self.walk(node.body, item)

    def pipeline(self, pipe: Pipeline, dot: Any) -> Any:
        value: Any = _NO_FINAL
        for command in pipe.commands:
            value = self.command(command, dot, value)
        for name in pipe.decl:
            self.vars.append((name, value))
        return value

    def command(self, command: Command, dot: Any, final: Any) -> Any:
        first, rest = command.args[0], command.args[1:]
        if first.kind == "ident":
            func, count = self.functions[first.value]
            args = [self.operand(arg, dot) for arg in rest]
            if final is not _NO_FINAL:
                args.append(final)
            if count is not None and len(args) != count:
                raise self.fail(first, f"wrong number of args for {first.value}: want {count} "
                                       f"got {len(args)}")
            if first.value in ("and", "or", "index", "print", "printf", "eq", "ne", "lt",
                               "le", "gt", "ge") and not args:
                raise self.fail(first, f"wrong number of args for {first.value}: want at "
                                       "least 1 got 0")
            try:
                return func(*args)
            except TemplateError as exc:
                raise self.fail(first, str(exc)) from None
            except (TypeError, AttributeError, ValueError) as exc:
                raise self.fail(first, f"error calling {first.value}: {exc}") from None
        args = [self.operand(arg, dot) for arg in rest]
        if final is not _NO_FINAL:
            args.append(final)
        if first.kind == "field" or (first.names and first.kind in ("dot", "var", "pipe")):
            return self.operand(first, dot, args)
        if args:
            raise self.fail(first, f"can't give argument to non-function {self.text(first)}")
        return self.operand(first, dot)

    def text(self, node: Node) -> str:
        return self.src[node.pos:node.end]

    def operand(self, node: Operand, dot: Any, args: list[Any] | None = None) -> Any:
        if node.kind == "field":
            base = dot
        elif node.kind == "dot":
            base = dot
        elif node.kind == "var":
            for name, value in reversed(self.vars):
                if name == node.value:
                    base = value
                    break
            else:
                raise self.fail(node, f"undefined variable: {node.value}")
        elif node.kind == "literal":
            base = node.value
        elif node.kind == "pipe":
            base = self.pipeline(node.value, dot)
        else:
            raise self.fail(node, f"can't evaluate {self.text(node)}")
        value = base
        for k, name in enumerate(node.names):
            last = k == len(node.names) - 1
            value = self.field(node, value, name, args if last else None)
        if not node.names and args:
            raise self.fail(node, f"can't give argument to non-function {self.text(node)}")
        return value

    def field(self, node: Node, value: Any, name: str, args: list[Any] | None) -> Any:
        args = args or []
        if isinstance(value, Row):
            if name == "Label":
                if len(args) != 1:
                    raise self.fail(node, f"wrong number of args for Label: want 1 got "
                                          f"{len(args)}")
                return value.label(go_print(args[0]))
            if name in value.values:
                if args:
                    raise self.fail(node, f"wrong number of args for {name}: want 0 got "
                                          f"{len(args)}")
                found = value.values[name]
                return NIL_POINTER if found is None else found
            raise self.fail(node, f"can't evaluate field {name} in type {value.type_name}")
        if isinstance(value, Header):
            if name == "Label" and len(args) == 1:
                return value.label(go_print(args[0]))
            if args:
                raise self.fail(node, f"{name} is not a method but has arguments")
            return value.titles.get(name)
        if isinstance(value, dict):
            if args:
                raise self.fail(node, f"{name} is not a method but has arguments")
            if name not in value:
                raise self.fail(node, f'map has no entry for key "{name}"')
            return value[name]
        if value is None:
            raise self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        raise self.fail(node, f"can't evaluate field {name} in type {go_type(value)}")


class Template:
    """A parsed template; `execute(data)` renders it or raises TemplateError."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes = _Parser(source, FUNCTIONS).parse()

    def execute(self, data: Any) -> str:
        run = _Exec(self.source, FUNCTIONS, data)
        run.walk(self.nodes, data)
        return "".join(run.out)

    def execute_header(self, titles: dict[str, str]) -> str:
        """The table header: the template run over the column titles. Like docker,
        an error stops the header where it happened."""
        functions = {**FUNCTIONS, **HEADER_FUNCTIONS}
        header = Header(titles)
        run = _Exec(self.source, functions, header)
        try:
            run.walk(self.nodes, header)
        except TemplateError:
            pass
        return "".join(run.out)
