"""fund.quick_init: the faster __init__ makes the same objects as the dataclass's own."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from dataclasses import InitVar, dataclass, field
from typing import Any, ClassVar

import pytest

from agentfund.oracles.base import Recorded
from fund.ledger import PortfolioView
from fund.messages import Decision, Observation
from fund.quick_init import quick_init


def _shape(name: str) -> type[Any]:
    """A frozen, slotted dataclass with every kind of field quick_init takes."""
    cls = dataclasses.make_dataclass(name, [
        ("KIND", ClassVar[str], "shape"),
        ("name", str),
        ("size", int, field(default=3)),
        ("tags", list[str], field(default_factory=list)),
        ("colour", str, field(default="red", kw_only=True)),
        ("extra", dict[str, int], field(default_factory=dict, kw_only=True)),
        ("note", str, field(kw_only=True)),
    ], frozen=True, slots=True)
    cls.__module__ = __name__  # found by pickle under its name here
    return cls


PlainShape = _shape("PlainShape")
QuickShape = quick_init(_shape("QuickShape"))

PLAIN, QUICK = PlainShape, QuickShape

CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("a",), {"note": "n"}),
    (("a", 5), {"note": "n"}),
    (("a", 5, ["x"]), {"colour": "blue", "extra": {"k": 1}, "note": "n"}),
    ((), {"name": "a", "size": 7, "note": "n"}),
]


@pytest.mark.parametrize(("args", "kwargs"), CALLS)
def test_the_same_object_as_the_dataclass_makes(args: tuple[Any, ...],
                                                 kwargs: dict[str, Any]) -> None:
    plain, quick = PLAIN(*args, **kwargs), QUICK(*args, **kwargs)
    assert dataclasses.asdict(quick) == dataclasses.asdict(plain)
    assert repr(quick).replace("Quick", "") == repr(plain).replace("Plain", "")
    assert quick == QUICK(*args, **kwargs)
    assert pickle.loads(pickle.dumps(quick)) == quick
    assert copy.deepcopy(quick) == quick
    assert dataclasses.replace(quick, name="b").name == "b"


def test_default_factories_make_a_new_value_for_each_object() -> None:
    first, second = QUICK("a", note="n"), QUICK("a", note="n")
    assert first.tags == [] and first.tags is not second.tags
    assert first.extra == {} and first.extra is not second.extra
    given = ["t"]
    assert QUICK("a", 3, given, note="n").tags is given  # a value passed is kept, not copied


def test_the_same_parameters() -> None:
    plain = inspect.signature(PLAIN.__init__).parameters
    quick = inspect.signature(QUICK.__init__).parameters
    assert [(p.name, p.kind) for p in quick.values()] == [(p.name, p.kind) for p in plain.values()]
    assert [repr(p.default) for p in quick.values()] == [repr(p.default) for p in plain.values()]


@pytest.mark.parametrize(("args", "kwargs", "complaint"), [
    ((), {"note": "n"}, "missing 1 required positional argument: 'name'"),
    (("a",), {}, "missing 1 required keyword-only argument: 'note'"),
    (("a",), {"note": "n", "shade": 1}, "unexpected keyword argument 'shade'"),
    (("a", 1, [], "blue"), {"note": "n"}, "takes from 2 to 4 positional arguments"),
    (("a",), {"name": "b", "note": "n"}, "multiple values for argument 'name'"),
])
def test_wrong_arguments_are_refused_as_the_dataclass_refuses_them(
        args: tuple[Any, ...], kwargs: dict[str, Any], complaint: str) -> None:
    for cls in (PLAIN, QUICK):
        with pytest.raises(TypeError, match=complaint):
            cls(*args, **kwargs)


def test_still_frozen() -> None:
    shape = QUICK("a", note="n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        shape.name = "b"  # type: ignore[misc]
    assert not hasattr(shape, "__dict__")  # still slotted


def test_classes_it_cannot_serve_are_refused() -> None:
    class Loose:
        name: str

    class Later:
        name: str

        def __post_init__(self) -> None:
            pass

    class Hidden:
        name: str
        cached: int = field(default=0, init=False)

    class Passed:
        name: str
        seed: InitVar[int] = 0

    cases = [dataclass(frozen=True)(Loose), dataclass(slots=True)(Loose),
             dataclass(frozen=True, slots=True)(Later),
             dataclass(frozen=True, slots=True)(Hidden),
             dataclass(frozen=True, slots=True)(Passed), Loose]
    for cls in cases:
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)


@pytest.mark.parametrize("cls", [PortfolioView, Decision, Observation, Recorded])
def test_the_classes_a_wake_builds_take_the_parameters_of_their_fields(cls: type[Any]) -> None:
    fields = dataclasses.fields(cls)
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert [p.name for p in parameters] == [f.name for f in fields]
    for p, f in zip(parameters, fields, strict=True):
        assert (p.kind is inspect.Parameter.KEYWORD_ONLY) == f.kw_only
        if f.default is not dataclasses.MISSING:
            assert p.default is f.default
        elif f.default_factory is not dataclasses.MISSING:
            assert repr(p.default) == "<factory>"
        else:
            assert p.default is inspect.Parameter.empty
