"""The records-request letter's capability link: the PDF itself, drawn on each download.

A plain GET serves the file, because Telegram's servers fetch it from this link to deliver
it as a document. Each download is counted and audited on the case.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.documents.links import LinkProblem
from bot.journey.letters import open_letter
from bot.keys import CLOCK, DATABASE, RENDERER, SETTINGS
from intake.records_letter import LegalBasis
from storage.unit_of_work import UnitOfWork

routes = web.RouteTableDef()


@routes.get("/letter/{token}.pdf")
async def letter_download(request: web.Request) -> web.Response:
    """The letter's PDF, or 404 / 410 when the link opens nothing."""
    async with UnitOfWork(request.app[DATABASE]) as uow:
        found = await open_letter(uow.session, request.match_info["token"],
                                  request.app[CLOCK]())
        if isinstance(found, LinkProblem):
            raise (web.HTTPNotFound() if found is LinkProblem.UNKNOWN else web.HTTPGone())
        await uow.commit()
    # The letter is dated the day it was prepared, in the service's time zone.
    today = found.created.astimezone(ZoneInfo(request.app[SETTINGS].timezone)).date()
    # The PDF library and its fonts (~20 MiB) load with the first letter, not at start-up.
    from bot.journey.letter_pdf import render_letter

    # Layout and shaping take a few hundred milliseconds: off the event loop.
    body = await asyncio.to_thread(
        render_letter, request.app[RENDERER], found.language, patient_name=found.patient_name,
        birth_date=found.birth_date, hospital=found.hospital, today=today,
        basis=LegalBasis(found.legal_basis))
    return web.Response(body=body, headers={
        "Content-Type": "application/pdf",
        "Content-Disposition": f'attachment; filename="records-request-{found.reference}.pdf"',
        "Cache-Control": "no-store",
    })


def setup(app: web.Application) -> None:
    """Register the letter's download route."""
    app.router.add_routes(routes)
