"""Reading request bodies defensively: size caps, a minimum pace, strict JSON and forms.

aiohttp waits for a body for as long as the client keeps the connection open, so one byte
every few seconds would hold a connection (and what was read so far) for hours. Small bodies
(JSON, forms) must arrive whole within the timeout; large ones (upload pieces) must bring at
least `MIN_BYTES_PER_WINDOW` in every timeout window, which a stalled or trickling client
never does. Text that PostgreSQL cannot store (NUL) or that is not Unicode (lone surrogates,
which JSON's `\\ud800` escapes can produce) is refused, or cleaned where the sender cannot be
asked again (provider webhooks).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from aiohttp import StreamReader, web
from multidict import MultiDict

MIN_BYTES_PER_WINDOW = 1024
JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
UTF8_NAMES = frozenset({"utf-8", "utf8"})
MAX_FORM_FIELDS = 1000
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class BodyError(Exception):
    """A body refused: `status` is the HTTP answer, `code` says why (never the content)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


def _timed_out() -> NoReturn:
    raise BodyError(408, "timeout")


async def chunks(
    stream: StreamReader, size: int, idle_timeout: float,
    min_bytes: int = MIN_BYTES_PER_WINDOW,
) -> AsyncIterator[bytes]:
    """The body in pieces of at most `size` bytes; 408 when a window of `idle_timeout`
    seconds brings fewer than `min_bytes` (nothing at all, or a trickle)."""
    async for chunk in paced(lambda: stream.read(size), idle_timeout, min_bytes):
        yield chunk


async def paced(
    read: Callable[[], Awaitable[bytes]], idle_timeout: float,
    min_bytes: int = MIN_BYTES_PER_WINDOW,
) -> AsyncIterator[bytes]:
    """What `read` returns until it returns nothing, under the pace rule of `chunks` (a
    multipart part's `read_chunk` as well as a plain body's `read`)."""
    loop = asyncio.get_running_loop()
    window_end = loop.time() + idle_timeout
    received = 0
    while True:
        remaining = window_end - loop.time()
        if remaining <= 0:
            if received < min_bytes:
                _timed_out()
            window_end, received, remaining = loop.time() + idle_timeout, 0, idle_timeout
        try:
            async with asyncio.timeout(remaining):
                chunk = await read()
        except TimeoutError:
            if received < min_bytes:
                _timed_out()
            window_end, received = loop.time() + idle_timeout, 0
            continue
        if not chunk:
            return
        received += len(chunk)
        yield chunk


async def read_body(request: web.BaseRequest, limit: int, timeout: float) -> bytes:
    """A small body, whole within `timeout` seconds and at most `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyError(413, "too_large")
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.read(64 * 1024):
                body += chunk
                if len(body) > limit:
                    raise BodyError(413, "too_large")
    except TimeoutError:
        _timed_out()
    return bytes(body)


def _check_type(request: web.BaseRequest, expected: str) -> None:
    if request.content_type != expected:
        raise BodyError(415, "media_type")
    charset = request.charset
    if charset is not None and charset.strip().lower() not in UTF8_NAMES:
        raise BodyError(415, "charset")


def has_unstorable(text: str) -> bool:
    """NUL (PostgreSQL refuses it in text) or a lone surrogate (not encodable as UTF-8)."""
    return UNSTORABLE.search(text) is not None


def clean_text(text: str) -> str:
    """What can be stored of a provider's text: NUL dropped, lone surrogates replaced."""
    if not has_unstorable(text):
        return text
    return UNSTORABLE.sub(lambda m: "" if m.group() == "\x00" else "\ufffd", text)


def _checked(value: Any, depth: int, max_depth: int, clean: bool) -> Any:
    if isinstance(value, str):
        if clean:
            return clean_text(value)
        if has_unstorable(value):
            raise BodyError(400, "text")
        return value
    if not isinstance(value, dict | list):
        return value
    if depth >= max_depth:
        raise BodyError(400, "too_deep")
    if isinstance(value, list):
        return [_checked(item, depth + 1, max_depth, clean) for item in value]
    return {
        _checked(key, depth + 1, max_depth, clean): _checked(item, depth + 1, max_depth, clean)
        for key, item in value.items()
    }


def _no_constants(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


async def read_json(
    request: web.BaseRequest, *, limit: int, timeout: float, max_depth: int = 16,
    clean: bool = False,
) -> Any:
    """A JSON body, UTF-8, at most `limit` bytes and `max_depth` levels deep, its strings
    free of NUL and lone surrogates (refused, or with `clean` dropped and replaced)."""
    _check_type(request, JSON_TYPE)
    body = await read_body(request, limit, timeout)
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise BodyError(400, "malformed") from None
    return _checked(value, 0, max_depth, clean)


async def read_form(request: web.BaseRequest, *, limit: int, timeout: float) -> MultiDict[str]:
    """A form-encoded body as strings, decoded strictly as UTF-8 (a provider's webhook)."""
    _check_type(request, FORM_TYPE)
    body = await read_body(request, limit, timeout)
    try:
        pairs = parse_qsl(body.rstrip().decode("ascii"), keep_blank_values=True,
                          encoding="utf-8", errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BodyError(400, "malformed") from None
    return MultiDict(pairs)
