"""WhatsApp through Twilio: Twilio's form ⇄ `Inbound`, `Outbound` ⇄ Twilio's REST API.

The transport is twilio-python's aiohttp-based async client. Options degrade to numbered text
(the family answers with the number); long texts are split under Twilio's 1,600-character
`Body` limit; the 24-hour window and its templates are decided in `bot.messaging.policy`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import unicodedata
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from aiohttp import web
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.channels.base import Attachment, ChannelError, Inbound, Outbound, SendResult
from bot.clock import Clock
from bot.i18n.negotiate import from_phone_number
from bot.i18n.render import RenderedOption, RenderedPrompt, numbered_text
from bot.keys import CATALOGS, CHANNELS, CLOCK, SETTINGS
from bot.messaging import policy

log = logging.getLogger(__name__)
# twilio-python logs every request URL and header at INFO: ids only, but noisy.
_TWILIO_HTTP_LOG = logging.getLogger("bot.channels.whatsapp.twilio_http")
_TWILIO_HTTP_LOG.setLevel(logging.WARNING)

NAME = "whatsapp"
BODY_LIMIT = 1600  # Twilio's `Body` limit (errors 21617, 21658)
MAX_MEDIA_BYTES = 100 * 1024 * 1024
MEDIA_CHUNK = 64 * 1024
MAX_ATTACHMENTS = 10
SEND_TIMEOUT = 30.0
MEDIA_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15, sock_read=60)
STATUS_PATH = "/webhooks/whatsapp/status"

# Twilio REST error codes, how a send that gets them is treated (https://www.twilio.com/docs/api/errors).
BLOCKED_CODES = frozenset({
    21610,  # the recipient unsubscribed (replied STOP): never retry, mark the contact blocked
})
HOLD_CODES = frozenset({
    63016,  # outside the 24-hour window: keep it for coordinators (our clock and Meta's differ)
})
RETRY_CODES = frozenset({
    20429,  # too many requests
    63018,  # WhatsApp rate limit of the sender
    20003,  # authentication failed: a configuration slip; retry until it is fixed
})
# Every other 4xx is permanent: 63024 (invalid message recipient), 63003 (channel could not
# find the To address), 21211/21614 (invalid To), 63032 (WhatsApp will not deliver to this
# user), 21617/63021 (too long), 20404 (not found) and the rest.

_RETRY_AFTER: ContextVar[float | None] = ContextVar("twilio_retry_after", default=None)
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(?P<account>AC\w+)/Messages/(?P<message>\w+)/Media/(?P<media>ME\w+)"
)

Translate = Callable[[str, str], str]


def N_(msgid: str) -> str:
    """Mark a message for extraction; it is translated when it is sent."""
    return msgid


ANSWER_WITH_NUMBER = N_("Reply with the number of your choice.")
ANSWER_WITH_NUMBERS = N_("Reply with the numbers of your choices, for example: 1, 3")


# -- splitting ---------------------------------------------------------------------------------


def _units(char: str) -> int:
    """UTF-16 code units: Twilio counts an emoji outside the BMP as two characters."""
    return 2 if ord(char) > 0xFFFF else 1


def _fitting(text: str, limit: int) -> int:
    """How many leading characters of `text` fit in `limit` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += _units(char)
        if used > limit:
            return index
    return len(text)


def _break_at(window: str, fit: int) -> int | None:
    """Where to cut: the last paragraph break, else line break, else space within `fit`."""
    for separator in ("\n\n", "\n"):
        at = window.rfind(separator, 1, fit + len(separator))
        if at >= fit // 2:
            return at
    for index in range(min(fit, len(window) - 1), 0, -1):
        if window[index].isspace():
            return index
    return None


def _hard_cut(text: str, fit: int) -> int:
    """Cut a word longer than the limit, but not between a letter and its accent or joiner."""
    cut = fit
    while cut > 1 and (
        unicodedata.combining(text[cut]) or text[cut] in "\u200d\ufe0e\ufe0f"
        or text[cut - 1] == "\u200d"
    ):
        cut -= 1
    return cut


def split_text(text: str, limit: int = BODY_LIMIT) -> list[str]:
    """Cut a text into parts of at most `limit` characters, at whitespace, never inside a
    word or a URL unless one alone is longer than the limit. Blank text gives no parts."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    parts: list[str] = []
    rest = text
    while rest.strip():
        fit = _fitting(rest, limit)
        if fit == len(rest):
            parts.append(rest)
            break
        if rest[0].isspace():
            rest = rest.lstrip()
            continue
        cut = _break_at(rest[: fit + 1], fit)
        if cut is None:
            cut = _hard_cut(rest, fit)
            parts.append(rest[:cut])
            rest = rest[cut:]
            continue
        head = rest[:cut].rstrip()
        if head:
            parts.append(head)
        rest = rest[cut:].lstrip()
    return parts


def render_text(message: Outbound, translate: Translate) -> str:
    """The message as plain text: options numbered (shared helper), with how to answer."""
    if not message.options:
        return message.text
    prompt = RenderedPrompt(
        message.text, tuple(RenderedOption(o.key, o.label) for o in message.options),
        message.multiple,
    )
    hint = ANSWER_WITH_NUMBERS if message.multiple else ANSWER_WITH_NUMBER
    return numbered_text(prompt) + "\n\n" + translate(message.locale, hint)


# -- the Twilio HTTP client ----------------------------------------------------------------


def rebase(url: str, base_url: str) -> str:
    """The same request on another server: scheme, host and port (and a path prefix)."""
    target, original = urlsplit(base_url), urlsplit(url)
    path = target.path.rstrip("/") + original.path
    return urlunsplit((target.scheme, target.netloc, path, original.query, original.fragment))


def _retry_after(response: Response) -> float | None:
    value = (response.headers or {}).get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class TwilioHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client, optionally sending every domain's requests to another server
    (FACTS 2.5 "override B": runs after twilio's region/edge rewrite), keeping Retry-After."""

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(logger=_TWILIO_HTTP_LOG)
        self.base_url = base_url.rstrip("/") if base_url else None

    async def request(
        self, method: str, url: str, params: dict[str, object] | None = None,
        data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None, timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request, on the configured server, and remember the provider's wait."""
        if self.base_url:
            url = rebase(url, self.base_url)
        response = await super().request(
            method, url, params=params, data=data, headers=headers, auth=auth, timeout=timeout,
            allow_redirects=allow_redirects,
        )
        _RETRY_AFTER.set(_retry_after(response) if response.status_code >= 400 else None)
        return response


def classify(error: TwilioRestException | TwilioServiceException) -> ChannelError:
    """Map a Twilio REST error to what the outbox does next (see the code tables above)."""
    status = int(error.status or 0)
    code = int(error.code or 0)
    reason = f"twilio {code} (HTTP {status})"
    if code in BLOCKED_CODES:
        return ChannelError(reason, blocked=True)
    if code in HOLD_CODES:
        return ChannelError(reason, hold=True)
    if status == 429 or status >= 500 or status in (401, 403) or code in RETRY_CODES:
        return ChannelError(reason, retry_after=_RETRY_AFTER.get())
    return ChannelError(reason, permanent=True)


# -- inbound -------------------------------------------------------------------------------


def parse_inbound(form: Mapping[str, str]) -> Inbound | None:
    """Twilio's inbound message form as an `Inbound`; None without MessageSid or From.

    `From` is the identity as Twilio sends it, `whatsapp:+32…` or a business-scoped user id
    such as `whatsapp:US.ABC123` (2026): never assumed to be a phone number.
    """
    sid = (form.get("MessageSid") or "").strip()
    sender = (form.get("From") or "").strip()
    if not sid or not sender or len(sid) > 64 or len(sender) > 255:
        return None
    payload = (form.get("ButtonPayload") or "").strip()
    text = form.get("Body") or None
    if not payload and not text:
        text = form.get("ButtonText") or None
    attachments = []
    try:
        count = min(int(form.get("NumMedia") or 0), MAX_ATTACHMENTS)
    except ValueError:
        count = 0
    for index in range(max(count, 0)):
        url = form.get(f"MediaUrl{index}")
        if url:
            attachments.append(
                Attachment(ref=url, content_type=form.get(f"MediaContentType{index}") or None)
            )
    return Inbound(
        channel=NAME,
        external_id=sender,
        provider_key=sid,
        text=text,
        choice=payload[:256] or None,
        attachments=tuple(attachments),
        display_name=(form.get("ProfileName") or "").strip()[:255] or None,
        language_hint=from_phone_number(sender),
    )


# -- the channel ---------------------------------------------------------------------------


class WhatsAppChannel:
    """Sends through Twilio's Messages API and fetches (then deletes) the family's media."""

    name = NAME
    merge_replies = True
    max_text_length = BODY_LIMIT
    per_chat_interval = 0.2
    # Twilio does not promise that separately created messages arrive in order; a pause
    # between the parts of a split text keeps them in reading order in practice.
    part_interval = 0.5

    def __init__(
        self, client: Client, media: aiohttp.ClientSession, *, sender: str,
        status_callback_url: str, clock: Clock, templates: policy.TemplateConfig,
        translate: Translate = lambda lang, msgid: msgid, api_base_url: str | None = None,
        max_media_bytes: int = MAX_MEDIA_BYTES,
    ) -> None:
        self.client = client
        self.media = media
        self.sender = sender if sender.startswith("whatsapp:") else f"whatsapp:{sender}"
        self.status_callback_url = status_callback_url
        self.clock = clock
        self.templates = templates
        self.translate = translate
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.max_media_bytes = max_media_bytes
        credentials = f"{client.username}:{client.password}".encode()
        self._authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
        # Parts of a split message Twilio already accepted, so a retry does not repeat them.
        # Only an optimisation: after a restart a retry re-sends (at-least-once).
        self._progress: OrderedDict[int, tuple[int, str]] = OrderedDict()

    async def send(self, message: Outbound) -> SendResult:
        """Deliver as free-form text within the window, as a template outside it, or hold."""
        plan = policy.whatsapp_delivery(
            message.last_inbound_at, self.clock(), message.extra, message.locale, self.templates
        )
        callback = self._callback(message)
        if plan.mode == "hold":
            raise ChannelError(plan.reason, hold=True)
        if plan.mode == "template":
            sid = await self._create(
                to=message.external_id, content_sid=plan.content_sid,
                content_variables=json.dumps(dict(plan.variables), ensure_ascii=False),
                status_callback=callback,
            )
            return SendResult(provider_message_id=sid)
        parts = split_text(render_text(message, self.translate))
        if not parts:
            raise ChannelError("empty message", permanent=True)
        done, sid = self._progress.get(message.outbox_id, (0, ""))
        for index in range(done, len(parts)):
            if index > done:
                await asyncio.sleep(self.part_interval)
            sid = await self._create(
                to=message.external_id, body=parts[index], status_callback=callback
            )
            self._remember(message.outbox_id, index + 1, sid)
        self._progress.pop(message.outbox_id, None)
        return SendResult(provider_message_id=sid)

    def _callback(self, message: Outbound) -> str:
        # The outbox id ties every part's status to its row, even before the row records
        # the message SID (Twilio may call back before the dispatcher commits).
        if message.outbox_id:
            return f"{self.status_callback_url}?outbox={message.outbox_id}"
        return self.status_callback_url

    def _remember(self, outbox_id: int, done: int, sid: str) -> None:
        if not outbox_id:
            return
        self._progress[outbox_id] = (done, sid)
        self._progress.move_to_end(outbox_id)
        while len(self._progress) > 10_000:
            self._progress.popitem(last=False)

    async def _create(self, **fields: Any) -> str:
        _RETRY_AFTER.set(None)
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                created = await self.client.messages.create_async(from_=self.sender, **fields)
        except (TwilioRestException, TwilioServiceException) as error:
            raise classify(error) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            raise ChannelError(f"network: {type(error).__name__}") from None
        return str(created.sid)

    async def fetch(self, attachment: Attachment) -> AsyncIterator[bytes]:
        """Stream a family's media with the account's credentials, then delete it at Twilio
        (health data must not stay there). Over the size cap: refused and deleted."""
        url = self._media_url(attachment.ref)
        received = 0
        try:
            async with self.media.get(
                url, headers={"Authorization": self._authorization}
            ) as response:
                if response.status == 429 or response.status >= 500:
                    raise ChannelError(f"media HTTP {response.status}")
                if response.status != 200:
                    raise ChannelError(f"media HTTP {response.status}", permanent=True)
                if (response.content_length or 0) > self.max_media_bytes:
                    await self._delete_media(attachment.ref)
                    raise ChannelError("media over the size cap", permanent=True)
                async for chunk in response.content.iter_chunked(MEDIA_CHUNK):
                    received += len(chunk)
                    if received > self.max_media_bytes:
                        await self._delete_media(attachment.ref)
                        raise ChannelError("media over the size cap", permanent=True)
                    yield chunk
        except (aiohttp.ClientError, TimeoutError) as error:
            raise ChannelError(f"media network: {type(error).__name__}") from None
        await self._delete_media(attachment.ref)

    def _media_url(self, ref: str) -> str:
        parts = urlsplit(ref)
        if self.api_base_url:
            return rebase(ref, self.api_base_url)
        host = (parts.hostname or "").lower()
        # The account's credentials go to Twilio only.
        if parts.scheme != "https" or not (host == "twilio.com" or host.endswith(".twilio.com")):
            raise ChannelError("media URL outside Twilio", permanent=True)
        return ref

    async def _delete_media(self, ref: str) -> None:
        """Media URLs have no `.json`; the Media resource is the same path with it."""
        match = _MEDIA_PATH.search(urlsplit(ref).path)
        if match is None:
            log.warning("media not deletable", extra={"channel": NAME})
            return
        resource = (
            self.client.api.v2010.accounts(match["account"])
            .messages(match["message"]).media(match["media"])
        )
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await resource.delete_async()
        except (TwilioRestException, TwilioServiceException) as error:
            if error.status != 404:  # already deleted: fine
                log.warning("media delete failed", extra={"channel": NAME,
                                                          "error": f"twilio {error.code}"})
        except (aiohttp.ClientError, OSError, TimeoutError) as error:
            log.warning("media delete failed", extra={"channel": NAME,
                                                      "error": type(error).__name__})


async def whatsapp_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the Twilio client inside the running loop, register the channel, close on exit."""
    settings = app[SETTINGS]
    if not settings.twilio_whatsapp_from:
        raise RuntimeError("TWILIO_WHATSAPP_FROM is required when WhatsApp is on")
    http = TwilioHttpClient(settings.twilio_api_base_url)
    media = aiohttp.ClientSession(timeout=MEDIA_TIMEOUT)
    try:
        client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http)
        catalogs = app[CATALOGS]
        channel = WhatsAppChannel(
            client, media, sender=settings.twilio_whatsapp_from,
            status_callback_url=settings.base_url + STATUS_PATH, clock=app[CLOCK],
            templates=policy.TemplateConfig.from_env(settings.extra),
            translate=catalogs.gettext, api_base_url=settings.twilio_api_base_url,
        )
        channel.per_chat_interval = settings.whatsapp_per_chat_interval
        app[CHANNELS][channel.name] = channel
        yield
    finally:
        await http.close()
        await media.close()
