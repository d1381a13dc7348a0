"""A loopback server that speaks enough of Twilio's REST API for the real twilio client.

It accepts `POST /2010-04-01/Accounts/{AC}/Messages.json` (free-form `Body`, or `ContentSid`
and `ContentVariables`), serves and deletes Media, checks HTTP Basic credentials, and can be
told to fail. Helpers sign and post webhook calls the way Twilio does.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Protocol

from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "tok"
API = "/2010-04-01/Accounts/{account}"
TWILIO_API_ROOT = "https://api.twilio.com"


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


@dataclass(frozen=True)
class Failure:
    """One scripted failure of the Messages API."""

    status: int
    code: int
    message: str
    retry_after: float | None = None


@dataclass
class FakeTwilio:
    """The fake API: what it received, and what it should do next."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[dict[str, str]] = field(default_factory=list)
    attempts: int = 0
    delay: float = 0.0
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    media_downloads: list[str] = field(default_factory=list)
    deleted_media: list[str] = field(default_factory=list)
    unauthorized: int = 0
    _failures: deque[Failure] = field(default_factory=deque, init=False, repr=False)
    _server: TestServer | None = field(default=None, init=False, repr=False)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    async def __aenter__(self) -> FakeTwilio:
        app = web.Application()
        base = API.format(account="{account}")
        app.router.add_post(base + "/Messages.json", self._create_message)
        media = base + "/Messages/{message}/Media/{media}"
        app.router.add_get(media, self._get_media)
        app.router.add_delete(media + ".json", self._delete_media)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def url(self) -> str:
        """Where the fake listens (what `TWILIO_API_BASE_URL` points at)."""
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.port}"

    # -- scripting -----------------------------------------------------------------------

    def fail_next(self, count: int = 1, status: int = 500) -> None:
        """The next `count` message creations answer a server error."""
        for _ in range(count):
            self._failures.append(Failure(status, status, "Internal Server Error"))

    def rate_limit_next(self, count: int = 1, retry_after: float | None = None) -> None:
        """The next `count` message creations answer 429 (code 20429)."""
        for _ in range(count):
            self._failures.append(Failure(429, 20429, "Too Many Requests", retry_after))

    def block_next(self, code: int = 21610) -> None:
        """The next message creation is refused: the recipient unsubscribed."""
        self._failures.append(
            Failure(400, code, "Attempt to send to unsubscribed recipient")
        )

    def add_media(self, content: bytes, content_type: str = "image/jpeg") -> str:
        """Store a family's media; returns its URL as Twilio puts it in `MediaUrl0`."""
        path = f"{API.format(account=self.account_sid)}/Messages/{new_sid('MM')}/Media/" + (
            new_sid("ME")
        )
        self.media[path] = (content, content_type)
        return TWILIO_API_ROOT + path

    # -- reading -------------------------------------------------------------------------

    def sent_to(self, to: str) -> list[dict[str, str]]:
        """Messages accepted for one recipient, in the order they arrived."""
        return [m for m in self.messages if m.get("To") == to]

    async def wait_for(self, count: int, to: str | None = None, timeout: float = 10.0) -> None:
        """Until `count` messages (to one recipient, or in all) were accepted."""
        async with asyncio.timeout(timeout):
            while len(self.sent_to(to) if to else self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()

    # -- the API -------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        ok = request.headers.get("Authorization", "") == f"Basic {expected}"
        if not ok:
            self.unauthorized += 1
        return ok and request.match_info["account"] == self.account_sid

    def _error(self, failure: Failure) -> web.Response:
        headers = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = str(failure.retry_after)
        return web.json_response(
            {"code": failure.code, "message": failure.message, "status": failure.status,
             "more_info": f"https://www.twilio.com/docs/errors/{failure.code}"},
            status=failure.status, headers=headers,
        )

    async def _create_message(self, request: web.Request) -> web.Response:
        self.attempts += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if not self._authorized(request):
            return self._error(Failure(401, 20003, "Authenticate"))
        if self._failures:
            return self._error(self._failures.popleft())
        form = {key: str(value) for key, value in (await request.post()).items()}
        if not form.get("To") or not (form.get("Body") or form.get("ContentSid")):
            return self._error(Failure(400, 21619, "A text message body is required"))
        if len(form.get("Body", "")) > 1600:
            return self._error(Failure(400, 21617, "The concatenated message body is too long"))
        sid = new_sid("SM")
        form["Sid"] = sid
        self.messages.append(form)
        self._arrived.set()
        now = formatdate(usegmt=True)
        uri = f"{API.format(account=self.account_sid)}/Messages/{sid}"
        return web.json_response(
            {
                "sid": sid, "account_sid": self.account_sid, "to": form["To"],
                "from": form.get("From"), "body": form.get("Body", ""), "status": "queued",
                "num_segments": "1", "num_media": "0", "direction": "outbound-api",
                "api_version": "2010-04-01", "date_created": now, "date_updated": now,
                "date_sent": None, "price": None, "price_unit": "USD", "error_code": None,
                "error_message": None, "messaging_service_sid": None, "uri": uri + ".json",
                "subresource_uris": {"media": uri + "/Media.json"},
            },
            status=201,
        )

    async def _get_media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(Failure(401, 20003, "Authenticate"))
        stored = self.media.get(request.path)
        if stored is None:
            return self._error(Failure(404, 20404, "Not found"))
        self.media_downloads.append(request.path)
        content, content_type = stored
        return web.Response(body=content, content_type=content_type)

    async def _delete_media(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(Failure(401, 20003, "Authenticate"))
        path = request.path.removesuffix(".json")
        if self.media.pop(path, None) is None:
            return self._error(Failure(404, 20404, "Not found"))
        self.deleted_media.append(path)
        return web.Response(status=204)


# -- webhook calls, signed like Twilio signs them ------------------------------------------


class _Poster(Protocol):
    def post(self, path: str, **kwargs: Any) -> Any: ...


Params = Mapping[str, str] | Iterable[tuple[str, str]]


async def sign_and_post(
    client_or_url: _Poster | str, path: str, params: Params, auth_token: str,
    public_base_url: str, *, signature: str | None = None, sign: bool = True,
) -> tuple[int, str]:
    """POST a form to our webhook with the signature Twilio would compute for the public
    URL; `signature` forges one, `sign=False` sends none. Returns status and body."""
    items = list(params.items()) if isinstance(params, Mapping) else list(params)
    url = public_base_url.rstrip("/") + path
    headers = {}
    if sign:
        computed = RequestValidator(auth_token).compute_signature(url, _MultiParams(items))
        headers["X-Twilio-Signature"] = signature if signature is not None else computed
    if isinstance(client_or_url, str):
        async with ClientSession() as session, session.post(
            client_or_url.rstrip("/") + path, data=items, headers=headers
        ) as response:
            return response.status, await response.text()
    response = await client_or_url.post(path, data=items, headers=headers)
    return response.status, await response.text()


class _MultiParams(dict[str, list[str]]):
    """The `getall` RequestValidator uses for repeated parameters."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        super().__init__()
        for key, value in items:
            self.setdefault(key, []).append(value)

    def getall(self, key: str) -> list[str]:
        return self[key]


def inbound_params(
    from_: str = "whatsapp:+32470000001", body: str = "Hello", *,
    to: str = "whatsapp:+3220000000", profile_name: str | None = "Test Family",
    media: Iterable[tuple[str, str]] = (), message_sid: str | None = None,
    button_payload: str | None = None, button_text: str | None = None,
    account_sid: str = ACCOUNT_SID,
) -> dict[str, str]:
    """The form Twilio posts for one inbound WhatsApp message (a fresh MessageSid)."""
    media = list(media)
    sid = message_sid or new_sid("MM" if media else "SM")
    params = {
        "SmsMessageSid": sid, "MessageSid": sid, "SmsSid": sid, "AccountSid": account_sid,
        "From": from_, "To": to, "Body": body, "NumMedia": str(len(media)),
        "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
        "MessageType": "image" if media else ("button" if button_payload else "text"),
        "ReferralNumMedia": "0", "ChannelMetadata": "{}",
    }
    number = from_.removeprefix("whatsapp:")
    if number.startswith("+"):
        params["WaId"] = number[1:]
    if profile_name is not None:
        params["ProfileName"] = profile_name
    for index, (url, content_type) in enumerate(media):
        params[f"MediaUrl{index}"] = url
        params[f"MediaContentType{index}"] = content_type
    if button_payload is not None:
        params["ButtonPayload"] = button_payload
    if button_text is not None:
        params["ButtonText"] = button_text
    return params


def status_params(
    sid: str, status: str, *, to: str = "whatsapp:+32470000001",
    from_: str = "whatsapp:+3220000000", error_code: str | None = None,
    account_sid: str = ACCOUNT_SID,
) -> dict[str, str]:
    """The form of one delivery status callback."""
    params = {
        "SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "MessageSid": sid,
        "AccountSid": account_sid, "From": from_, "To": to, "ApiVersion": "2010-04-01",
        "ChannelPrefix": "whatsapp", "ChannelInstallSid": new_sid("XE"),
        "ChannelToAddress": to.removeprefix("whatsapp:"),
    }
    if error_code is not None:
        params["ErrorCode"] = error_code
    return params
