"""JUEL as Camunda 7 writes it: a table of expressions and their results, a table of syntax errors, and
a property test that evaluating any text never runs code (SPEC §11 "Expressions")."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.bpmn import juel
from core.bpmn.juel import JuelError, JuelEvaluationError, JuelSyntaxError, UnknownVariable, evaluate, parse

VARIABLES: dict[str, Any] = {
    "amount": 1500,
    "small": 10,
    "price": 2.5,
    "approved": False,
    "vip": True,
    "name": "Ivan",
    "blank": "",
    "nothing": None,
    "numeric": "12",
    "decimal_text": "2.5",
    "word": "abc",
    "yes_text": "TRUE",
    "order": {"customer": {"name": "Olga", "tags": ["new", "vip"]}, "total": 99, "lines": []},
    "items": [10, 20, 30],
    "empty_list": [],
    "empty_map": {},
}

RESULTS: list[tuple[str, Any]] = [
    # literals
    ("${true}", True),
    ("${false}", False),
    ("${null}", None),
    ("${42}", 42),
    ("${4.25}", 4.25),
    ("${.5}", 0.5),
    ("${1e3}", 1000.0),
    ("${'single'}", "single"),
    ('${"double"}', "double"),
    (r"${'it\'s'}", "it's"),
    (r'${"say \"hi\""}', 'say "hi"'),
    (r"${'back\\slash'}", "back\\slash"),
    ('${"it\'s"}', "it's"),
    # comparisons, both spellings
    ("${amount > 1000}", True),
    ("${amount gt 1000}", True),
    ("${small < 1000}", True),
    ("${small lt 10}", False),
    ("${small <= 10}", True),
    ("${small le 9}", False),
    ("${small >= 10}", True),
    ("${small ge 11}", False),
    ("${amount == 1500}", True),
    ("${amount eq 1500.0}", True),
    ("${amount != 1500}", False),
    ("${amount ne 1}", True),
    ("${name == 'Ivan'}", True),
    ("${name < 'Olga'}", True),
    # logic, both spellings, short-circuit
    ("${not approved}", True),
    ("${!approved}", True),
    ("${approved || vip}", True),
    ("${approved or vip}", True),
    ("${approved && missing}", False),
    ("${vip and amount > 1000}", True),
    ("${vip || missing}", True),
    ("${yes_text && vip}", True),
    ("${nothing || false}", False),
    # arithmetic
    ("${1 + 2 * 3}", 7),
    ("${(1 + 2) * 3}", 9),
    ("${amount - small}", 1490),
    ("${price * 2}", 5.0),
    ("${7 / 2}", 3.5),
    ("${8 div 2}", 4.0),
    ("${7 % 3}", 1),
    ("${7 mod 3}", 1),
    ("${-7 % 3}", -1),
    ("${7.5 % 2}", 1.5),
    ("${-small}", -10),
    ("${- -small}", 10),
    ("${-(1 + 2)}", -3),
    # coercions: strings to numbers, null to 0
    ("${numeric + 1}", 13),
    ("${decimal_text * 2}", 5.0),
    ("${'1' + '2'}", 3),
    ("${numeric == 12}", True),
    ("${numeric > 9}", True),
    ("${nothing + 1}", 1),
    ("${vip == 'true'}", True),
    ("${approved == 'no'}", True),
    # empty
    ("${empty nothing}", True),
    ("${empty blank}", True),
    ("${empty empty_list}", True),
    ("${empty empty_map}", True),
    ("${empty order.lines}", True),
    ("${empty name}", False),
    ("${empty items}", False),
    ("${not empty items}", True),
    ("${empty 0}", False),
    # ?:
    ("${amount > 1000 ? 'manager' : 'clerk'}", "manager"),
    ("${small > 1000 ? 'manager' : 'clerk'}", "clerk"),
    ("${vip ? approved ? 1 : 2 : 3}", 2),
    ("${empty nothing ? 'none' : nothing}", "none"),
    # properties and indexes
    ("${order.total}", 99),
    ("${order.customer.name}", "Olga"),
    ("${order['customer'][\"name\"]}", "Olga"),
    ("${order.customer.tags[1]}", "vip"),
    ("${items[0] + items[2]}", 40),
    ("${items['1']}", 20),
    ("${items[5]}", None),
    ("${order.missing}", None),
    ("${order.missing == null}", True),
    # null handling
    ("${nothing == null}", True),
    ("${null == null}", True),
    ("${nothing != null}", False),
    ("${nothing == 0}", False),
    ("${nothing < 1}", False),
    ("${nothing >= null}", True),
    # #{} and composite texts
    ("#{amount > 1000}", True),
    ("Hello ${name}!", "Hello Ivan!"),
    ("${name} owes ${amount * 2}", "Ivan owes 3000"),
    ("PT${small}M", "PT10M"),
    ("flag: ${vip}, none: '${nothing}'", "flag: true, none: ''"),
    ("\n   ${amount}\n", 1500),
    (r"cost \${amount}", "cost ${amount}"),
    ("no expression", "no expression"),
]


@pytest.mark.parametrize(("text", "expected"), RESULTS)
def test_expression_results(text: str, expected: Any) -> None:
    result = evaluate(text, VARIABLES)
    assert result == expected and type(result) is type(expected)


EVALUATION_ERRORS: list[tuple[str, str]] = [
    ("${missing > 1}", "JUEL: unknown variable 'missing' in ${missing > 1}"),
    ("${nothing.name}", "JUEL: nothing.name: cannot read a property of null in ${nothing.name}"),
    ("${order.nope.deeper}", "JUEL: order.nope.deeper: cannot read a property of null in ${order.nope.deeper}"),
    ("${name.length}", "JUEL: name.length: cannot read a property of a string in ${name.length}"),
    ("${word + 1}", "JUEL: cannot use 'abc' as a number in ${word + 1}"),
    ("${vip + 1}", "JUEL: cannot use the boolean true as a number in ${vip + 1}"),
    ("${word == 3}", "JUEL: cannot use 'abc' as a number in ${word == 3}"),
    ("${amount / 0}", "JUEL: division by zero in ${amount / 0}"),
    ("${amount % 0}", "JUEL: division by zero in ${amount % 0}"),
    ("${items < 3}", "JUEL: cannot use a list as a number in ${items < 3}"),
    ("${order && vip}", "JUEL: cannot use a map as a boolean in ${order && vip}"),
    ("${items[vip]}", "JUEL: items[…]: a list index must be a number in ${items[vip]}"),
]


@pytest.mark.parametrize(("text", "message"), EVALUATION_ERRORS)
def test_evaluation_errors_name_the_expression(text: str, message: str) -> None:
    with pytest.raises(JuelEvaluationError) as caught:
        evaluate(text, VARIABLES)
    assert str(caught.value) == message


def test_an_unknown_variable_is_named() -> None:
    with pytest.raises(UnknownVariable) as caught:
        evaluate("${amout > 1000}", VARIABLES)
    assert (caught.value.variable, caught.value.text) == ("amout", "${amout > 1000}")


SYNTAX_ERRORS: list[tuple[str, str]] = [
    ("${amount > )}", "JUEL: unexpected ')' at column 12 in ${amount > )}"),
    ("${amount >}", "JUEL: unexpected '}' at column 11 in ${amount >}"),
    ("${amount", "JUEL: unexpected end of text (a '}' or an operand missing?) in ${amount"),
    ("${}", "JUEL: unexpected '}' at column 3 in ${}"),
    ("${a @ b}", "JUEL: unexpected '@' at column 5 in ${a @ b}"),
    ("${'open}", "JUEL: unexpected \"'\" at column 3 in ${'open}"),
    ("${a ? b}", "JUEL: unexpected '}' at column 8 in ${a ? b}"),
    ("${a = 1}", "JUEL: unexpected '=' at column 5 in ${a = 1}"),
    ("${a..b}", "JUEL: unexpected '.' at column 5 in ${a..b}"),
    ("${order.total()}", "JUEL: method calls and functions are not supported (order.total(…)) in ${order.total()}"),
    ("${fn(1, 2)}", "JUEL: method calls and functions are not supported (fn(…)) in ${fn(1, 2)}"),
    ("${1 +* 2}", "JUEL: unexpected '*' at column 6 in ${1 +* 2}"),
    ("${empty}", "JUEL: unexpected '}' at column 8 in ${empty}"),
]


@pytest.mark.parametrize(("text", "message"), SYNTAX_ERRORS)
def test_syntax_errors_have_a_column_and_the_token(text: str, message: str) -> None:
    with pytest.raises(JuelSyntaxError) as caught:
        parse(text)
    assert str(caught.value) == message
    assert juel.check(text) == message


def test_parsed_once_and_evaluated_many_times() -> None:
    expression = parse("${amount > limit}")
    assert parse("${amount > limit}") is expression
    assert [expression.evaluate({"amount": a, "limit": 100}) for a in (50, 150)] == [False, True]


def test_is_juel_tells_camunda_expressions_from_python_and_templates() -> None:
    assert juel.is_juel("${x}") and juel.is_juel("#{x}") and juel.is_juel("Hi ${x}")
    assert not juel.is_juel("amount > 1000") and not juel.is_juel("Hello {name}") and not juel.is_juel(None)


# --- evaluation never runs code -----------------------------------------------------------------


class Recording(Mapping[str, Any]):
    """A variables mapping that records every name the evaluator asks for."""

    def __init__(self, values: dict[str, Any]):
        self._values = values
        self.asked: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.asked.add(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.add(key)
        return key in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the evaluator listed the variables")

    def __len__(self) -> int:
        raise AssertionError("the evaluator counted the variables")


class Trap:
    """A value that records any attribute read or call (the evaluator must never do either)."""

    touched: list[str] = []  # noqa: RUF012 - shared on purpose: a record across instances

    def __getattr__(self, name: str) -> Any:
        Trap.touched.append(name)
        raise AttributeError(name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        Trap.touched.append("__call__")


NAMES = ["amount", "approved", "name", "order", "items", "trap", "__class__", "__import__", "os", "eval", "nothing"]
TOKENS = [
    *NAMES,
    *["==", "!=", "<", ">", "<=", ">=", "eq", "ne", "lt", "gt", "le", "ge", "&&", "||", "!", "and", "or", "not"],
    *["empty", "?", ":", "+", "-", "*", "/", "div", "%", "mod", ".", "[", "]", "(", ")", ",", "{", "}"],
    *["true", "false", "null", "0", "1", "2.5", "'x'", '"y"', "'__globals__'", "'__class__'", "${", "#{", " "],
]


def _values() -> dict[str, Any]:
    return {
        "amount": 1500,
        "approved": False,
        "name": "Ivan",
        "order": {"customer": {"name": "Olga"}, "trap": Trap()},
        "items": [1, Trap(), "2"],
        "trap": Trap(),
        "nothing": None,
    }


FORBIDDEN = ("eval", "exec", "compile", "__import__", "open", "getattr", "setattr")


def _forbidden(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the evaluator ran Python code")


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from(TOKENS), max_size=14).map(lambda tokens: "${" + " ".join(tokens) + "}"),
        st.text(max_size=30).map(lambda text: "${" + text + "}"),
        st.text(alphabet="${}#'\"\\ab.()[]", max_size=20),
    )
)
def test_evaluation_only_reads_the_given_variables_and_never_runs_code(text: str) -> None:
    try:
        expression = parse(text)
    except JuelSyntaxError:
        return
    variables = Recording(_values())
    Trap.touched.clear()
    table = vars(builtins)
    saved = {name: table[name] for name in FORBIDDEN}
    table.update(dict.fromkeys(FORBIDDEN, _forbidden))
    try:
        expression.evaluate(variables)
    except JuelError:
        pass
    finally:
        table.update(saved)
    identifiers = {token for token in NAMES if token in text} | {
        word for word in "".join(c if c.isalnum() or c == "_" else " " for c in text).split()
    }
    assert variables.asked <= identifiers
    assert Trap.touched == []
