"""Field-by-field checks for the configs hubstitch reads from disk or the Hub: every field present with its type
and within its range, or an `ArtifactError` naming the file, the field, the value and the fix.

Example:
    >>> from hubstitch.config_fields import integer
    >>> integer({"dim": 384}, "dim", "config.json", 1)
    384
    >>> integer({"dim": "384"}, "dim", "config.json", 1)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    hubstitch.errors.ArtifactError: config.json: field 'dim' is '384'; expected an integer ...
"""

from __future__ import annotations

from typing import Any

from .errors import ArtifactError

MISSING = object()
MAX_DIM = 1 << 20


def _fail(origin: str, key: str, value: Any, expected: str) -> ArtifactError:
    shown = "missing" if value is MISSING else f"{value!r}"[:120]
    return ArtifactError(f"{origin}: field {key!r} is {shown}; expected {expected}; fix: re-save the artifact with "
                         f"hubstitch (a hand-edited or damaged config is not loaded)")


def mapping(data: Any, origin: str, what: str = "a JSON object") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ArtifactError(f"{origin} holds a {type(data).__name__}; expected {what}; fix: re-save the artifact")
    return data


def integer(data: dict, key: str, origin: str, low: int, high: int = MAX_DIM, default: Any = MISSING) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(origin, key, value, f"an integer in [{low}, {high}]")
    return value


def optional_integer(data: dict, key: str, origin: str, low: int, high: int = MAX_DIM) -> int | None:
    return None if data.get(key) is None else integer(data, key, origin, low, high)


def text(data: dict, key: str, origin: str, choices: tuple[str, ...] | None = None, optional: bool = False,
         default: Any = MISSING) -> str | None:
    value = data.get(key, None if optional and default is MISSING else default)
    if value is None and optional:
        return None
    if not isinstance(value, str) or "\0" in value or len(value) > 1000 or (choices and value not in choices):
        expected = f"one of {list(choices)}" if choices else "a string (no NUL, under 1,000 characters)"
        raise _fail(origin, key, value, expected + (" or null" if optional else ""))
    return value


def sub_mapping(data: dict, key: str, origin: str, optional: bool = False, default: Any = MISSING) -> dict | None:
    value = data.get(key, None if optional and default is MISSING else default)
    if value is None and optional:
        return None
    if not isinstance(value, dict):
        raise _fail(origin, key, value, "a JSON object" + (" or null" if optional else ""))
    return value


def string_list(data: dict, key: str, origin: str, min_length: int = 0) -> list[str]:
    value = data.get(key, MISSING)
    if not isinstance(value, list) or len(value) < min_length or not all(isinstance(v, str) for v in value):
        raise _fail(origin, key, value, f"a list of at least {min_length} strings")
    return value
