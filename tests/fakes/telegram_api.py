"""A loopback Telegram Bot API for the real python-telegram-bot client, and update builders.

It speaks HTTP like api.telegram.org: `POST /bot{token}/{method}` with form-encoded (PTB) or
JSON parameters, nested objects as JSON strings, answers `{"ok": true, "result": ...}`, and
files under `GET /file/bot{token}/{path}`. It can be told to fail the next calls of a method.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

TOKEN = "123:ABC"
BOT_ID = 123
BOT_USERNAME = "intake_test_bot"
SECRET = "s3cr3t"
FILE_LIMIT = 20_000_000

# Parameters PTB sends as plain strings; every other value is JSON encoded.
STRING_PARAMS = frozenset({
    "text", "url", "secret_token", "file_id", "callback_query_id", "language_code",
    "caption", "parse_mode", "inline_message_id", "business_connection_id",
})


@dataclass
class Sent:
    """One message the bot sent, as Telegram stored it."""

    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None
    document: str | None = None

    def callback_datas(self) -> list[str]:
        """The callback data of every button under the message."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button.get("callback_data", "") for row in rows for button in row]


@dataclass
class Failure:
    """How the next call of a method fails: status 500, 429, 403, 400, or a delay."""

    kind: str
    seconds: float = 1.0


@dataclass
class FakeTelegram:
    """The Bot API on 127.0.0.1; records calls, sent messages, keyboards and files."""

    token: str = TOKEN
    bot_id: int = BOT_ID
    root: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    keyboards: dict[tuple[int, int], dict[str, Any] | None] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, int]] = field(default_factory=dict)
    failures: defaultdict[str, deque[Failure]] = field(
        default_factory=lambda: defaultdict(deque))
    updates: list[dict[str, Any]] = field(default_factory=list)
    # Called with every message sent (benchmarks time the arrival of replies with it).
    on_send: list[Callable[[Sent], None]] = field(default_factory=list)
    # Chats whose sendMessage is delivered (recorded in `sent`) but not answered until
    # `release()`: the bot's call is in flight while Telegram already showed the message.
    held_chats: set[int] = field(default_factory=set)
    held: list[Sent] = field(default_factory=list)
    answering: int = 0  # calls received and not yet answered: a client's calls in flight
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on a free loopback port; returns the root URL."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}"
        return self.root

    async def close(self) -> None:
        """Stop listening."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        """What `TELEGRAM_API_BASE_URL` should be: the root ending in /bot."""
        return f"{self.root}/bot"

    # -------------------------------------------------------------- failures and waiting

    def fail(self, method: str, kind: str, times: int = 1, seconds: float = 1.0) -> None:
        """Make the next `times` calls of `method` fail (or be delayed by `seconds`)."""
        self.failures[method].extend(Failure(kind, seconds) for _ in range(times))

    def hold(self, chat_id: int) -> None:
        """Deliver this chat's next messages but keep the bot waiting for the answer."""
        self._released.clear()
        self.held_chats.add(chat_id)

    def release(self) -> None:
        """Answer every held call, and hold no more."""
        self.held_chats.clear()
        self._released.set()

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        """The parameters of every call of one method, in order."""
        return [params for name, params in self.calls if name == method]

    def to(self, chat_id: int) -> list[Sent]:
        """Every message sent to a chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until a call makes `condition` true."""
        deadline = time.monotonic() + timeout
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("the fake Telegram never saw what the test waited for")
            await asyncio.sleep(min(remaining, 0.02))

    # -------------------------------------------------------------- the API

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        self.answering += 1
        try:
            return await self._answer(request, method)
        finally:
            self.answering -= 1

    async def _answer(self, request: web.Request, method: str) -> web.Response:
        params = await _params(request)
        self.calls.append((method, params))
        queued = self.failures.get(method)
        if queued:
            failure = queued.popleft()
            if failure.kind == "delay":
                await asyncio.sleep(failure.seconds)
            else:
                return _failure(failure)
        handler = {
            "getMe": self._get_me, "sendMessage": self._send_message,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": self._answer_callback_query, "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook, "setMyCommands": self._set_my_commands,
            "getFile": self._get_file, "getUpdates": self._get_updates,
            "sendDocument": self._send_document,
        }.get(method)
        if handler is None:
            return _error(404, "Not Found: method not found")
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Intake",
                "username": BOT_USERNAME, "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _send_message(self, params: dict[str, Any]) -> Any:
        chat_id, text = int(params["chat_id"]), str(params.get("text", ""))
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        sent = Sent(chat_id, next(self._message_ids), text, markup)
        self.sent.append(sent)
        self.keyboards[(chat_id, sent.message_id)] = markup
        for listener in self.on_send:
            listener(sent)
        if chat_id in self.held_chats:
            self.held.append(sent)
            await self._released.wait()
        return self.message_json(chat_id, sent.message_id, text=text, from_bot=True)

    async def _send_document(self, params: dict[str, Any]) -> Any:
        """A document by URL (the only form the bot uses): kept with its caption, the way
        Telegram would fetch it; the test fetches the URL itself."""
        chat_id, document = int(params["chat_id"]), params.get("document")
        if not isinstance(document, str) or not document.startswith(("http://", "https://")):
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = str(params.get("caption", ""))
        if len(caption) > 1024:
            return _error(400, "Bad Request: message caption is too long")
        sent = Sent(chat_id, next(self._message_ids), caption, None, document)
        self.sent.append(sent)
        for listener in self.on_send:
            listener(sent)
        message = self.message_json(chat_id, sent.message_id, from_bot=True)
        message["caption"] = caption
        message["document"] = {"file_id": f"sent-{sent.message_id}",
                               "file_unique_id": f"u-sent-{sent.message_id}",
                               "mime_type": "application/pdf"}
        return message

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.keyboards:
            return _error(400, "Bad Request: message to edit not found")
        markup = params.get("reply_markup")
        if markup == self.keyboards[key]:
            return _error(400, "Bad Request: message is not modified")
        self.keyboards[key] = markup
        return self.message_json(*key, from_bot=True)

    async def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _set_my_commands(self, params: dict[str, Any]) -> Any:
        return True

    async def _get_file(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, _, size = self.files[file_id]
        if size > FILE_LIMIT:
            return _error(400, "Bad Request: file is too big")
        return {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_size": size,
                "file_path": path}

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 0.5)
        while True:
            ready = [u for u in self.updates if u["update_id"] >= offset]
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        path = request.match_info["path"]
        for stored_path, content, _ in self.files.values():
            if stored_path == path:
                return web.Response(body=content, content_type="application/octet-stream")
        return _error(404, "Not Found")

    # -------------------------------------------------------------- updates

    def add_file(self, content: bytes, name: str, size: int | None = None) -> str:
        """Store a file the family sends; `size` may claim more than `content` holds."""
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = (f"documents/{file_id}-{name}", content, size or len(content))
        return file_id

    def message_json(
        self, chat_id: int, message_id: int, *, text: str | None = None, from_bot: bool = False,
        first_name: str = "Amira", language_code: str | None = "en",
    ) -> dict[str, Any]:
        """A Message object as Telegram sends it (with the keyboard it shows now)."""
        sender = ({"id": self.bot_id, "is_bot": True, "first_name": "Intake",
                   "username": BOT_USERNAME} if from_bot else
                  _user(chat_id, first_name, language_code))
        message: dict[str, Any] = {
            "message_id": message_id, "date": int(time.time()), "from": sender,
            "chat": {"id": chat_id, "type": "private", "first_name": first_name},
        }
        if text is not None:
            message["text"] = text
        markup = self.keyboards.get((chat_id, message_id))
        if markup:
            message["reply_markup"] = markup
        return message

    def text_update(
        self, chat_id: int, text: str, *, first_name: str = "Amira",
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """A family's typed message."""
        message = self.message_json(chat_id, next(self._message_ids), text=text,
                                    first_name=first_name, language_code=language_code)
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return {"update_id": next(self._ids), "message": message}

    def callback_update(
        self, chat_id: int, message_id: int, data: str, *, first_name: str = "Amira",
        language_code: str | None = "en",
    ) -> dict[str, Any]:
        """A tap on a button of a message the bot sent."""
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": f"cq{next(self._ids)}",
                "from": _user(chat_id, first_name, language_code),
                "chat_instance": f"ci{chat_id}",
                "message": self.message_json(chat_id, message_id, from_bot=True,
                                             text=self._text_of(chat_id, message_id)),
                "data": data,
            },
        }

    def document_update(
        self, chat_id: int, file_id: str, *, name: str, mime_type: str,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """A family's document, with the size Telegram reports."""
        _, _, size = self.files[file_id]
        message = self.message_json(chat_id, next(self._message_ids))
        message["document"] = {"file_id": file_id, "file_unique_id": f"u{file_id}",
                               "file_name": name, "mime_type": mime_type, "file_size": size}
        if caption is not None:
            message["caption"] = caption
        return {"update_id": next(self._ids), "message": message}

    def edited_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """A family's edit of an earlier message."""
        message = self.message_json(chat_id, next(self._message_ids), text=text)
        message["edit_date"] = int(time.time())
        return {"update_id": next(self._ids), "edited_message": message}

    def _text_of(self, chat_id: int, message_id: int) -> str:
        for sent in self.sent:
            if (sent.chat_id, sent.message_id) == (chat_id, message_id):
                return sent.text
        return ""


async def post_update(
    session: ClientSession, webhook_url: str, update: dict[str, Any],
    secret: str | None = SECRET,
) -> int:
    """Deliver an update to our webhook like Telegram does; returns the HTTP status."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    async with session.post(webhook_url, json=update, headers=headers) as response:
        await response.read()
        return response.status


def _user(user_id: int, first_name: str, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name,
                            "last_name": "Benali"}
    if language_code is not None:
        user["language_code"] = language_code
    return user


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post() if request.can_read_body else {}
    params: dict[str, Any] = {}
    for name, value in form.items():
        if not isinstance(value, str):
            continue  # an uploaded file: not used by the intake
        if name in STRING_PARAMS:
            params[name] = value
            continue
        try:
            params[name] = json.loads(value)
        except ValueError:
            params[name] = value
    return params


def _error(status: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _failure(failure: Failure) -> web.Response:
    if failure.kind == "429":
        seconds = max(1, int(failure.seconds))
        return _error(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
    if failure.kind == "403":
        return _error(403, "Forbidden: bot was blocked by the user")
    if failure.kind == "400":
        return _error(400, "Bad Request: chat not found")
    return _error(500, "Internal Server Error")
