"""The JSON of the typed reports (policy summaries, evaluation, cross-validation, cross-fitting):
each report is a frozen dataclass whose `to_dict` writes its fields in order (tuples as lists)
and whose `from_dict` reads that back, nested reports and tuples included, by its field types."""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Collection
from dataclasses import fields
from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Report")


class Report:
    """Base of a report dataclass. `OPTIONAL`: fields left out of the JSON when None (reports
    written before they existed lack the key, and keep lacking it when written back)."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        return fields_dict(self, self.OPTIONAL)

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        """The report `to_dict` wrote; a key that is not a field raises TypeError."""
        hints = _field_types(cls)
        return cls(**{key: from_json(hints.get(key, Any), value) for key, value in data.items()})


def fields_dict(report: Any, omit_when_none: Collection[str] = ()) -> dict[str, Any]:
    """`report`'s fields in order, as JSON; those in `omit_when_none` are left out when None."""
    return {
        f.name: to_json(value)
        for f in fields(report)
        if not ((value := getattr(report, f.name)) is None and f.name in omit_when_none)
    }


def to_json(value: Any) -> Any:
    """A report value as JSON: nested reports by their `to_dict`, tuples as lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    return value


def from_json(hint: Any, value: Any) -> Any:
    """`value` read from JSON as the field type `hint` says: a report by its `from_dict`, a
    tuple (of reports) from a list, `X | None` as X unless None; anything else as it is."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in args if a is not type(None)]
        return from_json(inner[0], value) if len(inner) == 1 else value
    if origin is tuple:
        hints = [args[0]] * len(value) if args[-1:] == (Ellipsis,) else list(args)
        return tuple(from_json(h, v) for h, v in zip(hints, value, strict=True))
    if isinstance(hint, type) and issubclass(hint, Report):
        return hint.from_dict(value)
    return value


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The resolved type of each field of a report class."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)}
