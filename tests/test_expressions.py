"""The ``.=`` expression language: what the documentation and official examples use works,
and nothing gets out of the sandbox (docs.globus.org/api/flows/authoring-flows/expressions)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palxfel_globus.engine.errors import ExpressionError
from palxfel_globus.engine.expressions import evaluate

STATE = {
    "source": {"path": "/~/in/", "id": "s"},
    "destination": {"path": "/out/"},
    "ls": {"details": {"DATA": [{"name": "a"}, {"name": "b"}]}},
    "n": 4,
    "flags": [True, False],
}
CONTEXT = {"run_id": "R", "username": "u@x.org", "email": None, "user_id": "U"}


def value(text: str) -> Any:
    return evaluate(text, STATE, CONTEXT)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[{'p': source.path.rstrip('/') + '/' + item.name} for item in ls.details.DATA]",
            [{"p": "/~/in/a"}, {"p": "/~/in/b"}],
        ),
        ("'/' + _context.run_id + '/'", "/R/"),
        ("(`$._context.email` or `$._context.username`) + ' (' + `$._context.user_id` + ')'", "u@x.org (U)"),
        ("destination.path + '/x/y.h5'.rpartition('/')[2]", "/out/y.h5"),
        ("pathsplit('/~/path')", ["/~/", "path"]),
        ("pathsplit('/a/b/c.txt')", ["/a/b", "c.txt"]),
        ("pathsplit('/a/b/')", ["/a", "b"]),
        ("is_present('source.id')", True),
        ("is_present('source.nope')", False),
        ("getattr('source.nope', 'fallback')", "fallback"),
        ("getattr('n')", 4),
        ("getattr('nope')", None),
        ("[False] * len(flags)", [False, False]),
        ("n if n > 3 else -n", 4),
        ("not flags[1]", True),
        ("'a' in ['a', 'b'] and 'c' not in 'abd'", True),
        ("1 < n <= 4", True),
        ("sum(x * x for x in range(n))", 14),
        ("sorted([3, 1, 2], reverse=True)", [3, 2, 1]),
        ("{k: v for k, v in [['a', 1], ['b', 2]]}", {"a": 1, "b": 2}),
        ("str(n) + 'x'", "4x"),
        ("int('7') + float('0.5')", 7.5),
        ("min(3, n) + max([1, n])", 7),
        ("any(flags) and not all(flags)", True),
        ("source.get('id')", "s"),
        ("list(source.keys())", ["path", "id"]),
        ("'A,B'.lower().split(',')", ["a", "b"]),
        ("(1, 2)", [1, 2]),
        ("ls.details.DATA[-1].name", "b"),
        ("'abcdef'[1:4]", "bcd"),
        ("n // 3 + n % 3", 2),
        ("2 ** 10", 1024),
        ("'x'.join(['a', 'b'])", "axb"),
        ("[i for i in range(3) if i != 1]", [0, 2]),
        ("enumerate(['a'])", [[0, "a"]]),
        ("zip([1], ['a'])", [[1, "a"]]),
    ],
)
def test_documented_and_example_expressions(text: str, expected: Any) -> None:
    assert value(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("().__class__.__bases__", "'__bases__' is not allowed"),
        ("''.__class__", "'__class__' is not allowed"),
        ("__import__('os')", "'__import__' is not allowed"),
        ("import os", "does not parse"),
        ("open('/etc/passwd')", "name 'open' is not defined"),
        ("eval('1')", "name 'eval' is not defined"),
        ("type(1)", "name 'type' is not defined"),
        ("lambda: 1", "Lambda is not allowed"),
        ("(x := 1)", "NamedExpr is not allowed"),
        ("f'{n}'", "JoinedStr is not allowed"),
        ("'{0.__class__}'.format(1)", "no attribute 'format'"),
        ("'%s' % n", "%-formatting of strings is not allowed"),
        ("'a' * 10**10", "larger than 1000000 items"),
        ("[0] * 10**7", "larger than 1000000 items"),
        ("9 ** 9 ** 9", "larger than 4096 bits"),
        ("range(10**9)", "larger than 1000000 items"),
        ("[x for x in range(1000) for y in range(1000)]", "took more than"),
        ("'x'.join(['a' * 999999, 'b' * 999999])", "larger than 1000000 items"),
        ("('ab' * 1000).replace('', 'x' * 1000)", "larger than 1000000 items"),
        ("[" * 60 + "]" * 60, "nests deeper than"),
        ("-" * 100 + "1", "nests deeper than"),
        ("getattr", "not JSON data"),
        ("source.path.__len__()", "'__len__' is not allowed"),
        ("ls.details.DATA.append(1)", "no attribute 'append'"),
        ("source.missing", "the object has no key 'missing'"),
        ("1 / 0", "ZeroDivisionError"),
        ("b'x'", "bytes literals are not allowed"),
        ("`$.nope.path`", "does not exist"),
        ("x" * 10_001, "longer than 10000 characters"),
    ],
)
def test_escapes_and_bombs_are_clean_errors(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace("[", r"\[")):
        value(text)


atoms = st.sampled_from(
    [
        "n",
        "source",
        "source.path",
        "ls.details.DATA",
        "flags",
        "1",
        "'s'",
        "[]",
        "{}",
        "_context",
        "`$.n`",
        "()",
        "None",
        "True",
        "pathsplit",
        "getattr",
        "range(3)",
        "__class__",
        "__import__",
        "x",
        "item",
        "'a' * 9",
        "9 ** 99",
        "len",
        "str",
    ]
)
joiners = st.sampled_from(
    [
        " + ",
        " * ",
        " ** ",
        ".",
        "[0]",
        "(",
        ")",
        " if ",
        " else ",
        " for x in ",
        " in ",
        " and ",
        " not ",
        ", ",
        "[",
        "]",
        "{",
        "}",
        ":",
        ".__class__",
        ".__dict__",
        " lambda ",
        " % ",
        " // ",
        "`",
        "'",
        ".rstrip(",
        ".join(",
        "=",
        ";",
        "\n",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(atoms, joiners), min_size=1, max_size=12))
def test_fuzzed_expressions_only_ever_raise_expression_error(parts: list[str]) -> None:
    try:
        value("".join(parts))
    except ExpressionError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_only_ever_raises_expression_error(text: str) -> None:
    try:
        value(text)
    except ExpressionError:
        pass


@pytest.mark.parametrize(
    "text",
    [
        # each of these took gigabytes or many seconds before values were weighed as they are built
        "[[0]*10000]*10000",
        "len([('a'*999999) for i in range(5000)])",
        "str(['a'*999999]*1000000)",
        "sum([[0]*1000000]*1000000, [])",
        "sum([[0]*1000]*3000, [])",
        "sum([('a'*999999).count('a') for i in range(60000)])",
        "[i in list(range(400000)) for i in range(100)]",
        "{str(i): 'x'*1000 for i in range(5000)}",
    ],
)
def test_hostile_expressions_fail_before_they_cost_memory_or_time(text: str) -> None:
    with pytest.raises(ExpressionError, match="larger than 1000000 items|took more than 200000 steps"):
        value(text)


def test_sum_of_lists_is_linear_and_keeps_its_meaning() -> None:
    assert value("sum([[1, 2], [3]], [])") == [1, 2, 3]
    assert value("sum([[0]*100]*3000, [])") == [0] * 300_000
    assert value("sum([1, 2.5, n])") == 7.5
    with pytest.raises(ExpressionError, match="sum\\(\\) adds numbers"):
        value("sum([[1], 'a'], [])")


# Random nestings of the constructs that multiply size or work: whatever they build, they stay
# within the size bound and the step budget, and nothing but ExpressionError comes out.
_leaves = st.sampled_from(
    ["0", "1.5", "'a'", "'ab' * 500", "[0] * 1000", "list(range(5000))", "n", "source", "9 ** 99"]
)


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    counts = st.sampled_from(["3", "100", "1000", "100000", "n"])
    return st.one_of(
        st.tuples(inner, counts).map(lambda t: f"({t[0]}) * {t[1]}"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) + ({t[1]})"),
        inner.map(lambda e: f"[{e}]"),
        st.tuples(inner, counts).map(lambda t: f"[({t[0]}) for i in range({t[1]})]"),
        inner.map(lambda e: f"sum([{e}, {e}], [])"),
        inner.map(lambda e: f"str({e})"),
        inner.map(lambda e: f"len({e})"),
        inner.map(lambda e: f"sorted([{e}])"),
        inner.map(lambda e: f"'-'.join([str({e})] * 3)"),
        inner.map(lambda e: f"str({e}).count('a')"),
        st.tuples(inner, inner).map(lambda t: f"({t[0]}) == ({t[1]})"),
        st.tuples(inner, counts).map(lambda t: f"[({t[0]}) in [{t[0]}] for i in range({t[1]})]"),
    )


@settings(max_examples=100, deadline=None)
@given(st.recursive(_leaves, _grow, max_leaves=6))
def test_random_nested_expressions_never_pass_the_bounds(text: str) -> None:
    import tracemalloc

    from palxfel_globus.engine import expressions

    tracemalloc.start()
    try:
        result = value(text)
    except ExpressionError:
        result = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert expressions.weight(result) <= expressions.MAX_SIZE
    assert peak < 64 * 1024 * 1024, f"{text} took {peak / 1e6:.0f} MB"
