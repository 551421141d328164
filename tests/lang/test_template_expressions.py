"""`$param` expressions in templates (issue 32 item 6): integer arithmetic through a small parser, never `eval`;
their errors, and those of the values a use gives, at file:line:column and YAML path, naming the use, each once;
quoted values cut short. No TensorFlow here."""
from __future__ import annotations

import pytest
from test_templates import V3, errors, net

from inception_keras.errors import ConfigError
from inception_keras.lang import expr
from inception_keras.lang.parse import load_arch


@pytest.mark.parametrize("text,values,result", [
    ("$c", {"c": [1, 7]}, [1, 7]),  # a lone $param: the value as given, any type
    ("$c * 2", {"c": 96}, 192),
    ("$c // 4", {"c": 30}, 7),
    ("($a + $b) * 2 - 1", {"a": 3, "b": 4}, 13),
    ("-$c + 10", {"c": 3}, 7),
    ("--$c", {"c": 3}, 3),
    ("2 + 3 * 4", {}, 14),
    ("(2 + 3) * 4", {}, 20),
    ("$c // -2", {"c": 7}, -4),  # floor division, as Python's
    ("1 - 2 - 3", {}, -4),  # left to right
])
def test_expressions_compute_integers(text, values, result):
    name = expr.lone(text)
    got = values[name] if name is not None else expr.evaluate(expr.parse(text), values)
    assert got == result


@pytest.mark.parametrize("text,values,message", [
    ("$c // $d", {"c": 4, "d": 0}, "division by zero"),
    ("$c * 2", {"c": 2.5}, "$c is 2.5 (a number); arithmetic takes whole numbers"),
    ("$c * 2", {"c": True}, "$c is True (a boolean); arithmetic takes whole numbers"),
    ("$c * 2", {"c": "x" * 500}, "$c is '" + "x" * 59 + "..."),
    ("$c * $c * $c", {"c": 10 ** 5}, "a value beyond 1,000,000,000,000"),
])
def test_expression_errors_at_evaluation(text, values, message):
    with pytest.raises(expr.ExprError) as e:
        expr.evaluate(expr.parse(text), values)
    assert str(e.value).startswith(message)


@pytest.mark.parametrize("text,message", [
    ("$c / 2", "unexpected '/' (integer division is //)"),
    ("$c *", "the expression ends where a number, $param or ( is expected"),
    ("($c + 1", "a ( without its )"),
    ("$c 2", "unexpected 2 after a complete expression"),
    ("$c ** 2", "unexpected '*' where a number"),
    ("__import__('os')", "unexpected '_'"),
    ("(" * 17 + "$c" + ")" * 17, "more than 16 levels of parentheses"),
    ("1 + " * 60 + "$c", f"an expression of 242 characters; at most {expr.MAX_CHARS}"),
])
def test_expression_syntax_errors(text, message):
    with pytest.raises(expr.ExprError) as e:
        expr.parse(text)
    assert str(e.value).startswith(message)


ONE = "  a:\n    params: {c: 4, d: 2}\n    layer: {conv: {filters: %s, kernel: 1}}"


@pytest.mark.parametrize("value,use,expected", [
    ("$c // $d", "{d: 0}", "t.yaml:7:29: templates.a.layer.conv.filters: '$c // $d': division by zero (in the use at "
                           "stages.s[0].a, t.yaml:10:10)"),
    ("$c * $d", "{c: 0.5}", "t.yaml:7:29: templates.a.layer.conv.filters: '$c * $d': $c is 0.5 (a number); "
                            "arithmetic takes whole numbers (in the use at stages.s[0].a, t.yaml:10:10)"),
    ("$e * 2", "{}", "t.yaml:7:29: templates.a.layer.conv.filters: '$e' is no parameter of template 'a' (params: "
                     "c, d)"),
    ("$c / 2", "{}", "t.yaml:7:29: templates.a.layer.conv.filters: '$c / 2': unexpected '/' (integer division is "
                     "//); an expression has whole numbers, $params and + - * // and parentheses"),
    ("$c", "{c: -3}", "t.yaml:10:14: stages.s[0].a.c: expected an integer > 0, got -3 (as $c in "
                      "templates.a.layer.conv.filters, t.yaml:7:29)"),
    ("$c - 8", "{}", "t.yaml:7:29: templates.a.layer.conv.filters: expected an integer > 0, got -4 (in the use at "
                     "stages.s[0].a, t.yaml:10:10)"),
])
def test_template_errors_name_file_line_path_and_use(value, use, expected):
    """Each mistake once (the template used twice), at file:line:column and YAML path; a value the use gave is
    reported at the use, one computed in the template's layer there, naming the use."""
    got = errors(net(ONE % value, f"    - a: {use}\n    - a: {use}"))
    assert got[0] == expected and len([g for g in got if "stages.s[1]" not in g]) == 1, got


def test_a_bad_value_used_at_several_places_is_one_error():
    """block_b uses $c7 six times: a bad c7 is one problem at the use, naming the first place."""
    with pytest.raises(ConfigError) as e:
        load_arch(V3, sets=[("stages.mixed[5].block_b.c7", 0)])
    assert [str(p) for p in e.value.problems] == [
        f"{V3}: stages.mixed[5].block_b.c7: expected an integer > 0, got 0 (as $c7 in templates.block_b.layer.branch."
        f"branches[1][0].conv.filters, {V3}:42:31) (from --set stages.mixed[5].block_b.c7=0)"]


def test_a_value_from_a_default_is_reported_at_the_default():
    got = errors(net(ONE % "$c", "    - a: {}") .replace("{c: 4, d: 2}", "{c: -4, d: 2}"))
    assert got == ["t.yaml:6:17: templates.a.params.c: expected an integer > 0, got -4 (as $c in "
                   "templates.a.layer.conv.filters, t.yaml:7:29)"]


def test_an_unknown_parameter_is_reported_once():
    """Once, at the template (not again as a value that is no integer at each use)."""
    got = errors(net(ONE % "$pol", "    - a: {}\n    - a: {c: 2}\n    - a: {repeat: 3}"))
    assert got == ["t.yaml:7:29: templates.a.layer.conv.filters: '$pol' is no parameter of template 'a' (params: c, "
                   "d)"]


def test_a_quoted_value_is_cut_short():
    text = "x" * 5000
    got = errors(net(ONE % "$c", f"    - a: {{c: '{text}'}}"))
    assert len(got) == 1 and "'" + "x" * 60 + "...' (a string)" in got[0] and len(got[0]) < 300, got
    got = errors(net(ONE % "$c", f"    - a: {{{text[:1000]}: 1}}"))  # YAML's longest key
    assert len(got) == 1 and "unknown parameter '" + "x" * 60 + "...'" in got[0] and len(got[0]) < 300, got


