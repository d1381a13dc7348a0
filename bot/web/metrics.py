"""`GET /metrics`: the process counters (summed over workers) and the database gauges."""

from __future__ import annotations

import hmac
import ipaddress
import os
from datetime import datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.keys import CLOCK, DATABASE, SETTINGS
from bot.operations.metrics import MULTIPROC_ENV, metrics
from storage.tables import OutboxItem, Timer
from storage.unit_of_work import UnitOfWork

routes = web.RouteTableDef()


async def _database_gauges(request: web.Request, now: datetime) -> bytes:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        outbox = (await uow.session.execute(
            select(OutboxItem.channel, OutboxItem.status, func.count())
            .where(OutboxItem.status.in_(("pending", "sending", "held", "failed")))
            .group_by(OutboxItem.channel, OutboxItem.status)
        )).all()
        due = (await uow.session.execute(
            select(Timer.kind, func.count())
            .where(Timer.fired_at.is_(None), Timer.cancelled_at.is_(None), Timer.due_at <= now)
            .group_by(Timer.kind)
        )).all()

    class FromDatabase:
        def collect(self) -> Any:
            waiting = GaugeMetricFamily(
                "intake_outbox_waiting", "Outbox rows not yet delivered, by channel and status",
                labels=["channel", "status"])
            for channel, status, count in outbox:
                waiting.add_metric([channel, status], count)
            yield waiting
            timers = GaugeMetricFamily(
                "intake_timers_due", "Timers due and not fired yet, by kind", labels=["kind"])
            for kind, count in due:
                timers.add_metric([kind], count)
            yield timers

    registry = CollectorRegistry()
    registry.register(FromDatabase())  # type: ignore[arg-type]
    return bytes(generate_latest(registry))


def _process_counters() -> bytes:
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    metrics()  # every series exists (at zero) from the first scrape
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(registry))
    return bytes(generate_latest(REGISTRY))


def allowed(request: web.Request) -> bool:
    """`METRICS_TOKEN` as a bearer token when configured; otherwise loopback peers only.

    The peer is the direct connection, never `X-Forwarded-For`: a request that came through
    the public proxy is not a local scraper.
    """
    token = request.app[SETTINGS].metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    try:
        peer = ipaddress.ip_address((request.remote or "").split("%")[0])
    except ValueError:
        return False
    return peer.is_loopback and "X-Forwarded-For" not in request.headers


@routes.get("/metrics")
async def metrics_endpoint(request: web.Request) -> web.Response:
    """The Prometheus text format; 404 to anyone not allowed (it does not advertise itself)."""
    if not allowed(request):
        raise web.HTTPNotFound()
    from prometheus_client import CONTENT_TYPE_LATEST

    body = _process_counters() + await _database_gauges(request, request.app[CLOCK]())
    response = web.Response(body=body, headers={"Cache-Control": "no-store"})
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
