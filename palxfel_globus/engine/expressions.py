"""``key.=`` expressions: a sandboxed Python subset, as the Flows service evaluates them.

The expression is parsed with ``ast`` and walked by this module; nothing is handed to
``eval``. Only listed node types, functions and methods exist, so there are no imports,
no attribute access beyond dict keys and a few str/list/dict methods, no dunders, and
nothing that reaches a frame or a class.

Bounds, so that no expression takes more than a few tens of MB or about a second: every
value is weighed by its *materialized* size (an item per value, plus a string's
characters, nested values and every shared reference counted again), and an operation
whose result would pass ``MAX_SIZE`` fails before it builds it (``[[0]*10**4]*10**4``);
every step counts, and bulk work (copying, scanning, summing, comparing) costs a step
per ``WORK_PER_STEP`` items or characters it touches, so a loop over a large string's
``count`` runs out of steps long before it runs out of time. A clock is the backstop.
Each ends in an ``ExpressionError``, never a hung or crashed engine.

Names resolve against the run state's top-level keys (and ``_context``); ``a.b`` reads
key ``b`` of object ``a``; `` `$.x.y` `` is a JSONPath into the run state. The helper
functions are the documented ``pathsplit``, ``is_present`` and ``getattr`` plus the
builtins the official examples use (globus-flows.md 1.3).
"""

from __future__ import annotations

import ast
import functools
import operator
import posixpath
import re
import time
import types
from typing import Any, Callable

from palxfel_globus.engine import jsonpath
from palxfel_globus.engine.errors import ExpressionError, JsonPathError

MAX_LENGTH = 10_000  # characters of expression text
MAX_DEPTH = 40  # nesting of the parsed expression
MAX_SIZE = 1_000_000  # materialized size of any value an expression builds (see weight())
MAX_STEPS = 200_000  # evaluation steps of one expression
WORK_PER_STEP = 100  # items or characters that bulk work may touch per step
MAX_SECONDS = 2.0  # wall-clock backstop; the step count ends hostile expressions well before
MAX_INT_BITS = 4096
TOO_LARGE = f"the expression built a value larger than {MAX_SIZE} items (nested values and characters counted)"
_DICT_VIEWS = (type({}.keys()), type({}.values()), type({}.items()))

_BACKTICK = re.compile(r"`([^`]*)`")

_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.Attribute, ast.Subscript, ast.Slice,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp,
    ast.Call, ast.keyword, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
)  # fmt: skip

_STR_METHODS = frozenset(
    "capitalize casefold count endswith find index isalnum isalpha isdigit islower isnumeric isspace isupper "
    "join lower lstrip partition removeprefix removesuffix replace rfind rindex rpartition rsplit rstrip split "
    "splitlines startswith strip swapcase title upper".split()
)
_LIST_METHODS = frozenset({"count", "index"})
_DICT_METHODS = frozenset({"get", "keys", "values", "items"})

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}  # fmt: skip
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}  # fmt: skip


class CompiledExpression:
    """A parsed, checked expression and the JSONPaths its backticks name."""

    __slots__ = ("text", "tree", "backticks")

    def __init__(self, text: str, tree: ast.Expression, backticks: tuple[tuple[str, str], ...]) -> None:
        self.text = text
        self.tree = tree
        self.backticks = backticks


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> CompiledExpression:
    """Parse and check once; ExpressionError for anything outside the subset."""
    if not isinstance(text, str):
        raise ExpressionError("an expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    backticks: list[tuple[str, str]] = []

    def placeholder(match: re.Match[str]) -> str:
        path = match.group(1).strip()
        try:
            jsonpath.parse(path)
        except JsonPathError as exc:
            raise ExpressionError(str(exc)) from None
        name = f"_backtick{len(backticks)}_"
        backticks.append((name, path))
        return name

    source = _BACKTICK.sub(placeholder, text)
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"the expression does not parse: {getattr(exc, 'msg', exc)}") from None
    _check(tree, 0)
    return CompiledExpression(text, tree, tuple(backticks))


def _check(node: ast.AST, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"the expression nests deeper than {MAX_DEPTH} levels")
    if not isinstance(node, _ALLOWED_NODES):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.Attribute) and node.attr.startswith("__"):
        raise ExpressionError(f"the attribute {node.attr!r} is not allowed")
    if isinstance(node, ast.Name) and node.id.startswith("__"):
        raise ExpressionError(f"the name {node.id!r} is not allowed")
    if isinstance(node, ast.comprehension) and node.is_async:
        raise ExpressionError("async comprehensions are not allowed")
    if isinstance(node, ast.Call) and any(isinstance(arg, ast.Starred) for arg in node.args):
        raise ExpressionError("argument unpacking is not allowed")
    for child in ast.iter_child_nodes(node):
        _check(child, depth + 1)


def evaluate(text: str, state: dict[str, Any], context: dict[str, Any]) -> Any:
    """The value of ``text`` against a run state; ExpressionError on any failure."""
    compiled = compile_expression(text)
    names = {"_context": context}
    for name, path in compiled.backticks:
        try:
            names[name] = _jsonpath_value(state, context, path)
        except JsonPathError as exc:
            raise ExpressionError(str(exc)) from None
    evaluator = _Evaluator(state, context, names)
    try:
        return _as_json(evaluator.eval(compiled.tree.body))
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError("the expression recurses too deeply") from None
    except MemoryError:
        raise ExpressionError("the expression ran out of memory") from None
    except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None


def _jsonpath_value(state: dict[str, Any], context: dict[str, Any], path: str) -> Any:
    steps = jsonpath.parse(path)
    if steps and steps[0] == "_context":
        return jsonpath.lookup(context, steps[1:])
    return jsonpath.lookup(state, steps)


def _as_json(value: Any) -> Any:
    """The value as JSON data (tuples, sets, ranges and dict views become lists); a function is an error."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _as_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, range, type({}.keys()), type({}.values()), type({}.items()))):
        return [_as_json(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return [_as_json(item) for item in sorted(value, key=repr)]
    raise ExpressionError(f"the expression's value is a {type(value).__name__}, not JSON data")


def weight(value: Any, limit: int = MAX_SIZE) -> int:
    """The materialized size of a value: one per value, plus a string's characters and a large
    number's words, plus all a container holds, a value reached twice counted twice (``[x] * n``
    is n copies of x when serialized). Counting stops just past ``limit``, so weighing costs at
    most that much work however large the value is."""
    total, stack = 0, [value]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, int):
            total += item.bit_length() // 64
        elif isinstance(item, range):
            total += len(item)
        elif isinstance(item, (dict, list, tuple, set, frozenset, *_DICT_VIEWS)):
            if len(item) > limit:
                return limit + 1
            for part in (item.keys(), item.values()) if isinstance(item, dict) else (item,):
                flat = _flat_weight(part)
                if flat is None:
                    stack.extend(part)
                else:
                    total += flat
        if total > limit:
            return total
    return total


def within_bound(size: int) -> int:
    """``size`` when a value that large may be built; else the expression fails, before it is built."""
    if size > MAX_SIZE:
        raise ExpressionError(TOO_LARGE)
    return size


def _flat_weight(items: Any) -> Any:
    """The weight of a container of scalars or of strings, counted at C speed (``weight`` would
    walk a million numbers one by one in Python); None when it holds anything else."""
    kinds = set(map(type, items))
    if kinds <= {float, bool, type(None)}:
        return len(items)
    if kinds <= {int, bool}:
        return len(items) + sum(map(int.bit_length, items)) // 64
    if kinds == {str}:
        return len(items) + sum(map(len, items))
    return None


def pathsplit(path: str) -> list[str]:
    """[directory, name]; ``/~/`` is never split (``pathsplit('/~/x')`` -> ``['/~/', 'x']``)."""
    if not isinstance(path, str):
        raise ExpressionError("pathsplit() takes a path string")
    trimmed = path.rstrip("/") or "/"
    if trimmed == "/~":
        return ["/~/", ""]
    head, tail = posixpath.split(trimmed)
    return ["/~/" if head == "/~" else head, tail]


class _Evaluator:
    """Walks a checked tree. State lookups go through ``names`` first, then the run state."""

    def __init__(self, state: dict[str, Any], context: dict[str, Any], names: dict[str, Any]) -> None:
        self.state = state
        self.context = context
        self.scopes: list[dict[str, Any]] = [names]
        self.steps = 0
        self.ticks = 0
        self.deadline = time.monotonic() + MAX_SECONDS
        self.functions: dict[str, Callable[..., Any]] = {
            "pathsplit": pathsplit,
            "is_present": self.is_present,
            "getattr": self.get_attr,
            "len": len, "str": self.to_str, "int": int, "float": float, "bool": bool, "abs": abs, "round": round,
            "min": self.scanning(min), "max": self.scanning(max), "sum": self.sum, "any": self.scanning(any),
            "all": self.scanning(all), "sorted": self.sorted, "range": self.range,
            "list": self.to_list, "dict": dict, "set": self.to_set, "tuple": self.to_list, "enumerate": self.enumerate,
            "zip": self.zip, "reversed": self.reversed,
        }  # fmt: skip
        self.callable_ids = {id(function) for function in self.functions.values()}

    # helper functions -------------------------------------------------
    def _dotted(self, dotted: Any) -> Any:
        if not isinstance(dotted, str):
            raise ExpressionError("is_present() and getattr() take a path string such as 'a.b'")
        path = dotted if dotted.startswith("$") else "$." + dotted
        return _jsonpath_value(self.state, self.context, path)

    def is_present(self, dotted: Any) -> bool:
        try:
            self._dotted(dotted)
        except JsonPathError:
            return False
        return True

    def get_attr(self, dotted: Any, default: Any = None) -> Any:
        try:
            return self._dotted(dotted)
        except JsonPathError:
            return default

    def to_str(self, value: Any = "") -> str:
        return self.sized(str(value))

    def sorted(self, items: Any, reverse: bool = False) -> list[Any]:
        listed = self.to_list(items)
        self.work(len(listed) * max(1, len(listed).bit_length()))
        return sorted(listed, reverse=reverse)

    def scanning(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """min, max, any, all: they touch every item (and compare them), so they cost their input's weight."""

        def scan(*args: Any, **kwargs: Any) -> Any:
            for arg in args:
                self.work(weight(arg))
            return function(*args, **kwargs)

        return scan

    def sum(self, items: Any, start: Any = 0) -> Any:
        """Numbers add up; lists and strings are joined once, in linear time, within the size bound
        (Python's own sum of lists is quadratic: ``sum([[0]*1000]*3000, [])`` would take seconds)."""
        listed = self.to_list(items)
        if isinstance(start, (list, tuple, str)) or any(isinstance(item, (list, tuple, str)) for item in listed):
            if not all(isinstance(item, type(start)) for item in listed):
                raise ExpressionError("sum() adds numbers, or lists (or strings) to a start of the same type")
            self.work(within_bound(weight(start) + sum(weight(item) for item in listed)))
            if isinstance(start, str):
                return start + "".join(listed)
            joined = list(start)
            for item in listed:
                joined.extend(item)
            return type(start)(joined) if isinstance(start, tuple) else joined
        self.work(len(listed))
        return self.sized(sum(listed, start))

    def range(self, *args: int) -> range:
        result = range(*args)
        return self.sized(result)

    def to_list(self, items: Any = ()) -> list[Any]:
        return self.sized(list(self.sized(items) if hasattr(items, "__len__") else self.bounded(items)))

    def to_set(self, items: Any = ()) -> set[Any]:
        return set(self.to_list(items))

    def enumerate(self, items: Any, start: int = 0) -> list[list[Any]]:
        return [[start + number, item] for number, item in enumerate(self.to_list(items))]

    def zip(self, *lists: Any) -> list[list[Any]]:
        return [list(group) for group in zip(*(self.to_list(items) for items in lists))]

    def reversed(self, items: Any) -> list[Any]:
        return list(reversed(self.to_list(items)))

    # limits -----------------------------------------------------------
    def tick(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise ExpressionError(f"the expression took more than {MAX_STEPS} steps (bulk work counted)")
        self.ticks += 1
        if self.ticks % 1024 == 0 and time.monotonic() > self.deadline:
            raise ExpressionError(f"the expression took more than {MAX_SECONDS:g} s")

    def work(self, units: int) -> None:
        """Bulk work of ``units`` items or characters."""
        self.tick(units // WORK_PER_STEP)

    def sized(self, value: Any) -> Any:
        """A value just built: within the size bound, and its building paid for."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise ExpressionError(f"the expression built a number larger than {MAX_INT_BITS} bits")
        if isinstance(value, (str, list, tuple, dict, set, range, *_DICT_VIEWS)):
            self.work(within_bound(weight(value)))
        return value

    def bounded(self, iterable: Any) -> Any:
        for item in iterable:
            self.tick()
            yield item

    # evaluation -------------------------------------------------------
    def eval(self, node: ast.AST) -> Any:
        self.tick()
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        return method(node)

    def eval_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (bytes, complex)) or node.value is Ellipsis:
            raise ExpressionError(f"{type(node.value).__name__} literals are not allowed")
        return node.value

    def eval_Name(self, node: ast.Name) -> Any:
        for scope in reversed(self.scopes):
            if node.id in scope:
                return scope[node.id]
        if node.id in self.state:
            return self.state[node.id]
        if node.id in self.functions:
            return self.functions[node.id]
        raise ExpressionError(f"name {node.id!r} is not defined in the run state")

    def eval_Attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        if isinstance(value, dict):
            if node.attr in value:
                return value[node.attr]
            if node.attr in _DICT_METHODS:
                return getattr(value, node.attr)
            raise ExpressionError(f"the object has no key {node.attr!r}")
        allowed = _STR_METHODS if isinstance(value, str) else _LIST_METHODS if isinstance(value, list) else ()
        if node.attr in allowed:
            return getattr(value, node.attr)
        raise ExpressionError(f"{type(value).__name__} has no attribute {node.attr!r} here")

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        if not isinstance(value, (dict, list, str, tuple)):
            raise ExpressionError(f"{type(value).__name__} cannot be indexed")
        result = value[self.eval(node.slice)]
        return self.sized(result) if isinstance(node.slice, ast.Slice) else result

    def eval_Slice(self, node: ast.Slice) -> slice:
        parts = [None if part is None else self.eval(part) for part in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def eval_List(self, node: ast.List) -> list[Any]:
        return self.sized([self.eval(element) for element in node.elts])

    eval_Tuple = eval_List

    def eval_Set(self, node: ast.Set) -> set[Any]:
        return set(self.eval_List(node))  # type: ignore[arg-type]

    def eval_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(key is None for key in node.keys):
            raise ExpressionError("dict unpacking is not allowed")
        return self.sized({self.eval(key): self.eval(value) for key, value in zip(node.keys, node.values)})  # type: ignore[arg-type]

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        op = type(node.op)
        if op is ast.Mult:
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(count, int):
                    # the copies' contents, plus the new container itself
                    within_bound((weight(sequence) - 1) * max(count, 0) + 1)
        elif op is ast.Pow and isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(abs(left).bit_length(), 1) * right > MAX_INT_BITS * 2:
                raise ExpressionError(f"the expression built a number larger than {MAX_INT_BITS} bits")
        elif op is ast.Mod and isinstance(left, str):
            raise ExpressionError("%-formatting of strings is not allowed; use +")
        elif op is ast.Add and isinstance(left, (str, list, tuple)) and isinstance(right, type(left)):
            within_bound(weight(left) + weight(right))
        return self.sized(_BINARY[op](left, right))

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if not isinstance(value, (int, float)):
            raise ExpressionError(f"unary {type(node.op).__name__} needs a number")
        return -value if isinstance(node.op, ast.USub) else +value

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        result: Any = None
        for value_node in node.values:
            result = self.eval(value_node)
            if isinstance(node.op, ast.And) and not result:
                return result
            if isinstance(node.op, ast.Or) and result:
                return result
        return result

    def eval_Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            if isinstance(op, (ast.In, ast.NotIn)):
                self.work(weight(right))
            elif not isinstance(op, (ast.Is, ast.IsNot)):
                self.work(min(weight(left), weight(right)))
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def eval_Call(self, node: ast.Call) -> Any:
        function = self.eval(node.func)
        is_method = isinstance(function, types.BuiltinMethodType) and type(function.__self__) in (str, list, dict)
        if id(function) not in self.callable_ids and not is_method:
            raise ExpressionError("only the helper functions and str/list/dict methods can be called")
        if getattr(function, "__name__", "") in ("replace", "join") and isinstance(
            getattr(function, "__self__", None), str
        ):
            return self.call_sized_str_method(function, node)
        args = [self.eval(arg) for arg in node.args]
        kwargs = {keyword.arg: self.eval(keyword.value) for keyword in node.keywords if keyword.arg}
        if len(kwargs) != len(node.keywords):
            raise ExpressionError("keyword unpacking is not allowed")
        if is_method and function.__name__ != "get":  # a str or list method reads its whole object
            self.work(weight(function.__self__) + sum(weight(arg) for arg in args))
        return self.sized(function(*args, **kwargs))

    def call_sized_str_method(self, method: Callable[..., str], node: ast.Call) -> str:
        """str.replace and str.join can multiply sizes; bound them before building."""
        text: str = method.__self__  # type: ignore[attr-defined]
        args = [self.eval(arg) for arg in node.args]
        if method.__name__ == "join":
            items = self.to_list(args[0]) if args else []
            within_bound(sum(len(item) if isinstance(item, str) else 0 for item in items) + len(text) * len(items))
            return self.sized(text.join(items))
        if len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
            occurrences = text.count(args[0]) if args[0] else len(text) + 1
            within_bound(len(text) + occurrences * max(0, len(args[1]) - len(args[0])))
        self.work(len(text))
        return self.sized(method(*args))

    def _comprehension(self, generators: list[ast.comprehension], produce: Callable[[], None]) -> None:
        def loop(index: int) -> None:
            if index == len(generators):
                produce()
                return
            generator = generators[index]
            iterable = self.eval(generator.iter)
            if isinstance(iterable, dict):
                iterable = list(iterable)
            if not isinstance(iterable, (list, tuple, str, range, set)):
                raise ExpressionError(f"cannot loop over {type(iterable).__name__}")
            for item in self.bounded(iterable):
                self.bind(generator.target, item)
                if all(self.eval(condition) for condition in generator.ifs):
                    loop(index + 1)

        self.scopes.append({})
        try:
            loop(0)
        finally:
            self.scopes.pop()

    def bind(self, target: ast.AST, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id.startswith("__"):
                raise ExpressionError(f"the name {target.id!r} is not allowed")
            self.scopes[-1][target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            values = list(value)
            if len(values) != len(target.elts):
                raise ExpressionError("cannot unpack: the number of names and values differ")
            for element, item in zip(target.elts, values):
                self.bind(element, item)
        else:
            raise ExpressionError("a comprehension may only bind names")

    def eval_ListComp(self, node: ast.ListComp) -> list[Any]:
        result: list[Any] = []
        built = 1

        def produce() -> None:
            nonlocal built
            element = self.eval(node.elt)
            built = within_bound(built + weight(element))  # before the next element is built
            result.append(element)

        self._comprehension(node.generators, produce)
        return self.sized(result)

    eval_GeneratorExp = eval_ListComp

    def eval_SetComp(self, node: ast.SetComp) -> set[Any]:
        return set(self.eval_ListComp(node))  # type: ignore[arg-type]

    def eval_DictComp(self, node: ast.DictComp) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        built = 1

        def produce() -> None:
            nonlocal built
            key, value = self.eval(node.key), self.eval(node.value)
            built = within_bound(built + weight(key) + weight(value))
            result[key] = value

        self._comprehension(node.generators, produce)
        return self.sized(result)
