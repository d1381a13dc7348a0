"""Language-neutral messages: the domain says *what* to tell, `bot.i18n` says it in a language."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


def N_(message: str) -> str:
    """Mark a source string for extraction by Babel without translating it here."""
    return message


def _frozen(params: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(params or {}))


@dataclass(frozen=True)
class Text:
    """A message id (the English source string, `{name}` placeholders) with its parameters.

    `plural` and `count` make it an ngettext message. Parameters whose value is itself a `Text`
    are rendered first, in the same language.
    """

    msgid: str
    params: Mapping[str, Any] = field(default_factory=lambda: _frozen(None))
    plural: str | None = None
    count: int | None = None

    @classmethod
    def of(cls, msgid: str, **params: Any) -> Text:
        """Build a message with keyword parameters."""
        return cls(msgid, _frozen(params))

    @classmethod
    def counted(cls, singular: str, plural: str, count: int, **params: Any) -> Text:
        """Build a plural message; `count` is also available as `{count}`."""
        return cls(singular, _frozen({"count": count, **params}), plural, count)


@dataclass(frozen=True)
class Option:
    """One choice offered to the family: a stable key and a label to render."""

    key: str
    label: Text


@dataclass(frozen=True)
class Prompt:
    """One outgoing message: text plus the choices a channel may render natively."""

    text: Text
    options: tuple[Option, ...] = ()
    multiple: bool = False

    @classmethod
    def say(cls, msgid: str, **params: Any) -> Prompt:
        """A plain message without choices."""
        return cls(Text.of(msgid, **params))


@dataclass(frozen=True)
class Lines:
    """A parameter rendered as one line per item (summaries, checklists)."""

    items: tuple[Text | str, ...]


@dataclass(frozen=True)
class Territory:
    """A parameter rendered as the country's name in the reader's language."""

    code: str


@dataclass(frozen=True)
class Running:
    """A label rendered inside a sentence, in the language's running-text case ("Statut :
    en attente des documents")."""

    label: Text


@dataclass(frozen=True)
class LanguageName:
    """A parameter rendered as a language's name in the reader's language, with its own name
    in brackets when they differ ("arabe (العربية)"); `capitalised` for a button or a line
    start."""

    code: str
    capitalised: bool = False
