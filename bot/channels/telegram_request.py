"""python-telegram-bot's HTTP layer on aiohttp, the client the rest of the application uses.

PTB stays the Telegram transport (its Bot API methods, objects, errors); only the bytes move
through aiohttp instead of httpx. Measured on the Telegram benchmark, httpx + httpcore +
anyio cost several milliseconds of CPU per call, the largest item of the whole reply path.
"""

from __future__ import annotations

from urllib.parse import urlencode

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

FORM_URLENCODED = "application/x-www-form-urlencoded"


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` backed by one pooled `aiohttp.ClientSession`."""

    def __init__(
        self, *, pool_size: int = 256, read_timeout: float = 10.0, write_timeout: float = 10.0,
        connect_timeout: float = 5.0, pool_timeout: float = 5.0,
    ) -> None:
        self._pool_size = pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        """The default read timeout (PTB's long polling adds its own on top)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Open the pooled session (inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        """Close the session and its connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one request; PTB turns the status and body into results or errors."""
        if self._session is None:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (self._connect_timeout if isinstance(connect_timeout, DefaultValue)
                   else connect_timeout)
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        write = self._write_timeout if isinstance(write_timeout, DefaultValue) else write_timeout
        total = None if read is None else read + (write or 0) + (connect or 0) + (pool or 0)
        timeout = aiohttp.ClientTimeout(total=total, connect=pool, sock_connect=connect,
                                        sock_read=read)
        body: aiohttp.FormData | aiohttp.BytesPayload | None = None
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, part in request_data.multipart_data.items():
                    filename, content, mimetype = (part + (None,))[:3] if isinstance(
                        part, tuple) else (None, part, None)
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                body = form
            else:
                # The bytes aiohttp's FormData would send, without its per-field checks (a
                # measurable share of each reply's CPU).
                body = aiohttp.BytesPayload(
                    urlencode(request_data.json_parameters, doseq=True).encode(),
                    content_type=FORM_URLENCODED)
        try:
            async with self._session.request(method, url, data=body, timeout=timeout) as reply:
                return reply.status, await reply.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
