"""`model_json` writes exactly pydantic's bytes (`by_alias=True, exclude_unset=True`), taking the
orjson path for the model classes that qualify and pydantic's own for everything else."""

from __future__ import annotations

import enum
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, Literal

import pytest
from estuary_cdk.capture import _model_json
from estuary_cdk.capture._model_json import model_json
from estuary_cdk.capture.document import BaseDocument
from pydantic import (
    AliasGenerator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    RootModel,
    computed_field,
    field_serializer,
    field_validator,
    model_serializer,
)


def pydantic_json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model, by_alias=True, exclude_unset=True)


def takes_fast_path(cls: type[BaseModel]) -> bool:
    return _model_json._build(cls) is not _model_json._pydantic_json


FAST = _model_json._ORJSON_MATCHES
"""False under a pydantic older than `ORJSON_FROM` (the floor test runs there): every class is
then written by pydantic itself, and the tests of the fast path itself are skipped."""
fast_path_only = pytest.mark.skipif(not FAST, reason="pydantic older than ORJSON_FROM: no orjson path")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Address(BaseModel):
    street: str
    city: str = "Springfield"
    zip: str | None = None


class Item(BaseDocument):
    id: int
    name: str
    score: float
    active: bool
    parent_id: int | None
    tags: list[str]
    address: Address
    created_at: datetime
    note: str = "none"


class Everything(BaseDocument):
    """Every kind of field the fast path accepts."""

    id: int
    when: datetime | None = None
    day: date | None = None
    clock: time | None = None
    uid: uuid.UUID | None = None
    color: Color = Color.RED
    level: Level = Level.LOW
    kind: Literal["a", "b"] = "a"
    anything: Any = None
    mapping: dict[str, Any] = Field(default_factory=dict)
    addresses: list[Address] = Field(default_factory=list)
    by_name: dict[str, Address] = Field(default_factory=dict)
    either: Address | int | None = None
    pair: tuple[int, str] | None = None
    aliased: int | None = Field(default=None, alias="Aliased-Key")
    hidden: str = Field(default="secret", exclude=True)


class Tree(BaseModel):
    value: int
    children: list[Tree] = Field(default_factory=list)
    parent: Tree | None = None


def item(i: int = 7, **changes: Any) -> Item:
    raw: dict[str, Any] = {
        "id": i,
        "name": f"item {i}",
        "score": i * 0.25,
        "active": i % 2 == 0,
        "parent_id": i - 1 if i else None,
        "tags": ["a", "b"],
        "address": {"street": "1 Main St"},
        "created_at": datetime(2024, 6, 1, 12, 30, 5, 120000, tzinfo=UTC),
    }
    raw.update(changes)
    return Item.model_validate(raw)


@fast_path_only
def test_qualifying_classes_take_the_fast_path() -> None:
    assert takes_fast_path(Item)
    assert takes_fast_path(Everything)
    assert takes_fast_path(Tree)
    assert takes_fast_path(Address)


@pytest.mark.parametrize(
    "model",
    [
        item(),
        item(0),
        item(3, note="set to the default's value"),
        item(4, extra_field={"nested": [1, 2, {"x": None}]}, another="x"),
        item(5).with_meta("d"),
        item(6).with_meta("c", 12),
        item(8, address={"street": "2 Side St", "city": "Shelbyville", "zip": "12345"}),
        item(9, created_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))),
        item(10, created_at=datetime(2024, 1, 2, 3, 4, 5)),
        item(11, name='quotes " backslash \\ control \x01\x1f del \x7f unicode é漢😀 \u2028'),
        item(12, score=float("nan")),
        item(13, score=float("inf")),
        item(14, score=1e16),
        item(15, id=2**63 - 1),
        item(16, id=-(2**63)),
    ],
    ids=lambda m: f"{type(m).__name__}-{m.id}",
)
def test_documents_match_pydantic(model: Item) -> None:
    assert model_json(model) == pydantic_json(model)


def test_every_accepted_field_kind_matches_pydantic() -> None:
    doc = Everything.model_validate(
        {
            "id": 1,
            "when": "2024-02-29T23:59:59.999999+14:00",
            "day": "2024-02-29",
            "clock": "23:59:59.5",
            "uid": "12345678-1234-5678-1234-567812345678",
            "color": "blue",
            "level": 2,
            "kind": "b",
            "anything": {"list": [1, 2.5, "x", None, True], "model": Address(street="s")},
            "mapping": {"a": {"b": [datetime(2020, 1, 1, tzinfo=UTC)]}},
            "addresses": [{"street": "a"}, {"street": "b", "zip": None}],
            "by_name": {"home": {"street": "h", "city": "c"}},
            "either": {"street": "e"},
            "pair": [1, "one"],
            "Aliased-Key": 5,
            "hidden": "not written",
            "extra": [{"deep": "value"}],
        }
    )
    assert model_json(doc) == pydantic_json(doc)
    assert b"not written" not in model_json(doc)
    assert b'"Aliased-Key":5' in model_json(doc)


def test_recursive_models_match_pydantic() -> None:
    root = Tree(value=1, children=[Tree(value=2, children=[Tree(value=3)]), Tree(value=4)])
    root.children[0].parent = Tree(value=0)
    assert model_json(root) == pydantic_json(root)


def test_assignment_and_construct_follow_exclude_unset() -> None:
    doc = item(20)
    doc.note = "assigned"
    assert model_json(doc) == pydantic_json(doc)
    constructed = Item.model_construct(id=1, name="partial")
    assert model_json(constructed) == pydantic_json(constructed) == b'{"id":1,"name":"partial"}'
    narrowed = Item.model_construct(_fields_set={"id"}, **item(21).__dict__)
    assert model_json(narrowed) == pydantic_json(narrowed) == b'{"id":21}'
    copied = item(22).model_copy(update={"note": "copied"})
    assert model_json(copied) == pydantic_json(copied)


def test_cached_property_values_are_not_written() -> None:
    class WithCache(BaseModel):
        a: int

        @cached_property
        def doubled(self) -> int:
            return self.a * 2

    model = WithCache(a=2)
    assert model.doubled == 4  # Now in __dict__.
    assert model_json(model) == pydantic_json(model) == b'{"a":2}'


@pytest.mark.parametrize(
    "value",
    [
        Decimal("1.50"),
        b"bytes",
        timedelta(hours=1, seconds=3),
        {1, 2},
        {1: "int key"},
        2**64,
        -(2**63) - 1,
        time(1, 2, tzinfo=UTC),
        frozenset({"a"}),
    ],
    ids=repr,
)
def test_values_orjson_cannot_write_fall_back_to_pydantic(value: Any) -> None:
    doc = Everything.model_validate({"id": 1, "anything": value, "in_extra": value})
    assert model_json(doc) == pydantic_json(doc)


def test_a_subclass_instance_is_written_as_the_declared_class() -> None:
    class Home(Address):
        floor: int = 0

    doc = item(30)
    doc.address = Home(street="x", floor=3)  # Assignment is not revalidated.
    assert model_json(doc) == pydantic_json(doc)
    assert b"floor" not in model_json(doc)


def test_classes_with_custom_serialization_use_pydantic() -> None:
    class WithFieldSerializer(BaseModel):
        at: datetime

        @field_serializer("at")
        def epoch(self, value: datetime) -> int:
            return int(value.timestamp())

    class WithModelSerializer(BaseModel):
        a: int

        @model_serializer
        def custom(self) -> dict[str, Any]:
            return {"A": self.a}

    class WithComputed(BaseModel):
        a: int

        @computed_field  # type: ignore[prop-decorator]
        @property
        def b(self) -> int:
            return self.a + 1

    class WithAnnotatedSerializer(BaseModel):
        a: Annotated[int, PlainSerializer(lambda v: str(v))]

    class WithConstants(BaseModel):
        model_config = ConfigDict(ser_json_inf_nan="constants")
        x: float

    class Wrapped(RootModel[list[int]]):
        pass

    class HoldsRoot(BaseModel):
        values: Wrapped

    class WithDecimal(BaseModel):
        amount: Decimal

    cases: list[BaseModel] = [
        WithFieldSerializer(at=datetime(2024, 1, 1, tzinfo=UTC)),
        WithModelSerializer(a=1),
        WithComputed(a=1),
        WithAnnotatedSerializer(a=5),
        WithConstants(x=float("inf")),
        HoldsRoot(values=Wrapped([1, 2])),
        WithDecimal(amount=Decimal("2.50")),
    ]
    for model in cases:
        assert not takes_fast_path(type(model)), type(model).__name__
        assert model_json(model) == pydantic_json(model), type(model).__name__


@fast_path_only
def test_validators_and_alias_generators_keep_the_fast_path() -> None:
    class Validated(BaseModel):
        model_config = ConfigDict(alias_generator=AliasGenerator(serialization_alias=lambda n: n.upper()))
        name: str
        count: int = 0

        @field_validator("name")
        @classmethod
        def strip(cls, value: str) -> str:
            return value.strip()

    model = Validated(name="  x  ", count=3)
    assert takes_fast_path(Validated)
    assert model_json(model) == pydantic_json(model) == b'{"NAME":"x","COUNT":3}'


def test_excluded_fields_are_never_written() -> None:
    class Excluding(BaseDocument):
        id: int
        token: str = Field(exclude=True)
        cache: str = Field(default="c", exclude=True)
        nested: Address | None = None

    for model in (
        Excluding(id=1, token="t1"),
        Excluding(id=1, token="t2", cache="c2", nested=Address(street="s")),
        Excluding(id=1, token="t3").with_meta("d"),
    ):
        assert takes_fast_path(Excluding) == FAST
        assert model_json(model) == pydantic_json(model)
        assert b'"t' not in model_json(model) and b"c2" not in model_json(model)


def test_renamed_field_after_the_first_keeps_its_position() -> None:
    class Renamed(BaseModel):
        first: int
        second: int = Field(default=0, serialization_alias="Second")
        third: int = 3

    for model in (Renamed(first=1), Renamed(first=1, second=2), Renamed(first=1, second=2, third=4)):
        assert model_json(model) == pydantic_json(model)


def test_random_documents_match_pydantic() -> None:
    rng = random.Random(2026)

    def value(depth: int = 0) -> Any:
        kind = rng.randrange(10 if depth < 3 else 6)
        if kind == 0:
            return rng.randint(-(2**63), 2**64 - 1)
        if kind == 1:
            return rng.choice([rng.uniform(-1e6, 1e6), rng.random() * 10 ** rng.randint(-30, 30), 0.0, -0.0])
        if kind == 2:
            return "".join(
                chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 32), rng.randrange(0x80, 0xD800)]))
                for _ in range(rng.randrange(8))
            )
        if kind == 3:
            return rng.choice([True, False, None])
        if kind == 4:
            offset = timedelta(minutes=rng.randrange(-14 * 60, 14 * 60))
            return datetime(2000, 1, 1, tzinfo=timezone(offset)) + timedelta(
                seconds=rng.randrange(10**9), microseconds=rng.randrange(10**6)
            )
        if kind == 5:
            return date(1970, 1, 1) + timedelta(days=rng.randrange(40000))
        if kind in (6, 7):
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        if kind == 8:
            return {f"k{j}": value(depth + 1) for j in range(rng.randrange(4))}
        return Address(street=f"s{rng.randrange(100)}")

    for n in range(500):
        doc = Everything.model_validate(
            {"id": n, "anything": value(), "mapping": {"v": value()}, "extra": value()}
        )
        if n % 3 == 0:
            doc.with_meta(rng.choice(["c", "u", "d"]), rng.choice([None, n]))
        assert model_json(doc) == pydantic_json(doc), doc


@fast_path_only
def test_a_class_whose_documents_keep_falling_back_is_handed_to_pydantic() -> None:
    """Trying orjson first costs a failed attempt per document when a class's documents always
    hold something only pydantic writes; after a run of such documents it stops trying, while
    occasional fallbacks do not count against a class."""

    class Priced(BaseModel):
        id: int
        price: Any

    _model_json._serializers.pop(Priced, None)
    fast = _model_json._serializers.setdefault(Priced, _model_json._build(Priced))
    assert fast is not _model_json._pydantic_json
    for i in range(_model_json._GIVE_UP_AFTER - 1):
        assert model_json(Priced(id=i, price=Decimal("1.5"))) == b'{"id":%d,"price":"1.5"}' % i
    assert model_json(Priced(id=0, price=2)) == b'{"id":0,"price":2}'  # a success resets the run
    assert _model_json._serializers[Priced] is fast
    for i in range(_model_json._GIVE_UP_AFTER):
        assert model_json(Priced(id=i, price=Decimal("1.5"))) == b'{"id":%d,"price":"1.5"}' % i
    assert _model_json._serializers[Priced] is _model_json._pydantic_json
    assert model_json(Priced(id=1, price=3)) == b'{"id":1,"price":3}'


def test_serializer_for_is_the_one_entry() -> None:
    """One function per model class, the same on every lookup; None for what is not a model;
    and a class that gave up on orjson is written by pydantic through the same lookup."""
    from estuary_cdk.capture._model_json import serializer_for

    class Plain(BaseModel):
        id: int

    first = serializer_for(Plain)
    assert first is not None and first is serializer_for(Plain)
    assert first(Plain(id=3)) == pydantic_json(Plain(id=3))
    assert serializer_for(dict) is None and serializer_for(int) is None
    _model_json._serializers[Plain] = _model_json._pydantic_json  # as the give-up streak does
    assert serializer_for(Plain) is _model_json._pydantic_json
