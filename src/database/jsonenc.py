"""JSON that keeps dates and datetimes: they travel as ``{"__sentinel": "timestamp"|"date", "value": iso}``.

The round trip is exact: microseconds and the UTC offset survive (a zoneinfo zone comes back as a fixed offset,
which names the same instant). Dicts that merely look similar (other keys, unknown sentinels) are left alone.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

_SENTINEL = "__sentinel"


def _default(obj: Any) -> Any:
    if isinstance(obj, dt.datetime):  # before date: a datetime is a date
        return {_SENTINEL: "timestamp", "value": obj.isoformat()}
    if isinstance(obj, dt.date):
        return {_SENTINEL: "date", "value": obj.isoformat()}
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "value" in obj and isinstance(obj.get("value"), str):
        kind = obj.get(_SENTINEL)
        if kind == "timestamp":
            return dt.datetime.fromisoformat(obj["value"])
        if kind == "date":
            return dt.date.fromisoformat(obj["value"])
    return obj


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that encodes ``datetime`` and ``date`` as sentinel objects; other kwargs pass through."""
    return json.dumps(obj, default=_default, **kwargs)


def loads(s: str | bytes, **kwargs: Any) -> Any:
    """``json.loads`` that turns sentinel objects back into ``datetime`` and ``date``."""
    return json.loads(s, object_hook=_hook, **kwargs)
