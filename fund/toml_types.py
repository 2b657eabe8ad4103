"""Config values keep the types TOML gave them: a number is a TOML number, not a string.

Also here: how deep config values may nest (:data:`MAX_DEPTH`, :func:`too_deep`,
:func:`deepest_line` for text tomllib's recursion gave up on), and the dotted key of a
pydantic error's location (:func:`error_location`).

Pydantic converts freely: ``"0.3"`` becomes a Decimal, ``true`` the integer 1, ``1.7e9``
a date. :func:`check_toml` refuses those conversions for values read from a config file,
naming the key, and lets pydantic's own validation (run after it) do everything else.

Pydantic's strict mode does not fit TOML: it refuses an integer or a float for a Decimal,
an array for a tuple and a string for a Path. So the check validates with a copy of the
type's core schema in which every number, boolean and date schema is wrapped in a test of
the input's type, run only when pydantic would have accepted the input (its own message,
"Input should be a valid decimal", stays for text no reading makes a number of). In the
copy, models and dataclasses are built as stand-ins without their own validators and
``__post_init__`` (pydantic would otherwise reuse a model's compiled validator, and the
unchecked copy), so the check runs no class code twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema

INT64 = range(-(2**63), 2**63)
"""TOML's integers are 64-bit (and so are the journal's JSON numbers)."""

_KEEP = frozenset({"cls", "config", "function", "keys_schema", "metadata", "ref",
                   "serialization"})
_CLASSES = ("model", "dataclass")


class _StandIn:
    """What a model or dataclass is built as while its values are checked."""


def is_toml_error(error_type: str) -> bool:
    """Whether a pydantic error type is one of :func:`check_toml`'s."""
    return error_type.startswith("toml_")


_CHECKERS: dict[Any, SchemaValidator] = {}


def check_toml(kind: Any, raw: Any) -> None:
    """Refuse, with a ValidationError whose errors include a ``toml_…`` one, values parsed
    from TOML that ``kind`` would take only by converting them: a string or a boolean for
    a number, a non-finite float, an integer beyond 64 bits, anything but ``true`` or
    ``false`` for a boolean, a number for a date. Other problems are left to pydantic."""
    checker = _CHECKERS.get(kind)
    if checker is None:
        checker = _CHECKERS[kind] = SchemaValidator(_checking(TypeAdapter(kind).core_schema))
    try:
        checker.validate_python(raw)
    except ValidationError as exc:
        if any(is_toml_error(error["type"]) for error in exc.errors()):
            raise


def _checking(node: Any) -> Any:
    """The core schema ``node`` with the TOML checks in, and stand-ins for classes."""
    if isinstance(node, list):
        return [_checking(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: value if key in _KEEP else _checking(value) for key, value in node.items()}
    kind = schema.get("type")
    inner = schema.get("schema")
    if kind in ("function-after", "function-wrap") and isinstance(inner, dict) and \
            inner.get("type") in _CLASSES:
        return inner  # a model validator: the class's own code, run by the real validation
    if kind == "model":
        schema.update(cls=_StandIn, custom_init=False)
        schema.pop("post_init", None)
    elif kind == "dataclass":
        schema.update(cls=_StandIn, post_init=False)
    check = _CHECKS.get(kind) if isinstance(kind, str) else None
    return schema if check is None else core_schema.no_info_wrap_validator_function(
        check, cast(core_schema.CoreSchema, schema))


def _found(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"the string {value!r}" if isinstance(value, str) else f"the number {value!r}"


def _number(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    result = value if isinstance(value, bool) else handler(value)
    if isinstance(value, str | bool):
        raise PydanticCustomError("toml_number", "expected a number, not {found}",
                                  {"found": _found(value)})
    if isinstance(result, float) and not math.isfinite(result):
        raise PydanticCustomError("toml_finite", "expected a finite number, not {found}",
                                  {"found": _found(value)})
    if isinstance(result, int) and result not in INT64:
        raise PydanticCustomError("toml_int64", "{found} is beyond TOML's 64-bit integers "
                                  "(-2^63 to 2^63 - 1)", {"found": f"{value!r}"})
    return result


def _boolean(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    result = handler(value)
    if not isinstance(value, bool):
        raise PydanticCustomError("toml_bool", "expected true or false, not {found}",
                                  {"found": _found(value)})
    return result


def _date(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    result = handler(value)
    if isinstance(value, int | float):  # a boolean is an int too
        raise PydanticCustomError("toml_date", "expected a date, not {found}",
                                  {"found": _found(value)})
    return result


_CHECKS = {"decimal": _number, "float": _number, "int": _number, "bool": _boolean,
           "date": _date, "datetime": _date}


MAX_DEPTH = 32
"""Arrays and tables may nest this deep in a config (a fund needs 7 levels at most)."""


def too_deep(raw: Mapping[str, Any]) -> str | None:
    """The dotted key of a value nested more than MAX_DEPTH levels deep, if any."""
    stack: list[tuple[Any, tuple[str, ...], int]] = [(raw, (), 0)]
    while stack:
        node, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            return ".".join(key)
        if isinstance(node, Mapping):
            stack.extend((value, (*key, str(name)), depth + 1) for name, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, key, depth + 1) for value in node)  # named by its key
    return None


def deepest_line(text: str) -> int:
    """The line where TOML brackets nest deepest (strings and comments skipped)."""
    depth = deepest = 0
    line = where = 1
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote[0] == '"':
                line += text[i + 1:i + 2] == "\n"
                i += 2
                continue
            if text.startswith(quote, i):
                i, quote = i + len(quote), ""
                continue
        elif char == "#":
            i = text.find("\n", i)
            i = len(text) if i < 0 else i
            continue
        elif char in "\"'":
            quote = char * 3 if text.startswith(char * 3, i) else char
            i += len(quote)
            continue
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif char in "]}":
            depth -= 1
        line += char == "\n"
        i += 1
    return where


MISSING = object()
"""No raw value here (a key the input did not have)."""
_TYPE_LABELS = frozenset({"bool", "date", "datetime", "decimal", "float", "int", "str",
                          "time", "timedelta", "list", "dict", "tuple", "none"})


def error_location(loc: Sequence[Any], raw: Any = MISSING) -> str:
    """The dotted key of an error's location, read along the raw values validated: a
    mapping validated into (key, value) pairs (``ordered_pairs``) is named by its key,
    and the member names of a union (``datetime``, ``decimal``) are left out."""
    parts: list[str] = []
    node, pair = raw, False
    for part in loc:
        text = str(part)
        if pair:  # 0 (the key) or 1 (the value) of a pair named already
            pair = False
            node = node if part == 1 else MISSING
            continue
        if text.startswith("function-"):
            continue
        if isinstance(node, Mapping) and isinstance(part, int) and 0 <= part < len(node):
            key = list(node)[part]
            parts.append(str(key))
            node, pair = node[key], True
            continue
        leaf = node is not MISSING and not isinstance(node, Mapping | list)
        if leaf and (text in _TYPE_LABELS or "[" in text):
            continue
        parts.append(text)
        node = _child(node, part)
    return ".".join(parts)


def _child(node: Any, part: Any) -> Any:
    if isinstance(node, Mapping):
        return node.get(part, MISSING)
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return MISSING
