"""Commands a family may send at any point of the intake, typed or as slash commands.

A keyword is a command only when it is the *whole* message (politeness aside), so that an
ordinary answer such as "no" or "my father" is never taken for one.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache

from babel import Locale

from intake.normalize import fold, fold_words
from intake.prompts import Text
from intake.vocabulary import LANGUAGES


class Command(StrEnum):
    """What the family asked for outside the questionnaire."""

    HELP = "help"
    LANGUAGE = "language"
    STATUS = "status"
    HUMAN = "human"
    BACK = "back"
    RESTART = "restart"
    STOP_REMINDERS = "stop_reminders"
    ERASE = "erase"
    PRICES = "prices"
    NEW_LINK = "new_link"
    LETTER = "letter"


# The first name of each command is the one the help lists and Telegram's setMyCommands
# registers; the others are short forms families also type.
_SLASH: dict[Command, tuple[str, ...]] = {
    Command.HELP: ("help",),
    Command.LANGUAGE: ("language", "lang"),
    Command.STATUS: ("status",),
    Command.HUMAN: ("human", "agent"),
    Command.BACK: ("back", "edit"),
    Command.RESTART: ("restart",),
    Command.STOP_REMINDERS: ("stop_reminders", "stop"),
    Command.ERASE: ("erase", "delete"),
    Command.PRICES: ("prices",),
    Command.NEW_LINK: ("new_link", "link"),
    Command.LETTER: ("records_letter", "letter"),
}

# The order of the strings in `_KEYWORDS`.
_KEYWORD_LANGUAGES = ("en", "fr", "nl", "ru", "tr", "ar")

# One string per language (en, fr, nl, ru, tr, ar), phrases separated by "|". The first phrase
# of each string is the word the welcome and the help teach in that language.
_KEYWORDS: dict[Command, tuple[str, ...]] = {
    Command.HELP: (
        "help|help me|menu|commands",
        "aide|aidez-moi|aidez moi|j'ai besoin d'aide",
        "hulp|help|helpen",
        "помощь|помогите|справка|меню",
        "yardım|yardim|yardım edin|menü",
        "مساعدة|ساعدني|المساعدة|قائمة",
    ),
    Command.LANGUAGE: (
        "language|change language|change the language|other language",
        "langue|changer de langue|changer la langue|autre langue",
        "taal|taal wijzigen|taal veranderen|andere taal",
        "язык|сменить язык|изменить язык|другой язык",
        "dil|dili değiştir|dil değiştir|başka dil",
        "اللغة|لغة|تغيير اللغة|غير اللغة|لغة أخرى",
    ),
    Command.STATUS: (
        "status|my status|case status|where is my case",
        "où en est ma demande|statut|état|suivi|où en est mon dossier|état de mon dossier",
        "stand van zaken|status|waar staat mijn dossier|waar staat mijn aanvraag",
        "статус заявки|статус|мой статус",
        "başvuru durumu|durum|durumum|dosyamın durumu",
        "حالة الطلب|الحالة|حالتي|حالة ملفي",
    ),
    Command.HUMAN: (
        "talk to a person|human|agent|operator|talk to a human|speak to a person"
        "|talk to someone|speak to someone|real person|a human",
        "parler à quelqu'un|humain|un humain|conseiller|parler à un humain"
        "|parler à une personne|une vraie personne",
        "met iemand praten|mens|een mens|medewerker|spreken met een medewerker|een echt persoon",
        "поговорить с человеком|оператор|человек|живой человек|менеджер|консультант",
        "biriyle görüşmek|insan|temsilci|operatör|müşteri temsilcisi|biriyle konuşmak istiyorum"
        "|gerçek kişi",
        "التحدث مع شخص|موظف|شخص حقيقي|أريد التحدث مع شخص|إنسان|بشري|خدمة العملاء",
    ),
    Command.BACK: (
        "back|go back|edit|previous|previous question|undo|change my answer",
        "retour|revenir|précédent|question précédente|modifier|corriger|modifier ma réponse",
        "terug|ga terug|vorige|vorige vraag|wijzigen|aanpassen|mijn antwoord wijzigen",
        "назад|вернуться|предыдущий|предыдущий вопрос|изменить|исправить|изменить ответ",
        "geri|geri dön|önceki|önceki soru|düzelt|değiştir|cevabımı değiştir",
        "رجوع|ارجع|الرجوع|عودة|السابق|السؤال السابق|تعديل|تعديل الإجابة",
    ),
    Command.RESTART: (
        "start over|restart|start again|begin again|reset",
        "recommencer|tout recommencer|redémarrer|reprendre à zéro|recommencer à zéro",
        "opnieuw|opnieuw beginnen|herstarten|overnieuw|opnieuw starten",
        "начать заново|заново|сначала|начать сначала|перезапуск",
        "baştan başla|yeniden başlat|baştan|yeniden başla|sıfırla",
        "ابدأ من جديد|إعادة البدء|من جديد|البدء من جديد|إعادة",
    ),
    Command.STOP_REMINDERS: (
        "stop reminders|stop|stop the reminders|no more reminders|unsubscribe",
        "arrêter les rappels|stop rappels|arrête les rappels|plus de rappels|arrêter",
        "geen herinneringen|stop herinneringen|herinneringen uit|stoppen",
        "отключить напоминания|стоп|хватит напоминаний|без напоминаний|остановить напоминания",
        "hatırlatmaları durdur|dur|hatırlatma istemiyorum|hatırlatmaları kapat",
        "إيقاف التذكيرات|توقف|أوقف التذكير|أوقف التذكيرات|لا أريد تذكيرات",
    ),
    Command.ERASE: (
        "erase my data|delete my data|erase my information|delete my information|forget me",
        "effacer mes données|supprimer mes données|supprimez mes données|oubliez-moi",
        "verwijder mijn gegevens|mijn gegevens verwijderen|mijn gegevens wissen|vergeet mij",
        "удалить мои данные|удалите мои данные|стереть мои данные|забудьте меня",
        "verilerimi sil|bilgilerimi sil|verilerimi silin|bilgilerimi silin",
        "احذف بياناتي|امسح بياناتي|حذف بياناتي|مسح بياناتي",
    ),
    Command.PRICES: (
        "prices|price|cost|costs|fees|how much|how much does it cost|price list",
        "tarifs|prix|tarif|coût|combien|combien ça coûte|combien ca coute",
        "prijzen|prijs|kosten|tarieven|hoeveel kost het|wat kost het",
        "цены|цена|стоимость|сколько стоит|прайс",
        "fiyatlar|fiyat|ücret|ücretler|ne kadar|fiyat listesi",
        "الأسعار|السعر|كم السعر|التكلفة|كم التكلفة|الرسوم",
    ),
    Command.NEW_LINK: (
        "new link|link|upload link|send link|send me a link|new upload link",
        "nouveau lien|lien|lien de téléversement|envoyer le lien",
        "nieuwe link|link|uploadlink|stuur link",
        "новая ссылка|ссылка|ссылку|новую ссылку|ссылка для загрузки",
        "yeni bağlantı|yeni link|link|bağlantı|yükleme linki",
        "رابط جديد|الرابط|رابط|رابط التحميل",
    ),
    # Also the plain complaint "I cannot get my scans": the letter is the answer to it.
    Command.LETTER: (
        "records letter|letter|letter to the hospital|i cannot get my scans|i can't get my scans"
        "|i cannot get my records|i can't get my records|the hospital won't give me my scans",
        "lettre|lettre pour l'hôpital|je n'arrive pas à obtenir mes examens"
        "|je n'arrive pas à obtenir mes images|je n'arrive pas à obtenir mon dossier"
        "|je ne peux pas obtenir mes examens|je ne peux pas obtenir mon dossier",
        "brief|brief voor het ziekenhuis|ik krijg mijn scans niet|ik krijg mijn beelden niet"
        "|ik krijg mijn dossier niet|ik kan mijn scans niet krijgen",
        "письмо|письмо в больницу|не могу получить снимки|не могу получить мои снимки"
        "|не могу получить документы|мне не дают снимки|мне не дают документы",
        "dilekçe|mektup|hastane dilekçesi|görüntülerimi alamıyorum|filmlerimi alamıyorum"
        "|raporlarımı alamıyorum|dosyamı alamıyorum",
        "رسالة|خطاب|رسالة للمستشفى|لا أستطيع الحصول على صوري|لا أستطيع الحصول على الأشعة"
        "|لا أستطيع الحصول على ملفي|المستشفى لا يعطيني الصور",
    ),
}

_POLITENESS = (
    "please|pls|s'il vous plaît|s'il te plaît|svp|alstublieft|aub|graag|пожалуйста"
    "|lütfen|من فضلك|لو سمحت"
)
_POLITE_WORDS = "|".join(re.escape(fold_words(word)) for word in _POLITENESS.split("|"))
_POLITE = re.compile(rf"^(?:{_POLITE_WORDS})\s+|\s+(?:{_POLITE_WORDS})$")
_SLASH_FORM = re.compile(r"/([a-z_]+)(?:@\w+)?(?:\s.*)?", re.DOTALL)


def _without_politeness(folded: str) -> str:
    """Drop politeness on either end, so that "help please" is the command "help"."""
    words = fold_words(folded)
    for _ in range(2):
        words = _POLITE.sub("", words)
    return words


@cache
def _keyword_index() -> dict[str, Command]:
    index: dict[str, Command] = {}
    for command, groups in _KEYWORDS.items():
        for group in groups:
            for phrase in group.split("|"):
                if index.setdefault(fold_words(phrase), command) is not command:
                    raise ValueError(f"{phrase!r} would mean two commands")
    return index


@cache
def _slash_index() -> dict[str, Command]:
    return {name: command for command, names in _SLASH.items() for name in names}


def match_command(text: str) -> Command | None:
    """Recognise an anytime command, so it is handled before the message counts as an answer."""
    folded = fold(text)
    slash = _SLASH_FORM.fullmatch(folded)
    if slash is not None:
        return _slash_index().get(slash.group(1))
    if folded == "?":
        return Command.HELP
    return _keyword_index().get(_without_politeness(folded))


def slash_name(command: Command) -> str:
    """The slash command to advertise for `command` (Telegram's menu, the help message)."""
    return _SLASH[command][0]


def command_word(command: Command, language: str) -> str:
    """The word the family is taught for `command` in its language, so help and welcome agree
    with what is recognised."""
    index = _KEYWORD_LANGUAGES.index(language if language in _KEYWORD_LANGUAGES else "en")
    return _KEYWORDS[command][index].split("|", 1)[0]


def command_help() -> tuple[tuple[Command, Text], ...]:
    """One line per command, in menu order, for the help message and the channels' menus."""
    return (
        (Command.HELP, Text.of("Show the commands you can use at any time.")),
        (Command.LANGUAGE, Text.of("Change the language of this conversation.")),
        (Command.STATUS, Text.of("See where your request stands.")),
        (Command.HUMAN, Text.of("Ask to talk to a person from our team.")),
        (Command.BACK, Text.of("Go back and change your previous answer.")),
        (Command.RESTART, Text.of("Start the questions again from the beginning.")),
        (Command.STOP_REMINDERS, Text.of("Stop the reminder messages.")),
        (Command.ERASE, Text.of("Ask us to erase your data.")),
        (Command.PRICES, Text.of("See our prices.")),
        (Command.NEW_LINK, Text.of("Get a new secure link to upload documents.")),
        (Command.LETTER, Text.of("Get a letter asking the hospital for a copy of the records "
                                 "and of the scans.")),
    )


# ---------------------------------------------------------------- language names

# Forms families type that babel does not list (adjectives, colloquial, with a preposition).
_LANGUAGE_EXTRAS: dict[str, str] = {
    "ar": "arabe|arab|عربي|عربى|بالعربي|بالعربية|العربي|عربية|арабский язык|arapca",
    "fr": "francais|french|en français|fransizca|frans|فرنسي|بالفرنسية|по-французски"
    "|на французском",
    "en": "english|in english|anglais|en anglais|engels|ingilizce|английский язык"
    "|по-английски|на английском|انجليزي|انكليزي|إنجليزي|بالإنجليزية|بالانجليزي",
    "nl": "dutch|flemish|vlaams|flamand|hollandais|hollandaca|felemenkce|голландский"
    "|по-голландски|nederlands|in het nederlands|هولندي|بالهولندية",
    "ru": "russian|russe|russisch|rusca|по-русски|на русском|русский язык|روسي|بالروسية",
    "tr": "turkish|turc|turks|turkce|türkçe|по-турецки|на турецком|تركي|بالتركية",
}
_FLAGS = {"🇬🇧": "en", "🇺🇸": "en", "🇫🇷": "fr", "🇳🇱": "nl", "🇷🇺": "ru", "🇹🇷": "tr"}
_LANGUAGE_TAG = re.compile(r"([a-z]{2})(?:[-_][a-z0-9]{2,8})*")


@cache
def _language_index() -> dict[str, str]:
    pairs = [
        (Locale.parse(display).languages[language], language)
        for display in LANGUAGES
        for language in LANGUAGES
    ]
    pairs += [
        (extra, language)
        for language, extras in _LANGUAGE_EXTRAS.items()
        for extra in extras.split("|")
    ]
    index: dict[str, str] = {}
    for name, language in pairs:
        if index.setdefault(fold_words(name), language) != language:
            raise ValueError(f"{name!r} would name two languages")
    return index


def match_language_name(text: str) -> str | None:
    """Recognise a request for one of our six languages, named in any of them or by code."""
    folded = fold(text)
    if folded in _FLAGS:
        return _FLAGS[folded]
    tag = _LANGUAGE_TAG.fullmatch(folded)
    if tag is not None:
        return tag.group(1) if tag.group(1) in LANGUAGES else None
    return _language_index().get(_without_politeness(folded))
