"""JUEL, as Camunda 7 writes it: `${…}` / `#{…}` expressions and texts made of them (SPEC §11).

A text is parsed once by a `lark` grammar (LALR) into a tree of small Python functions, then
evaluated any number of times over a mapping of variables. Nothing is ever handed to `eval` or
`exec`; the evaluator reads variables only through the mapping, reads values only from dicts and
lists (never attributes of objects) and calls nothing it was given.

Supported: the EL operators `== != < > <= >= eq ne lt gt le ge && || ! and or not empty ?: + - * /
div % mod`, unary minus, `a.b`, `a["b"]`, `a[0]`, strings in single or double quotes (escapes
`\\'`, `\\"`, `\\\\`), `true false null`, integers and decimals, parentheses. Method calls and
functions are refused when parsed. A text with literal parts ("Hello ${name}") gives a string; a
text that is a single `${…}` gives the expression's value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

Variables = Mapping[str, Any]
Node = Callable[[Variables], Any]

GRAMMAR = r"""
template: (text | eval)*
text: TEXT
eval: ("${" | "#{") expr "}"

?expr: ternary
?ternary: or_expr
        | or_expr "?" ternary ":" ternary -> cond
?or_expr: and_expr
        | or_expr ("||" | _OR) and_expr -> or_
?and_expr: eq_expr
         | and_expr ("&&" | _AND) eq_expr -> and_
?eq_expr: rel_expr
        | eq_expr ("==" | _EQ) rel_expr -> op_eq
        | eq_expr ("!=" | _NE) rel_expr -> op_ne
?rel_expr: add_expr
         | rel_expr ("<" | _LT) add_expr -> op_lt
         | rel_expr (">" | _GT) add_expr -> op_gt
         | rel_expr ("<=" | _LE) add_expr -> op_le
         | rel_expr (">=" | _GE) add_expr -> op_ge
?add_expr: mul_expr
         | add_expr "+" mul_expr -> op_add
         | add_expr "-" mul_expr -> op_sub
?mul_expr: unary
         | mul_expr "*" unary -> op_mul
         | mul_expr ("/" | _DIV) unary -> op_div
         | mul_expr ("%" | _MOD) unary -> op_mod
?unary: postfix
      | "-" unary -> neg
      | ("!" | _NOT) unary -> not_
      | _EMPTY unary -> empty
?postfix: primary
        | postfix "." NAME -> prop
        | postfix "[" expr "]" -> index
        | postfix "(" [expr ("," expr)*] ")" -> call
?primary: NAME -> var
        | STRING -> string
        | INT -> integer
        | DECIMAL -> decimal
        | _TRUE -> true
        | _FALSE -> false
        | _NULL -> null
        | "(" expr ")"

// word operators end at a word boundary: `${a order}` is an error, not `a or der`
_OR.2: /or\b/
_AND.2: /and\b/
_EQ.2: /eq\b/
_NE.2: /ne\b/
_LT.2: /lt\b/
_GT.2: /gt\b/
_LE.2: /le\b/
_GE.2: /ge\b/
_DIV.2: /div\b/
_MOD.2: /mod\b/
_NOT.2: /not\b/
_EMPTY.2: /empty\b/
_TRUE.2: /true\b/
_FALSE.2: /false\b/
_NULL.2: /null\b/
TEXT.2: /(?:\\[$#]\{|[^$#]|[$#](?!\{))+/s
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/s
DECIMAL: /(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+/
INT: /\d+/
%ignore /[ \t\r\n]+/
"""

_ESCAPE = re.compile(r"\\(.)", re.S)
_TEXT_ESCAPE = re.compile(r"\\([$#])(?=\{)")
_LONG = re.compile(r"[+-]?\d+")
_DOUBLE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


class JuelError(Exception):
    """Anything wrong with a JUEL text: its syntax, or its evaluation over given variables."""


class JuelSyntaxError(JuelError):
    """The text does not parse (found by `check-config`)."""


class JuelEvaluationError(JuelError):
    """The expression parses but cannot be evaluated over these variables (fails the instance)."""


class UnknownVariable(JuelEvaluationError):
    def __init__(self, variable: str, text: str):
        super().__init__(f"JUEL: unknown variable {variable!r} in {text}")
        self.variable = variable
        self.text = text


def is_juel(text: str | None) -> bool:
    """Whether a text holds a JUEL expression: a `${` or `#{` anywhere in it."""
    return text is not None and ("${" in text or "#{" in text)


@dataclass(frozen=True)
class Expression:
    """A parsed JUEL text, ready to be evaluated many times."""

    text: str
    parts: tuple[str | Node, ...]

    def evaluate(self, variables: Variables) -> Any:
        nodes = [part for part in self.parts if not isinstance(part, str)]
        if len(nodes) == 1 and all(
            isinstance(part, str) and not part.strip() for part in self.parts if part is not nodes[0]
        ):
            return nodes[0](variables)  # one `${…}`, maybe with the XML's line breaks around it: its value
        return "".join(part if isinstance(part, str) else to_text(part(variables)) for part in self.parts)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, start="template", parser="lalr")


@lru_cache(maxsize=4096)
def parse(text: str) -> Expression:
    """Parse a JUEL text; raises `JuelSyntaxError` with the column and the offending token."""
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise JuelSyntaxError(_syntax_message(err, text)) from None
    return Expression(text, tuple(_Compiler(text).part(child) for child in tree.children))


def evaluate(text: str, variables: Variables) -> Any:
    """Parse (once: cached) and evaluate a JUEL text over `variables`."""
    return parse(text).evaluate(variables)


def _syntax_message(err: UnexpectedInput, text: str) -> str:
    column = getattr(err, "column", None)
    if (isinstance(err, UnexpectedToken) and err.token.type == "$END") or isinstance(err, UnexpectedEOF):
        what = "unexpected end of text (a '}' or an operand missing?)"
    elif isinstance(err, UnexpectedToken):
        token = str(err.token)[0] if err.token.type == "TEXT" else str(err.token)  # lexed as text by the fallback
        what = f"unexpected {token!r} at column {column}"
        if str(err.token) == "(":
            what += ": method calls and functions are not supported"
    elif isinstance(err, UnexpectedCharacters):
        what = f"unexpected {err.char!r} at column {column}"
    else:  # pragma: no cover - lark raises one of the above
        what = str(err).splitlines()[0]
    return f"JUEL: {what} in {text}"


class _Compiler:
    """Turns a parse tree into nested functions of the variables."""

    def __init__(self, text: str):
        self.text = text

    def fail(self, message: str) -> JuelEvaluationError:
        return JuelEvaluationError(f"JUEL: {message} in {self.text}")

    def part(self, tree: Tree[Token] | Token) -> str | Node:
        assert isinstance(tree, Tree)
        if tree.data == "text":
            return _TEXT_ESCAPE.sub(r"\1", str(tree.children[0]))
        return self.node(tree.children[0])

    def node(self, tree: Tree[Token] | Token) -> Node:
        assert isinstance(tree, Tree)
        kind = str(tree.data)
        if kind in _CONSTANTS:
            value = _CONSTANTS[kind](str(tree.children[0]) if tree.children else "")
            return lambda variables: value
        if kind == "var":
            return self.variable(str(tree.children[0]))
        if kind == "call":
            raise JuelSyntaxError(
                f"JUEL: method calls and functions are not supported ({_describe(tree.children[0])}(…)) in {self.text}"
            )
        if kind in ("prop", "index"):
            return self.member(kind, tree)
        operands = [self.node(child) for child in tree.children]
        if kind in _BINARY:
            return self.binary(kind, operands[0], operands[1])
        return self.other(kind, operands)

    def variable(self, name: str) -> Node:
        text = self.text

        def read(variables: Variables) -> Any:
            if name not in variables:
                raise UnknownVariable(name, text)
            return variables[name]

        return read

    def member(self, kind: str, tree: Tree[Token]) -> Node:
        target = self.node(tree.children[0])
        label = _describe(tree.children[0])
        if kind == "prop":
            name = str(tree.children[1])
            return lambda variables: self.lookup(target(variables), name, f"{label}.{name}")
        key = self.node(tree.children[1])
        return lambda variables: self.lookup(target(variables), key(variables), f"{label}[…]")

    def lookup(self, value: Any, key: Any, label: str) -> Any:
        if value is None:
            raise self.fail(f"{label}: cannot read a property of null")
        if isinstance(value, Mapping):
            return value.get(key if isinstance(key, str) else to_text(key))
        if isinstance(value, (list, tuple)):
            if isinstance(key, bool):
                raise self.fail(f"{label}: a list index must be a number")
            index = int(self.number(key))
            return value[index] if 0 <= index < len(value) else None
        raise self.fail(f"{label}: cannot read a property of a {_kind(value)}")

    def binary(self, kind: str, left: Node, right: Node) -> Node:
        op = _BINARY[kind]
        return lambda variables: op(self, left(variables), right(variables))

    def other(self, kind: str, operands: list[Node]) -> Node:
        if kind == "cond":
            test, yes, no = operands
            return lambda variables: yes(variables) if self.boolean(test(variables)) else no(variables)
        if kind == "or_":
            a, b = operands
            return lambda variables: self.boolean(a(variables)) or self.boolean(b(variables))
        if kind == "and_":
            a, b = operands
            return lambda variables: self.boolean(a(variables)) and self.boolean(b(variables))
        (operand,) = operands
        if kind == "neg":
            return lambda variables: -self.number(operand(variables))
        if kind == "not_":
            return lambda variables: not self.boolean(operand(variables))
        if kind == "empty":
            return lambda variables: is_empty(operand(variables))
        raise AssertionError(kind)  # pragma: no cover - every rule is handled above

    # --- EL coercions -------------------------------------------------------------------------
    def number(self, value: Any) -> int | float:
        if value is None:
            return 0
        if isinstance(value, bool):
            raise self.fail(f"cannot use the boolean {to_text(value)} as a number")
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, str):
            if _LONG.fullmatch(value):
                return int(value)
            if _DOUBLE.fullmatch(value):
                return float(value)
            if value == "":
                return 0
            raise self.fail(f"cannot use {value!r} as a number")
        raise self.fail(f"cannot use a {_kind(value)} as a number")

    def boolean(self, value: Any) -> bool:
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.lower() == "true"
        raise self.fail(f"cannot use a {_kind(value)} as a boolean")

    def equal(self, a: Any, b: Any) -> bool:
        if a is b:
            return True
        if a is None or b is None:
            return False
        if isinstance(a, bool) or isinstance(b, bool):
            return self.boolean(a) == self.boolean(b)
        if _is_number(a) or _is_number(b):
            return self.number(a) == self.number(b)
        if isinstance(a, str) or isinstance(b, str):
            return to_text(a) == to_text(b)
        return bool(_plain(a) == _plain(b))

    def order(self, a: Any, b: Any) -> int | None:
        """-1, 0 or 1 as a < b, a == b, a > b; None when one side is null."""
        if a is None or b is None:
            return None
        if _is_number(a) or _is_number(b):
            x: Any = self.number(a)
            y: Any = self.number(b)
        elif isinstance(a, str) and isinstance(b, str):
            x, y = a, b
        else:
            raise self.fail(f"cannot compare a {_kind(a)} with a {_kind(b)}")
        return (x > y) - (x < y)

    def divide(self, a: Any, b: Any) -> float:
        divisor = self.number(b)
        if divisor == 0:
            raise self.fail("division by zero")
        return self.number(a) / divisor

    def modulo(self, a: Any, b: Any) -> int | float:
        x, y = self.number(a), self.number(b)
        if y == 0:
            raise self.fail("division by zero")
        if isinstance(x, int) and isinstance(y, int):
            rest = abs(x) % abs(y)  # Java: the sign follows the dividend
            return rest if x >= 0 else -rest
        return math.fmod(x, y)


def _compare(test: Callable[[int], bool], on_equal_null: bool = False) -> Callable[[_Compiler, Any, Any], bool]:
    def op(compiler: _Compiler, a: Any, b: Any) -> bool:
        if on_equal_null and a is None and b is None:
            return True
        result = compiler.order(a, b)
        return result is not None and test(result)

    return op


_BINARY: dict[str, Callable[[_Compiler, Any, Any], Any]] = {
    "op_eq": lambda c, a, b: c.equal(a, b),
    "op_ne": lambda c, a, b: not c.equal(a, b),
    "op_lt": _compare(lambda r: r < 0),
    "op_gt": _compare(lambda r: r > 0),
    "op_le": _compare(lambda r: r <= 0, on_equal_null=True),
    "op_ge": _compare(lambda r: r >= 0, on_equal_null=True),
    "op_add": lambda c, a, b: c.number(a) + c.number(b),
    "op_sub": lambda c, a, b: c.number(a) - c.number(b),
    "op_mul": lambda c, a, b: c.number(a) * c.number(b),
    "op_div": lambda c, a, b: c.divide(a, b),
    "op_mod": lambda c, a, b: c.modulo(a, b),
}


def _unquote(token: str) -> str:
    return _ESCAPE.sub(lambda m: m.group(1) if m.group(1) in "'\"\\" else m.group(0), token[1:-1])


_CONSTANTS: dict[str, Callable[[str], Any]] = {
    "string": _unquote,
    "integer": int,
    "decimal": float,
    "true": lambda _: True,
    "false": lambda _: False,
    "null": lambda _: None,
}


def _describe(tree: Tree[Token] | Token) -> str:
    """A short name for a member access's target in messages: `order.customer`, `items[…]`."""
    if isinstance(tree, Tree):
        if tree.data == "var":
            return str(tree.children[0])
        if tree.data == "prop":
            return f"{_describe(tree.children[0])}.{tree.children[1]}"
        if tree.data == "index":
            return f"{_describe(tree.children[0])}[…]"
    return "(…)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _plain(value: Any) -> Any:
    """Only plain data is compared with Python's ==; anything else by identity."""
    return value if isinstance(value, (list, tuple, dict)) else id(value)


def _kind(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, (list, tuple)):
        return "list"
    return "number" if _is_number(value) else "value of another kind"


def is_empty(value: Any) -> bool:
    """EL `empty`: null, "", an empty list or map."""
    if value is None:
        return True
    if isinstance(value, (str, list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


def to_text(value: Any) -> str:
    """EL coercion to a string: null is "", booleans are `true`/`false`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check(text: str) -> str | None:
    """The syntax error of a JUEL text, or None when it parses (for `check-config`)."""
    try:
        parse(text)
    except JuelSyntaxError as err:
        return str(err)
    return None
