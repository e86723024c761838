import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from database import jsonenc


def test_round_trip_nested_values_exactly():
    value = {
        "at": dt.datetime(2026, 3, 29, 1, 30, 5, 123456, tzinfo=ZoneInfo("Europe/Berlin")),
        "naive": dt.datetime(2020, 1, 2, 3, 4, 5),
        "utc": dt.datetime(2021, 6, 1, tzinfo=dt.UTC),
        "day": dt.date(1999, 12, 31),
        "list": [dt.date(2000, 1, 1), {"deep": [dt.datetime(2001, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5)))]}],
        "plain": {"a": 1, "b": [True, None, 1.5, "x"]},
    }
    back = jsonenc.loads(jsonenc.dumps(value))
    assert back == value
    assert back["at"].utcoffset() == value["at"].utcoffset()  # the offset travels, so the instant is exact
    assert back["naive"].tzinfo is None
    assert type(back["day"]) is dt.date


def test_wire_format_uses_the_two_sentinels():
    encoded = json.loads(jsonenc.dumps([dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)]))
    assert encoded == [
        {"__sentinel": "date", "value": "2024-02-29"},
        {"__sentinel": "timestamp", "value": "2024-02-29T12:00:00+00:00"},
    ]


@pytest.mark.parametrize(
    "lookalike",
    [
        {"__sentinel": "timestamp", "value": "2024-01-01", "extra": 1},
        {"__sentinel": "uuid", "value": "x"},
        {"__sentinel": "date"},
        {"__sentinel": "date", "value": 5},
        {"value": "2024-01-01", "kind": "date"},
    ],
)
def test_dicts_that_only_look_like_sentinels_are_untouched(lookalike):
    assert jsonenc.loads(json.dumps(lookalike)) == lookalike


def test_unknown_types_still_fail_loudly_and_kwargs_pass_through():
    with pytest.raises(TypeError, match="set"):
        jsonenc.dumps({1, 2})
    assert jsonenc.dumps({"b": 1, "a": dt.date(2000, 1, 1)}, sort_keys=True).startswith('{"a": {"__sentinel"')
