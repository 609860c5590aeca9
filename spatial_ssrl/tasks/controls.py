"""Named, range-checked generator settings: the knobs a user (CLI `--set`, app slider) may turn."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ControlError(ValueError):
    """A control value that is unknown, of the wrong type or out of its range."""


@dataclass(frozen=True)
class Control:
    """One setting: its default (the paper's), its type, and its allowed range or choices."""

    name: str
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple | None = None

    def coerce(self, value: Any) -> Any:
        """Return `value` converted to this control's type, or raise ControlError naming the range."""
        value = self._convert(value)
        if self.minimum is not None and value < self.minimum:
            raise ControlError(f"{self.name}: {value!r} is below the minimum {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise ControlError(f"{self.name}: {value!r} is above the maximum {self.maximum}")
        return value

    def clamp(self, value: Any) -> tuple[Any, str]:
        """`value` converted and moved into the range: (value, "" or what was wrong with it, e.g.
        "region_size: 900 is outside 5..151"; the value returned is what is used instead).

        For links and forms, where the nearest valid setting serves a visitor better than an error; a value
        of the wrong type or outside the choices still raises ControlError."""
        converted = self._convert(value)
        low = self.minimum if self.minimum is not None else converted
        high = self.maximum if self.maximum is not None else converted
        clamped = type(self.default)(min(max(converted, low), high)) if self.choices is None else converted
        if clamped == converted:
            return converted, ""
        return clamped, f"{self.name}: {converted!r} is outside {self.minimum}..{self.maximum}"

    def _convert(self, value: Any) -> Any:
        """`value` in this control's type (and among its choices), not yet range-checked."""
        kind = type(self.default)
        try:
            if kind is bool:
                if isinstance(value, str):
                    lowered = value.strip().lower()
                    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(value)
                    value = lowered in {"true", "1", "yes"}
                value = bool(value)
            elif kind is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                value = int(value)
            elif kind is float:
                value = float(value)
                if value != value:  # NaN
                    raise ValueError(value)
            else:
                value = str(value)
        except (TypeError, ValueError):
            raise ControlError(f"{self.name}: expected {kind.__name__}, got {shown(value)}") from None
        if self.choices is not None and value not in self.choices:
            raise ControlError(f"{self.name}: {shown(value)} is not one of {list(self.choices)}")
        return value

    def describe(self) -> dict:
        """JSON description for UIs and `--help`."""
        return {
            "name": self.name,
            "default": self.default,
            "type": type(self.default).__name__,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "choices": list(self.choices) if self.choices is not None else None,
            "help": self.help,
        }


def shown(value: Any, limit: int = 80) -> str:
    """`repr(value)` cut to `limit` characters: a message quotes what was given, not all 10 MB of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def resolve(controls: tuple[Control, ...], overrides: dict | None) -> dict:
    """Defaults updated with `overrides`, each checked; unknown names are an error listing the known ones."""
    known = {control.name: control for control in controls}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise ControlError(f"unknown control(s) {unknown}; this task has {sorted(known)}")
    return {name: control.coerce(overrides.get(name, control.default)) for name, control in known.items()}
