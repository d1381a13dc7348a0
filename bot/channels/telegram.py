"""Telegram through python-telegram-bot: Update -> Inbound, Outbound -> sendMessage, files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypedDict

from aiohttp import web
from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType, FileSizeLimit, InlineKeyboardMarkupLimit, MessageLimit
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.ext import AIORateLimiter, Application, ExtBot

from bot.channels.base import Attachment, ChannelError, Inbound, Outbound, OutOption, SendResult
from bot.channels.telegram_request import AiohttpRequest
from bot.i18n.negotiate import from_telegram_code
from bot.i18n.render import RenderedOption, RenderedPrompt, numbered_text
from bot.keys import CATALOGS, CHANNELS, SETTINGS
from bot.settings import Settings

log = logging.getLogger(__name__)

NAME = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
ALLOWED_UPDATES = ("message", "callback_query")
DOWNLOAD_LIMIT = int(FileSizeLimit.FILESIZE_DOWNLOAD)
MAX_CALLBACK_BYTES = 64
CAPTION_LIMIT = int(MessageLimit.CAPTION_LENGTH)
MAX_BUTTONS = int(InlineKeyboardMarkupLimit.TOTAL_BUTTON_NUMBER)
CHUNK_BYTES = 64 * 1024
# Callback data: c:<key> answers a single choice, m:<key> toggles one of several, d: sends
# the toggled ones; an answered keyboard's buttons carry x and do nothing.
CHOOSE, TOGGLE, DONE, ANSWERED = "c", "m", "d", "x"
SELECTED = "\u2713 "
_START = re.compile(r"/start(?:@\w+)?(?:\s+(.*))?", re.DOTALL)
_DEEP_LINK = re.compile(r"[A-Za-z0-9_-]{1,64}")


def N_(message: str) -> str:
    """Mark a message id for Babel (`N_` is a default keyword); translated where shown."""
    return message


SEND_CHOICE = N_("Send my choice")


# ------------------------------------------------------------------ parsing (pure)


def parse_update(update: Update, bot_id: int) -> Inbound | None:
    """A family's message or button tap as an Inbound; anything else (edits, channel posts,
    groups, keyboard toggles) is None: acknowledged, never stored."""
    key = f"{bot_id}:{update.update_id}"
    if update.message is not None:
        return _from_message(update.message, key)
    if update.callback_query is not None:
        return _from_callback(update.callback_query, key)
    return None


def _who(user: User | None) -> dict[str, Any]:
    if user is None:
        return {"display_name": None, "language_hint": None}
    # First name only: the last name adds identity and nothing the intake needs.
    return {"display_name": user.first_name or None,
            "language_hint": from_telegram_code(user.language_code)}


def _from_message(message: Message, key: str) -> Inbound | None:
    if message.chat.type != ChatType.PRIVATE:
        return None  # an intake is never run in a group or channel
    base: dict[str, Any] = {"channel": NAME, "external_id": str(message.chat.id),
                            "provider_key": key, **_who(message.from_user)}
    if message.text is not None:
        start = _START.fullmatch(message.text.strip())
        if start is not None:
            payload = (start.group(1) or "").strip()
            return Inbound(**base, start=True,
                           start_payload=payload if _DEEP_LINK.fullmatch(payload) else None)
        return Inbound(**base, text=message.text)
    attachments = _attachments(message)
    if attachments or message.caption:
        return Inbound(**base, text=message.caption, attachments=attachments)
    if message.effective_attachment is not None:
        # A sticker, voice note or location: stored empty so the bot asks again in words.
        return Inbound(**base)
    return None  # a service message


def _attachments(message: Message) -> tuple[Attachment, ...]:
    if message.document is not None:
        doc = message.document
        return (Attachment(ref=doc.file_id, filename=doc.file_name,
                           content_type=doc.mime_type, size=doc.file_size),)
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.file_size or 0, p.width * p.height))
        return (Attachment(ref=largest.file_id, filename=f"photo-{message.message_id}.jpg",
                           content_type="image/jpeg", size=largest.file_size),)
    return ()


def parse_callback_data(data: str | None) -> tuple[str, str] | None:
    """Split our callback data into its kind and option key; None when it is not ours."""
    kind, sep, key = (data or "").partition(":")
    if kind == ANSWERED and not sep:
        return ANSWERED, ""
    if not sep or kind not in (CHOOSE, TOGGLE, DONE) or (kind != DONE and not key):
        return None
    return kind, key


def _from_callback(query: CallbackQuery, key: str) -> Inbound | None:
    parsed = parse_callback_data(query.data)
    if parsed is None:
        return None
    message = query.message
    if message is not None and message.chat.type != ChatType.PRIVATE:
        return None
    chat_id = message.chat.id if message is not None else query.from_user.id
    base: dict[str, Any] = {"channel": NAME, "external_id": str(chat_id), "provider_key": key,
                            **_who(query.from_user)}
    kind, option = parsed
    if kind == CHOOSE:
        return Inbound(**base, choice=option)
    if kind == DONE and isinstance(message, Message):
        # Stateless: the selection is what the keyboard shows.
        return Inbound(**base, choices=selected_keys(message.reply_markup))
    return None


# ------------------------------------------------------------------ keyboards (pure)


def keyboard(
    options: Sequence[OutOption], multiple: bool, done_label: str
) -> InlineKeyboardMarkup | None:
    """One button per row; None when Telegram cannot carry these options as buttons."""
    kind = TOGGLE if multiple else CHOOSE
    datas = [f"{kind}:{option.key}" for option in options]
    if not options or len(options) + multiple > MAX_BUTTONS or any(
        len(data.encode()) > MAX_CALLBACK_BYTES for data in datas
    ):
        return None
    rows = [[InlineKeyboardButton(option.label, callback_data=data)]
            for option, data in zip(options, datas, strict=True)]
    if multiple:
        rows.append([InlineKeyboardButton(done_label, callback_data=f"{DONE}:")])
    return InlineKeyboardMarkup(rows)


def _buttons(markup: InlineKeyboardMarkup | None) -> list[InlineKeyboardButton]:
    return [button for row in (markup.inline_keyboard if markup else ()) for button in row]


def selected_keys(markup: InlineKeyboardMarkup | None) -> tuple[str, ...]:
    """The option keys ticked on a several-choice keyboard, in the keyboard's order."""
    return tuple(
        str(button.callback_data).partition(":")[2]
        for button in _buttons(markup)
        if str(button.callback_data).startswith(f"{TOGGLE}:") and button.text.startswith(SELECTED)
    )


def toggled(markup: InlineKeyboardMarkup, key: str) -> InlineKeyboardMarkup:
    """The keyboard with one option's tick flipped."""
    rows = []
    for row in markup.inline_keyboard:
        new_row = []
        for button in row:
            text = button.text
            if button.callback_data == f"{TOGGLE}:{key}":
                ticked = text.startswith(SELECTED)
                text = text.removeprefix(SELECTED) if ticked else SELECTED + text
            new_row.append(InlineKeyboardButton(text, callback_data=button.callback_data))
        rows.append(new_row)
    return InlineKeyboardMarkup(rows)


def answered(markup: InlineKeyboardMarkup | None, data: str) -> InlineKeyboardMarkup | None:
    """An answered keyboard keeps only the chosen labels, ticked and inert; None: leave it."""
    buttons = _buttons(markup)
    if data.startswith(f"{DONE}:"):
        chosen = [b.text.removeprefix(SELECTED) for b in buttons
                  if str(b.callback_data).startswith(f"{TOGGLE}:") and b.text.startswith(SELECTED)]
    else:
        chosen = [b.text for b in buttons if b.callback_data == data]
    if not chosen:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(SELECTED + label, callback_data=ANSWERED)] for label in chosen]
    )


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)


def split_text(text: str, limit: int) -> list[str]:
    """Cut an over-long text at paragraph, line or word breaks into parts Telegram accepts."""
    parts: list[str] = []
    while utf16_length(text) > limit:
        head = text[:_fitting(text, limit)]
        cut = next((at for at in (head.rfind(b) for b in ("\n\n", "\n", " "))
                    if at > len(head) // 2), len(head))
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    parts.append(text)
    return [part for part in parts if part.strip()] or [text]


def channel_error(error: TelegramError) -> ChannelError:
    """What the outbox should do about a failed Bot API call."""
    reason = f"{type(error).__name__}: {error.message}"[:200]
    if isinstance(error, RetryAfter):
        wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return ChannelError(reason, retry_after=seconds)
    if isinstance(error, Forbidden):
        return ChannelError(reason, blocked=True)
    if isinstance(error, BadRequest | ChatMigrated):
        return ChannelError(reason, permanent=True)
    # TimedOut and NetworkError (5xx, connection), InvalidToken, Conflict: try again later.
    return ChannelError(reason)


def file_base_url(base_url: str) -> str:
    """The file download root for a Bot API root: `.../bot` -> `.../file/bot`."""
    head, sep, tail = base_url.rpartition("/bot")
    return f"{head}/file/bot{tail}" if sep else base_url


# ------------------------------------------------------------------ the channel


class Timeouts(TypedDict):
    """The per-call timeout arguments of PTB's Bot API methods."""

    read_timeout: float
    write_timeout: float
    connect_timeout: float


class TelegramChannel:
    """Sends rendered replies with inline keyboards and fetches files sent in the chat."""

    name = NAME
    merge_replies = True
    # Files we send (the records-request letter) go as documents, not as links.
    sends_documents = True
    max_text_length = 4096
    # Telegram tolerates about one message a second per chat (TELEGRAM_PER_CHAT_INTERVAL).
    per_chat_interval = 1.0
    # Seconds to wait for one Bot API call before treating it as timed out.
    request_timeout = 10.0

    def __init__(self, bot: ExtBot[Any], done_label: Callable[[str], str]) -> None:
        self.bot = bot
        self.done_label = done_label
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def bot_id(self) -> int:
        """The bot's own user id (from getMe): half of every inbound provider key."""
        return self.bot.id

    def parse(self, update: Update) -> Inbound | None:
        """Parse an update addressed to this bot."""
        return parse_update(update, self.bot_id)

    def timeouts(self) -> Timeouts:
        """Per-call timeouts for Bot API requests (tests shorten `request_timeout`)."""
        timeout = self.request_timeout
        return {"read_timeout": timeout, "write_timeout": timeout, "connect_timeout": timeout}

    async def send(self, message: Outbound) -> SendResult:
        """Deliver one message; keyboard under its last part. Raises ChannelError."""
        try:
            chat_id = int(message.external_id)
        except ValueError:
            raise ChannelError("not a Telegram chat id", permanent=True) from None
        markup = keyboard(message.options, message.multiple, self.done_label(message.locale))
        text = message.text
        if message.options and markup is None:
            rendered = RenderedPrompt(
                text, tuple(RenderedOption(o.key, o.label) for o in message.options))
            text = numbered_text(rendered)
        if not text.strip():
            raise ChannelError("empty message", permanent=True)
        document = message.extra.get("document")
        if isinstance(document, dict) and isinstance(document.get("url"), str):
            return await self._send_document(chat_id, document["url"], text)
        parts = split_text(text, self.max_text_length)
        try:
            for number, part in enumerate(parts, 1):
                sent = await self.bot.send_message(
                    chat_id=chat_id, text=part,
                    reply_markup=markup if number == len(parts) else None,
                    **self.timeouts(),
                )
        except TelegramError as error:
            raise channel_error(error) from error
        return SendResult(provider_message_id=str(sent.message_id))

    async def _send_document(self, chat_id: int, url: str, caption: str) -> SendResult:
        """A PDF by its link: Telegram's servers fetch it (the Bot API accepts PDF by URL)."""
        try:
            sent = await self.bot.send_document(
                chat_id=chat_id, document=url, caption=caption[:CAPTION_LIMIT],
                **self.timeouts(),
            )
        except TelegramError as error:
            raise channel_error(error) from error
        return SendResult(provider_message_id=str(sent.message_id))

    async def fetch(self, attachment: Attachment) -> AsyncIterator[bytes]:
        """Stream a file sent in the chat; over the cloud API's 20 MB a permanent error."""
        if attachment.size is not None and attachment.size > DOWNLOAD_LIMIT:
            raise ChannelError("file over the Bot API download limit", permanent=True)
        try:
            file = await self.bot.get_file(attachment.ref, **self.timeouts())
            if file.file_size is not None and file.file_size > DOWNLOAD_LIMIT:
                raise ChannelError("file over the Bot API download limit", permanent=True)
            data = await file.download_as_bytearray(**self.timeouts())
        except TelegramError as error:
            raise channel_error(error) from error
        for start in range(0, len(data), CHUNK_BYTES):
            yield bytes(data[start:start + CHUNK_BYTES])

    async def accept(
        self, update: Update, receive: Callable[[Inbound], Awaitable[Any]]
    ) -> None:
        """Store what an update says (durable, deduplicated by `receive`), then settle a
        tapped button in the background: the caller's answer never waits for those calls."""
        inbound = self.parse(update)
        created = False
        if inbound is not None:
            receipt = await receive(inbound)
            created = bool(receipt.created)
        if update.callback_query is not None:
            self.spawn(self.settle_callback(update.callback_query, created))

    async def settle_callback(self, query: CallbackQuery, created: bool) -> None:
        """Stop the button's progress bar; tick a toggled option or mark an answered keyboard."""
        try:
            await self.bot.answer_callback_query(query.id, **self.timeouts())
        except TelegramError as error:  # too old, or answered for an earlier delivery
            log.info("telegram callback not answered", extra={"error": type(error).__name__})
        parsed = parse_callback_data(query.data)
        message = query.message
        if parsed is None or not isinstance(message, Message) or message.reply_markup is None:
            return
        kind, key = parsed
        markup: InlineKeyboardMarkup | None = None
        if kind == TOGGLE:
            markup = toggled(message.reply_markup, key)
        elif kind in (CHOOSE, DONE) and created:
            markup = answered(message.reply_markup, str(query.data))
        if markup is None:
            return
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=message.chat.id, message_id=message.message_id, reply_markup=markup,
                **self.timeouts(),
            )
        except TelegramError as error:
            log.info("telegram keyboard not updated", extra={"error": type(error).__name__})

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a follow-up Bot API call in the background, keeping a reference to it."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self, grace_seconds: float = 5.0) -> None:
        """Let follow-up calls finish briefly, then cancel what is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace_seconds)
        for task in set(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


TELEGRAM = web.AppKey("telegram_channel", TelegramChannel)
# Optional command menus per language: {"en": [("help", "Show the commands..."), ...]}.
TELEGRAM_COMMANDS: web.AppKey[Mapping[str, Sequence[tuple[str, str]]]] = web.AppKey(
    "telegram_commands")


async def register_bot(
    bot: ExtBot[Any], settings: Settings, menus: Mapping[str, Sequence[tuple[str, str]]]
) -> None:
    """Point Telegram at our webhook (public https only) and publish the command menus;
    failures are logged, never fatal: the chat keeps working on what Telegram has."""
    if settings.public_base_url.startswith("https://"):
        url = settings.base_url + WEBHOOK_PATH
        try:
            await bot.set_webhook(url=url, secret_token=settings.telegram_webhook_secret,
                                  allowed_updates=list(ALLOWED_UPDATES))
        except TelegramError as error:
            log.warning("telegram webhook not registered",
                        extra={"url": url, "error": type(error).__name__})
    for lang, items in menus.items():
        commands = [BotCommand(name, description[:256]) for name, description in items]
        try:
            await bot.set_my_commands(commands, language_code=lang or None)
            if lang == "en":
                await bot.set_my_commands(commands)  # the menu for every other language
        except TelegramError as error:
            log.warning("telegram commands not set", extra={"error": type(error).__name__})


async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the Bot API client (getMe), register the channel, and shut it down at the end."""
    settings = app[SETTINGS]
    # Opt in to PTB 23's timedelta durations: otherwise every RetryAfter PTB raises also
    # emits a deprecation warning (the operator's own setting wins).
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    token = settings.telegram_bot_token or ""
    builder = (
        Application.builder().token(token).updater(None)
        .request(AiohttpRequest()).get_updates_request(AiohttpRequest(read_timeout=40.0))
        # Telegram's ~30 messages/s across chats (0 turns it off, for a local Bot API server
        # or a benchmark); the outbox retries, so no retries here.
        .rate_limiter(AIORateLimiter(
            overall_max_rate=settings.telegram_max_rate, max_retries=0))
    )
    if settings.telegram_api_base_url:
        base = settings.telegram_api_base_url
        builder = builder.base_url(base).base_file_url(file_base_url(base))
    application = builder.build()
    await application.initialize()
    catalogs = app[CATALOGS]
    channel = TelegramChannel(application.bot,
                              lambda lang: catalogs.gettext(lang, SEND_CHOICE))
    channel.per_chat_interval = settings.telegram_per_chat_interval
    app[TELEGRAM] = channel
    app[CHANNELS][NAME] = channel
    await register_bot(application.bot, settings, app.get(TELEGRAM_COMMANDS, {}))
    yield
    await channel.close()
    await application.shutdown()
