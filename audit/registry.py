"""The explicit registry of checks: name -> check, in run order. No discovery, no type-sniffing."""
from __future__ import annotations

from audit.checks.base import Check
from audit.errors import InvalidTypeError, UnknownNameError

__all__ = ["Registry", "REGISTRY"]


class Registry:
    """An ordered mapping of check names to checks."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def register(self, check: Check) -> Check:
        """Add ``check`` (its ``name`` must be new); returns it."""
        if not isinstance(check, Check):
            raise InvalidTypeError(f"A registered check must implement the Check protocol. Got {type(check).__name__}.")
        if check.name in self._checks:
            raise UnknownNameError(f"A check named {check.name!r} is already registered.")
        self._checks[check.name] = check
        return check

    def unregister(self, name: str) -> None:
        """Remove a check (tests and plug-in authors)."""
        self._checks.pop(name, None)

    def get(self, name: str) -> Check:
        """The check called ``name``; ``UnknownNameError`` lists the valid names."""
        if name not in self._checks:
            raise UnknownNameError(f"Unknown check {name!r}. Registered checks: {self.names()}.")
        return self._checks[name]

    def names(self) -> list[str]:
        return list(self._checks)

    def checks(self) -> list[Check]:
        return list(self._checks.values())

    def __contains__(self, name: object) -> bool:
        return name in self._checks


REGISTRY = Registry()
