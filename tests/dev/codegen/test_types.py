"""Every built-in type psycopg adapts gets its Python type (not Any), checked on real values round-tripping through
the generated methods; what psycopg hands back as text is ``str``; an array psycopg has no loader for (of an ENUM,
a domain, an extension type) is parsed into a list of its elements' type; what stays ``Any`` is said in a warning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Interface

from psycopg.types.multirange import Multirange
from psycopg.types.range import Range

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TYPE mood AS ENUM ('ok', 'not ok');
CREATE DOMAIN positive AS bigint CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE samples (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    addr inet NOT NULL, net cidr, span interval, price money, flags bit(4), pt point,
    during tstzrange, ids int8multirange, nums numrange,
    nick citext NOT NULL, mood mood NOT NULL, n positive NOT NULL,
    moods mood[], tags citext[], ns positive[], grid mood[][], pairs pair[]
);
CREATE FUNCTION add_tax(amount numeric, rate numeric) RETURNS numeric LANGUAGE sql IMMUTABLE STRICT
    AS $$ SELECT amount * (1 + rate) $$;
"""

QUERIES = """\
-- name: SampleCreate :one
INSERT INTO samples (addr, net, span, price, flags, pt, during, ids, nums, nick, mood, n)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *;

-- name: WithTax :one
SELECT add_tax($1, rate => $2) AS total;

-- name: Moods :one
SELECT moods, tags FROM samples LIMIT 1;

-- name: SetArrays :one
UPDATE samples SET moods = $2, tags = $3, ns = $4, grid = $5, pairs = $6 WHERE id = $1
RETURNING moods, tags, ns, grid, pairs;
"""


def test_types_round_trip_through_generated_methods(compile_project) -> None:
    app = compile_project([SCHEMA], QUERIES)
    orm = app.orm
    assert orm.Sample.__annotations__ == {
        "id": "int",
        "addr": "IPv4Address | IPv6Address | IPv4Interface | IPv6Interface",
        "net": "IPv4Network | IPv6Network | None",
        "span": "timedelta | None",
        "price": "str | None",
        "flags": "str | None",
        "pt": "str | None",
        "during": "Range[datetime] | None",
        "ids": "Multirange[int] | None",
        "nums": "Range[Decimal] | None",
        "nick": "str",
        "mood": "Mood",
        "n": "int",
        "moods": "list[Mood] | None",
        "tags": "list[str] | None",
        "ns": "list[int] | None",
        "grid": "list[Mood] | None",
        "pairs": "list[str] | None",
    }
    assert app.result.output.warnings == ()
    signatures = {s.split("(")[0]: s for s in app.result.output.signatures}
    assert signatures["with_tax"] == "with_tax(*, amount: Decimal, rate: Decimal) -> Decimal | None"
    assert signatures["set_arrays"] == (
        "set_arrays(*, id: int, moods: list[Mood] | None, tags: list[str] | None, ns: list[int] | None, "
        "grid: list[Mood] | None, pairs: list[str] | None) -> SetArraysRow | None"
    )

    async def body(q) -> None:
        during = Range(datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC))
        made = await q.sample_create(
            addr=IPv6Interface("::1/64"),
            net=IPv4Network("10.0.0.0/8"),
            span=timedelta(hours=2),
            price="1.50",
            flags="1010",
            pt="(1,2)",
            during=during,
            ids=Multirange([Range(1, 5)]),
            nums=Range(Decimal("0.5"), None),
            nick="Ada",
            mood=orm.Mood.NOT_OK,
            n=7,
        )
        assert (made.addr, made.net, made.span, made.flags, made.pt) == (
            IPv6Interface("::1/64"),
            IPv4Network("10.0.0.0/8"),
            timedelta(hours=2),
            "1010",
            "(1,2)",
        )
        assert made.during == during and made.ids == Multirange([Range(1, 5)]) and made.nums.lower == Decimal("0.5")
        assert made.mood is orm.Mood.NOT_OK and made.n == 7 and isinstance(made.price, str)
        again = await q.sample_create(
            addr=IPv4Address("192.0.2.1"),
            net=None,
            span=None,
            price=None,
            flags=None,
            pt=None,
            during=None,
            ids=None,
            nums=None,
            nick="b",
            mood=orm.Mood.OK,
            n=1,
        )
        assert again.addr == IPv4Address("192.0.2.1") and again.mood is orm.Mood.OK
        assert (again.moods, again.tags, again.ns, again.grid, again.pairs) == (None,) * 5
        mood = orm.Mood
        arrays = await q.set_arrays(
            id=again.id,
            moods=[mood.NOT_OK, None, mood.OK],
            tags=["Ada", 'a "quoted", {braced} \\ tag', None],
            ns=[1, 2],
            grid=[[mood.OK, mood.NOT_OK], [None, mood.OK]],
            pairs=['(1,"x, y")'],
        )
        assert arrays.moods == [mood.NOT_OK, None, mood.OK] and arrays.moods[0] is mood.NOT_OK
        assert arrays.tags == ["Ada", 'a "quoted", {braced} \\ tag', None]
        assert arrays.ns == [1, 2] and arrays.grid == [[mood.OK, mood.NOT_OK], [None, mood.OK]]
        assert arrays.grid[0][1] is mood.NOT_OK and arrays.pairs == ['(1,"x, y")']
        empty = await q.set_arrays(id=again.id, moods=[], tags=[], ns=[], grid=[], pairs=[])
        assert (empty.moods, empty.tags, empty.ns, empty.grid, empty.pairs) == ([],) * 5
        assert await q.with_tax(amount=Decimal("10"), rate=Decimal("0.5")) == Decimal("15.0")

    app.run(body)
