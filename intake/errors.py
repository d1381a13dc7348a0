"""Errors the domain raises when a rule is broken; callers catch `DomainError` at the edge."""

from __future__ import annotations


class DomainError(Exception):
    """Base class for every rule violation the pure domain reports."""


class InvalidTransition(DomainError):
    """A case was asked to move to a status its current status does not lead to."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"a case cannot move from {current!r} to {target!r}")
        self.current = current
        self.target = target


class NaiveDatetimeError(DomainError, ValueError):
    """A datetime without a time zone reached the deadline clock."""


class UnknownReviewer(DomainError, KeyError):
    """A reviewer specialty key has no label (a typo or data from a newer version)."""


class PriceTableError(DomainError):
    """The price configuration file is malformed or incomplete."""
