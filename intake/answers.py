"""Understanding one typed answer: a value the questionnaire can store, or a reason to re-ask.

Parsers accept what families actually type in Arabic, French, English, Dutch, Russian or
Turkish, whatever language the conversation is in. Every reason is a `Text` to render late.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from typing import Generic, TypeAlias, TypeVar

import phonenumbers
from babel import Locale
from babel.dates import get_month_names

from intake.normalize import fold, fold_words, is_meaningful, to_ascii_digits
from intake.prompts import Text
from intake.vocabulary import LANGUAGES

T = TypeVar("T")


@dataclass(frozen=True)
class Valid(Generic[T]):
    """An answer understood as `value`."""

    value: T


@dataclass(frozen=True)
class Invalid:
    """An answer not understood; `reason` tells the family what to send instead."""

    reason: Text


Parsed: TypeAlias = Valid[T] | Invalid

Options = Sequence[tuple[str, Sequence[str]]]

# ---------------------------------------------------------------- choices

_NUMBER = re.compile(r"#?\s*(\d+)\s*[.)]?")
_HARD_SEPARATORS = re.compile(r"[,;/+&\n،؛、]")
_CONNECTORS = re.compile(r"\s+(?:and|et|en|и|ve|و)\s+")


def _quoted(text: str, limit: int = 40) -> str:
    """The family's words to echo in a reason, cut short so a long message is not repeated."""
    shown = " ".join(text.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _range_reason(count: int) -> Invalid:
    return Invalid(
        Text.of(
            "Please answer with a number from 1 to {count}, or tap one of the options.",
            count=count,
        )
    )


def _arabic_variants(words: str) -> set[str]:
    """Folded words with and without the Arabic article: "القلب" is also typed "قلب"."""
    bare = [w[2:] if w.startswith("ال") and len(w) > 3 else w for w in words.split()]
    return {words, " ".join(bare)}


def _labels(options: Options) -> tuple[tuple[str, frozenset[str]], ...]:
    return _folded_labels(tuple((key, tuple(labels)) for key, labels in options))


@lru_cache(maxsize=2048)
def _folded_labels(
    options: tuple[tuple[str, tuple[str, ...]], ...],
) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each option's folded forms; the same few option lists come back with every answer,
    so they are folded once, not once per message."""
    indexed = []
    for key, labels in options:
        forms = {fold_words(key)}
        for label in labels:
            forms |= _arabic_variants(fold_words(label))
        indexed.append((key, frozenset(form for form in forms if form)))
    return tuple(indexed)


def _contains_words(haystack: str, needle: str) -> bool:
    return f" {needle} " in f" {haystack} "


def _starts_a_word(haystack: str, needle: str) -> bool:
    return haystack.startswith(needle) or f" {needle}" in haystack


def _match_exact(text: str, options: Options) -> str | Invalid | None:
    """The key named by number, key or whole label; None when only a looser reading could."""
    number = _NUMBER.fullmatch(to_ascii_digits(fold(text)))
    if number is not None:
        digits = number.group(1)
        if len(digits) <= 3 and 1 <= int(digits) <= len(options):
            return options[int(digits) - 1][0]
        return _range_reason(len(options))
    words = _arabic_variants(fold_words(text))
    if not any(words):
        return _range_reason(len(options))
    exact = {key for key, forms in _labels(options) if words & forms}
    return exact.pop() if len(exact) == 1 else None


def _match_loose(text: str, options: Options) -> str | Invalid:
    """The key of the one label inside the answer, or the one label the answer begins."""
    words = fold_words(text)
    variants = _arabic_variants(words)
    indexed = _labels(options)
    # The family wrote a sentence around a label: the longest label found wins.
    inside = [
        (len(form), key)
        for key, forms in indexed
        for form in forms
        if len(form) >= 3 and any(_contains_words(variant, form) for variant in variants)
    ]
    if inside:
        longest = max(length for length, _ in inside)
        keys = {key for length, key in inside if length == longest}
        if len(keys) == 1:
            return keys.pop()
    if len(words) >= 3:
        started = {
            key
            for key, forms in indexed
            if any(_starts_a_word(form, variant) for form in forms for variant in variants)
        }
        if len(started) == 1:
            return started.pop()
        if started:
            return Invalid(
                # TRANSLATORS: {answer} is what the family typed, shortened.
                Text.of(
                    "“{answer}” matches more than one option. "
                    "Please answer with the number of the option.",
                    answer=_quoted(text),
                )
            )
    return Invalid(
        # TRANSLATORS: {answer} is what the family typed, shortened; {count} the last number.
        Text.of(
            "We could not match “{answer}” to an option. "
            "Please answer with a number from 1 to {count}, or tap one of the options.",
            answer=_quoted(text),
            count=len(options),
        )
    )


def _match_one(text: str, options: Options) -> str | Invalid:
    exact = _match_exact(text, options)
    return _match_loose(text, options) if exact is None else exact


def parse_choice(text: str, options: Options) -> Parsed[str]:
    """Read one choice typed instead of tapped: a number, a key, a label or a clear part of one."""
    match = _match_one(text, options)
    return match if isinstance(match, Invalid) else Valid(match)


def _split_answers(piece: str) -> list[list[str]]:
    """Ways to cut one piece into several answers, most explicit first."""
    tokens = piece.split()
    ways = []
    if len(tokens) > 1 and all(_NUMBER.fullmatch(token) for token in tokens):
        ways.append(tokens)
    parts = [part.strip() for part in _CONNECTORS.split(f" {piece} ") if part.strip()]
    if len(parts) > 1:
        ways.append(parts)
    # Arabic joins "and" to the next word ("القلب والسرطان"); "ورم" (tumour) starts with it too.
    attached: list[list[str]] = [[]]
    for token in tokens:
        if token.startswith("و") and len(token) > 2 and attached[-1]:
            attached.append([token[1:]])
        else:
            attached[-1].append(token)
    if len(attached) > 1:
        ways.append([" ".join(part) for part in attached])
    return ways


def _match_piece(piece: str, options: Options) -> list[str] | Invalid:
    exact = _match_exact(piece, options)
    if exact is not None:
        return exact if isinstance(exact, Invalid) else [exact]
    for way in _split_answers(piece):
        keys: list[str] = []
        for part in way:
            found = _match_piece(part, options)
            if isinstance(found, Invalid):
                break
            keys.extend(found)
        else:
            return keys
    loose = _match_loose(piece, options)
    return loose if isinstance(loose, Invalid) else [loose]


def parse_multi_choice(
    text: str, options: Options, exclusive: frozenset[str] = frozenset()
) -> Parsed[tuple[str, ...]]:
    """Read several choices ("1, 3", "oncology and cardiology"), keeping option order."""
    folded = to_ascii_digits(fold(text))
    pieces = [p.strip() for p in _HARD_SEPARATORS.split(folded) if p.strip()]
    if not pieces:
        return _range_reason(len(options))
    chosen: set[str] = set()
    for piece in pieces:
        found = _match_piece(piece, options)
        if isinstance(found, Invalid):
            return found
        chosen.update(found)
    ordered = tuple(key for key, _ in options if key in chosen)
    alone = [(key, labels) for key, labels in options if key in chosen and key in exclusive]
    if alone and len(ordered) > 1:
        key, labels = alone[0]
        return Invalid(
            # TRANSLATORS: {option} is the label of an option such as "None of these".
            Text.of(
                "“{option}” cannot be combined with other answers. Please choose again.",
                option=labels[0] if labels else key,
            )
        )
    return Valid(ordered)


# ---------------------------------------------------------------- yes / no


def _phrases(*groups: str) -> frozenset[str]:
    """Folded phrases from "|"-separated groups (one group per language keeps lists legible)."""
    return frozenset(fold_words(p) for group in groups for p in group.split("|"))


_YES = _phrases(
    "yes|y|yeah|yep|yup|ok|okay|okey|sure|of course",
    "i agree|agree|correct",
    "oui|ouais|d'accord|bien sûr|absolument|exact",
    "ja|jawel|akkoord|zeker|goed|prima",
    "да|конечно|ага|согласен|согласна|хорошо|ок",
    "evet|tamam|olur|kabul|kabul ediyorum|elbette|tabii|tabi",
    "نعم|أجل|موافق|موافقة|أيوه|أيوا|طبعا|حسنا|تمام|اكيد",
) | {"1"}
_NO = _phrases(
    "no|n|nope|nah|not at all",
    "non|pas du tout",
    "nee|neen|helemaal niet",
    "нет|неа|нет спасибо",
    "hayır|yok|istemiyorum",
    "لا|لأ|كلا|غير موافق|لا اوافق",
) | {"2"}
_YES_EMOJI = frozenset(fold(e) for e in ("👍", "✅", "✔️", "☑️", "👌", "🆗"))
_NO_EMOJI = frozenset(fold(e) for e in ("👎", "❌", "✖️", "🚫", "⛔", "❎"))
_FILLERS = _phrases(
    "please|thanks|thank you|merci|s'il vous plaît|svp|bedankt",
    "dank je|dank u|alstublieft|graag|спасибо|пожалуйста|teşekkürler",
    "teşekkür ederim|lütfen|sağol|شكرا|من فضلك|لو سمحت",
)
_CLAUSE_END = re.compile(r"[,.!;:\-]")


def _yes_or_no(words: str) -> bool | None:
    if words in _YES:
        return True
    if words in _NO:
        return False
    return None


def parse_yes_no(text: str, language: str) -> Parsed[bool]:
    """Read yes or no in any of the six languages, as a word, 1/2 or a thumbs emoji.

    `language` is the conversation's; words of every language are accepted anyway because
    families switch keyboards.
    """
    folded = to_ascii_digits(fold(text))
    if folded in _YES_EMOJI:
        return Valid(True)
    if folded in _NO_EMOJI:
        return Valid(False)
    words = fold_words(folded)
    answer = _yes_or_no(words)
    if answer is None:
        # "Yes, he had surgery" or "non merci": a yes/no word leading the message.
        first_clause = fold_words(_CLAUSE_END.split(folded, maxsplit=1)[0])
        head, _, rest = words.partition(" ")
        if first_clause != words and len(first_clause) > 1:
            answer = _yes_or_no(first_clause)
        elif len(head) > 1 and rest in _FILLERS:
            answer = _yes_or_no(head)
    if answer is None:
        return Invalid(Text.of("Please answer yes or no, or tap one of the buttons."))
    return Valid(answer)


# ---------------------------------------------------------------- dates

# Arabic month names differ by region (Levantine, Maghreb); babel knows them per locale.
_MONTH_LOCALES = (*LANGUAGES, "ar_SY", "ar_MA", "ar_DZ")
_TOKENS = re.compile(r"\d+|[^\W\d_]+")


@cache
def _month_index() -> dict[str, int]:
    index: dict[str, int] = {}
    clashes: set[str] = set()
    for locale in _MONTH_LOCALES:
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for month, name in get_month_names(width, context, locale).items():
                    key = fold_words(name)
                    if index.setdefault(key, int(month)) != month:
                        clashes.add(key)
    for key in clashes:
        del index[key]
    return index


def _date_parts(text: str) -> tuple[str, str, str] | None:
    """Day, month, year strings (month may be a name's number), or None if no date shape."""
    months = _month_index()
    tokens = _TOKENS.findall(to_ascii_digits(fold(text)))
    kinds: list[tuple[str, str]] = []
    position = 0
    while position < len(tokens):
        token = tokens[position]
        pair = " ".join(tokens[position : position + 2])
        if pair in months:
            kinds.append(("M", str(months[pair])))
            position += 2
            continue
        if token.isdigit():
            kinds.append(("D", token))
        elif token in months:
            kinds.append(("M", str(months[token])))
        position += 1
    shape = "".join(kind for kind, _ in kinds)
    values = [value for _, value in kinds]
    if shape == "DDD":
        if len(values[0]) == 4:
            return values[2], values[1], values[0]
        return values[0], values[1], values[2]
    if shape == "DMD":
        return values[0], values[1], values[2]
    if shape == "MDD":
        return values[1], values[0], values[2]
    return None


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year - years, day=28)


def parse_date(
    text: str, today: date, *, not_future: bool = True, max_age_years: int = 130
) -> Parsed[date]:
    """Read a day-first date with digits or a month name in any of the six languages."""
    parts = _date_parts(text)
    if parts is None or len(parts[0]) > 2 or len(parts[1]) > 2 or len(parts[2]) not in (2, 4):
        return Invalid(Text.of("Please write the date as day/month/year, for example 21/03/1980."))
    day, month, year = parts
    shown = f"{int(day):02d}/{int(month):02d}/{year}"
    if len(year) == 2:
        return Invalid(Text.of("Please write the year with four digits, for example 1980."))
    try:
        value = date(int(year), int(month), int(day))
    except ValueError:
        return Invalid(
            # TRANSLATORS: {date} is the date as read, always day/month/year in digits.
            Text.of(
                "This date does not exist: {date}. Please check the day and the month.",
                date=shown,
            )
        )
    if not_future and value > today:
        return Invalid(
            Text.of("This date is in the future: {date}. Please check the year.", date=shown)
        )
    if value < _years_before(today, max_age_years):
        return Invalid(
            Text.counted(
                "This date is more than {count} year ago: {date}. Please check the year.",
                "This date is more than {count} years ago: {date}. Please check the year.",
                max_age_years,
                date=shown,
            )
        )
    return Valid(value)


# ---------------------------------------------------------------- countries

# Codes babel names that are not countries a family lives in, or parts of one.
_NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB", "AC", "CP", "CQ", "DG", "TA"}
)
_PART_OF = {"IC": "ES", "EA": "ES"}
_COUNTRY_ALIASES: dict[str, str] = {
    "GB": "UK|U.K.|Great Britain|Britain|England|Scotland|Wales|Northern Ireland|"
    "Angleterre|Grande-Bretagne|Engeland|Groot-Brittannië|İngiltere|Britanya|"
    "Англия|Британия|بريطانيا|إنجلترا|إنكلترا",
    "US": "USA|U.S.A.|U.S.|America|United States of America|Amerika|"
    "Etats-Unis d'Amérique|ABD|Amerika Birleşik Devletleri|США|Америка|أمريكا|امريكا",
    "AE": "UAE|Emirates|Emirats|Emiraten|BAE|Эмираты|الإمارات|Dubai",
    "SA": "KSA|Saudi|Saudia|Arabie saoudite|Саудовская Аравия|السعودية",
    "TR": "Turkey|Türkiye|Turkiye|Turquie|Turkije|Турция|تركيا",
    "RU": "Russia|Russian Federation|Россия|РФ|Rusya|Russie|روسيا",
    "NL": "Holland|Hollande|Hollanda|Голландия|هولندا",
    "CD": "DRC|RDC|DR Congo|Democratic Republic of the Congo",
    "CI": "Ivory Coast|Côte d'Ivoire",
    "CZ": "Czech Republic|Czechia",
    "PS": "Palestine|Palestina|Filistin|Палестина|فلسطين",
    "KR": "South Korea|Korea",
    "SY": "سوريا|سورية",
}
_ARTICLES = re.compile(r"^(?:the|la|le|les|l|het|de)\s+")


def _country_forms(name: str) -> set[str]:
    """A name as folded, without a leading article and without the Arabic article."""
    return _arabic_variants(_ARTICLES.sub("", fold_words(name))) | {fold_words(name)}


def _short_forms(name: str) -> set[str]:
    """Parts of a babel name families type alone: "Myanmar (Burma)" → "myanmar", "burma"."""
    parts = re.split(r"[()]|\s-\s", name)
    return set().union(*(_country_forms(part) for part in parts if fold_words(part)))


def _unambiguous(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Forms mapped to one code; a form two codes share ("congo") names neither."""
    index: dict[str, str] = {}
    clashes: set[str] = set()
    for form, code in pairs:
        if index.setdefault(form, code) != code:
            clashes.add(form)
    return {form: code for form, code in index.items() if form not in clashes}


@cache
def _country_index(languages: tuple[str, ...]) -> dict[str, str]:
    names = [
        (name, _PART_OF.get(code, code))
        for language in languages
        for code, name in Locale.parse(language).territories.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    ]
    full = _unambiguous((form, code) for name, code in names for form in _country_forms(name))
    short = _unambiguous((form, code) for name, code in names for form in _short_forms(name))
    aliases = {
        form: code
        for code, group in _COUNTRY_ALIASES.items()
        for alias in group.split("|")
        for form in _country_forms(alias)
    }
    return short | full | aliases


def _codes(languages: Iterable[str]) -> frozenset[str]:
    return frozenset(_country_index(tuple(languages)).values())


def parse_country(text: str, languages: Sequence[str] = LANGUAGES) -> Parsed[str]:
    """Read a country name in any of the six languages (or its ISO code) as ISO alpha-2."""
    index = _country_index(tuple(languages))
    words = _ARTICLES.sub("", fold_words(text))
    if words in index:
        return Valid(index[words])
    if len(words) == 2 and words.isascii() and words.upper() in _codes(languages):
        return Valid(words.upper())
    # "We live in France" or "Nether…": a whole name inside, else a clear beginning.
    inside = [
        (len(form), code)
        for form, code in index.items()
        if len(form) >= 4 and _contains_words(words, form)
    ]
    if inside:
        longest = max(length for length, _ in inside)
        codes = {code for length, code in inside if length == longest}
        if len(codes) == 1:
            return Valid(codes.pop())
    if len(words) >= 4:
        started = {code for form, code in index.items() if form.startswith(words)}
        if len(started) == 1:
            return Valid(started.pop())
    return Invalid(
        Text.of(
            "We did not recognise “{answer}” as a country. Please write the country's name.",
            answer=_quoted(text),
        )
    )


# ---------------------------------------------------------------- contact

_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,63}")
_PHONE_JUNK = re.compile(r"^(?:whatsapp:|tel:|phone:?|tél:?|tel\.?:?)\s*", re.IGNORECASE)


# Where the example phone number comes from when the family's country is not known yet.
_EXAMPLE_REGION = {"ar": "MA", "fr": "FR", "en": "GB", "nl": "NL", "ru": "RU", "tr": "TR"}


def phone_example(region: str | None, language: str) -> str:
    """A well-formed mobile number of the family's country (or of a country where the language
    is spoken), so the example looks like the numbers the family knows."""
    for candidate in (region, _EXAMPLE_REGION.get(language, "GB")):
        if candidate is None:
            continue
        number = phonenumbers.example_number_for_type(
            candidate.upper(), phonenumbers.PhoneNumberType.MOBILE
        )
        if number is not None:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return "+44 7400 123456"


def parse_contact(
    text: str, default_region: str | None, example: str = "+44 7400 123456"
) -> Parsed[str]:
    """Read an e-mail address or a phone number (returned as E.164) to reach the family."""
    raw = text.strip().removeprefix("mailto:")
    if "@" in raw:
        if len(raw) <= 254 and _EMAIL.fullmatch(raw):
            local, _, domain = raw.rpartition("@")
            return Valid(f"{local}@{domain.lower()}")
        return Invalid(
            Text.of(
                "This e-mail address does not look right: {contact}. Please check it.",
                contact=_quoted(raw, 80),
            )
        )
    number = _PHONE_JUNK.sub("", to_ascii_digits(raw))
    if sum(char.isdigit() for char in number) < 5:
        return Invalid(
            Text.of(
                "Please send an e-mail address or a phone number with its country code, "
                "for example {example}.",
                example=example,
            )
        )
    if number.startswith("00"):
        number = "+" + number[2:]
    if not number.startswith("+") and default_region is None:
        return Invalid(
            Text.of(
                "Please include the country code in the phone number, for example {example}.",
                example=example,
            )
        )
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return Invalid(
            Text.of(
                "This phone number does not look right: {contact}. "
                "Please check it, including the country code.",
                contact=_quoted(raw),
            )
        )
    return Valid(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


# ---------------------------------------------------------------- free text


def parse_free_text(text: str, *, min_length: int = 2, max_length: int = 3000) -> Parsed[str]:
    """Accept a written answer within length limits, trimmed but otherwise as typed."""
    trimmed = text.strip()
    if not is_meaningful(trimmed):
        return Invalid(Text.of("Please write your answer in words."))
    if len(trimmed) < min_length:
        return Invalid(
            Text.counted(
                "Please write at least {limit} character.",
                "Please write at least {limit} characters.",
                min_length,
                limit=min_length,
            )
        )
    if len(trimmed) > max_length:
        return Invalid(
            Text.counted(
                "Please keep your answer to {limit} character or fewer "
                "(yours has {length}), or send it in parts.",
                "Please keep your answer to {limit} characters or fewer "
                "(yours has {length}), or send it in parts.",
                max_length,
                limit=max_length,
                length=len(trimmed),
            )
        )
    return Valid(trimmed)


def parse_name(text: str) -> Parsed[str]:
    """Accept a person's name in any script, refusing numbers and one-letter replies."""
    name = " ".join(text.split())
    if not any(char.isalpha() for char in name):
        return Invalid(Text.of("Please write the name in letters."))
    if len(name) < 2:
        return Invalid(Text.of("Please write the full name."))
    if len(name) > 200:
        return Invalid(
            Text.counted(
                "Please keep the name to {limit} character or fewer.",
                "Please keep the name to {limit} characters or fewer.",
                200,
                limit=200,
            )
        )
    return Valid(name)


_SKIP = _phrases(
    "skip|skip it|skip this|pass|next",
    "passer|je passe|suivant",
    "overslaan|sla over|volgende",
    "пропустить|пропуск|дальше",
    "geç|atla|sonraki",
    "تخطي|تخطى|تجاوز|التالي",
)


def parse_skip(text: str, language: str) -> bool:
    """Tell whether the family chose to skip an optional question (any language, or "-")."""
    stripped = fold(text)
    return stripped in {"-", "--", "/skip"} or fold_words(stripped) in _SKIP
