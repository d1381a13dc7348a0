"""A client that sends a request's body as slowly as an attacker likes, over a raw socket."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit


async def trickle(
    base: str, method: str, path: str, headers: Mapping[str, str], body: bytes, *,
    first: int, every: float, piece: int = 1, limit: float = 15.0,
) -> tuple[int, float]:
    """Send the headers and `first` bytes of the body, then `piece` bytes every `every`
    seconds until the server answers; returns the status and how long the answer took."""
    parts = urlsplit(base)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    loop = asyncio.get_running_loop()
    began = loop.time()
    head = [f"{method} {path} HTTP/1.1", f"Host: {parts.netloc}",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body[:first])
    await writer.drain()

    async def feed() -> None:
        sent = first
        while sent < len(body):
            await asyncio.sleep(every)
            writer.write(body[sent:sent + piece])
            sent += piece
            try:
                await writer.drain()
            except ConnectionError:
                return

    feeding = asyncio.create_task(feed())
    try:
        async with asyncio.timeout(limit):
            status_line = await reader.readline()
    finally:
        feeding.cancel()
        writer.close()
    return int(status_line.split()[1]), loop.time() - began
