"""Reading a projection checkpoint back (fund/projection_store.py's ``decode``): every kind
of value the codec keeps comes back as it was, and text it never writes is refused."""

from __future__ import annotations

from array import array
from decimal import Decimal

import pytest

from fund import projection_store
from fund.monitor.store import CLASSES


def test_every_kind_of_value_comes_back_as_it_was_kept() -> None:
    value = {"text": "naïve ✓", "int": -(2**62), "float": 0.1, "nan": float("nan"),
             "inf": float("-inf"), "decimal": Decimal("1234.500"), "tuple": (1, "a"),
             "set": {3, 1, 2}, "list": [None, True, False], "array": array("d", [1.5, -0.0]),
             "nested": {("a", 1): [Decimal("0")]}}
    back = projection_store.decode(projection_store.encode(value, CLASSES), CLASSES)

    assert back["nan"] != back["nan"] and back["inf"] == float("-inf")
    assert str(back["decimal"]) == "1234.500"
    assert {k: v for k, v in back.items() if k != "nan"} == \
        {k: v for k, v in value.items() if k != "nan"}
    assert projection_store.encode(back, CLASSES) == projection_store.encode(value, CLASSES)


@pytest.mark.parametrize("text", [b"[NaN]", b'{"$m":[["a",Infinity]]}', b"[-Infinity]",
                                  b'{"$m":[["a",1]]', b"\xff\xfe\x00", b""])
def test_what_the_codec_never_writes_is_refused_with_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        projection_store.decode(text, CLASSES)
