"""`$param` expressions in a template's layer: `$c`, `$c * 2`, `$c // 4`, `($a + $b) * 2`, `-$c`.

A string value of a template's layer that holds a `$` is an expression. `$name` alone is the parameter's
value as the use gave it (any YAML value: a number, a list, a mapping). With operators it is integer
arithmetic: `+ - * //`, parentheses and unary minus over whole numbers and `$params` whose values are
whole numbers. Read by a tokenizer and a recursive-descent parser into a small tree and evaluated by
walking it: nothing is handed to Python's `eval`. Bounded: an expression has at most MAX_CHARS
characters and MAX_PARENS levels of parentheses, and every value it computes stays within MAX_MAGNITUDE.
"""
from __future__ import annotations

import re
from typing import Any

MAX_CHARS = 200
MAX_PARENS = 16
MAX_MAGNITUDE = 10 ** 12  # far beyond any channel count or repeat; keeps `$c * $c * ...` small
OPERATORS = "+ - * // and parentheses"

_TOKEN = re.compile(r"\s*(?:(\d+)|\$([A-Za-z0-9_]+)|(//|[-+*()])|(\S))")
_LONE = re.compile(r"^\s*\$([A-Za-z0-9_]+)\s*$")
PARAM_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class ExprError(ValueError):
    """An expression that cannot be read or computed; the message says why."""


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and "$" in value


def lone(text: str) -> str | None:
    """The parameter's name when `text` is one `$name` and nothing else (its value is taken as it is)."""
    m = _LONE.match(text)
    return m.group(1) if m else None


def parse(text: str) -> tuple:
    """The expression's tree: ("num", n) | ("var", name) | ("neg", x) | (op, left, right). Raises ExprError."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"an expression of {len(text):,} characters; at most {MAX_CHARS}")
    tokens = []
    for m in _TOKEN.finditer(text):
        number, name, op, other = m.groups()
        if other is not None:
            hint = " (integer division is //)" if other == "/" else ""
            raise ExprError(f"unexpected '{other}'{hint}; an expression has whole numbers, $params and "
                            f"{OPERATORS}")
        tokens.append(("num", int(number)) if number else ("var", name) if name else ("op", op))
    return _Parser(tokens).whole()


def names(tree: tuple) -> list[str]:
    """The `$params` an expression's tree uses, in order."""
    if tree[0] == "var":
        return [tree[1]]
    if tree[0] == "num":
        return []
    return [n for sub in tree[1:] for n in names(sub)]


def evaluate(tree: tuple, values: dict) -> int:
    """The integer an expression's tree computes with the parameters' `values`. Raises ExprError."""
    kind = tree[0]
    if kind == "num":
        out = tree[1]
    elif kind == "var":
        out = values[tree[1]]
        if isinstance(out, bool) or not isinstance(out, int):
            raise ExprError(f"${tree[1]} is {_shown(out)}; arithmetic takes whole numbers")
    elif kind == "neg":
        out = -evaluate(tree[1], values)
    else:
        left, right = evaluate(tree[1], values), evaluate(tree[2], values)
        if kind == "//" and right == 0:
            raise ExprError("division by zero")
        out = {"+": left + right, "-": left - right, "*": left * right}[kind] if kind != "//" else left // right
    if abs(out) > MAX_MAGNITUDE:
        raise ExprError(f"a value beyond {MAX_MAGNITUDE:,} (in magnitude)")
    return out


def _shown(value: Any) -> str:
    text = repr(value)
    kind = "a string" if isinstance(value, str) else "a list" if isinstance(value, list) else \
        "a mapping" if isinstance(value, dict) else "a boolean" if isinstance(value, bool) else \
        "nothing (null)" if value is None else "a number"
    return f"{text if len(text) <= 60 else text[:60] + '...'} ({kind})"


class _Parser:
    """expr := term (('+' | '-') term)* ; term := unary (('*' | '//') unary)* ;
    unary := '-' unary | atom ; atom := number | $name | '(' expr ')'"""

    def __init__(self, tokens: list):
        self.tokens, self.at, self.parens = tokens, 0, 0

    def whole(self) -> tuple:
        if not self.tokens:
            raise ExprError("an empty expression")
        tree = self.expr()
        if self.at < len(self.tokens):
            raise ExprError(f"unexpected {self._text(self.tokens[self.at])} after a complete expression")
        return tree

    def peek(self) -> tuple | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def expr(self) -> tuple:
        tree = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.tokens[self.at][1]
            self.at += 1
            tree = (op, tree, self.term())
        return tree

    def term(self) -> tuple:
        tree = self.unary()
        while self.peek() in (("op", "*"), ("op", "//")):
            op = self.tokens[self.at][1]
            self.at += 1
            tree = (op, tree, self.unary())
        return tree

    def unary(self) -> tuple:
        depth = 0
        while self.peek() == ("op", "-"):
            self.at += 1
            depth += 1
        tree = self.atom()
        for _ in range(depth):
            tree = ("neg", tree)
        return tree

    def atom(self) -> tuple:
        token = self.peek()
        if token is None:
            raise ExprError("the expression ends where a number, $param or ( is expected")
        self.at += 1
        if token[0] in ("num", "var"):
            return token
        if token == ("op", "("):
            self.parens += 1
            if self.parens > MAX_PARENS:
                raise ExprError(f"more than {MAX_PARENS} levels of parentheses")
            tree = self.expr()
            if self.peek() != ("op", ")"):
                raise ExprError("a ( without its )")
            self.at += 1
            self.parens -= 1
            return tree
        raise ExprError(f"unexpected {self._text(token)} where a number, $param or ( is expected")

    @staticmethod
    def _text(token: tuple) -> str:
        return f"'{token[1]}'" if token[0] == "op" else f"'${token[1]}'" if token[0] == "var" else str(token[1])
