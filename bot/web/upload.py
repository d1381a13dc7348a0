"""The family's upload page and the resumable upload protocol (tus 1.0.0 core, our own).

`aiohttp-tus` is not used (FACTS.md section 6: it writes outside its folder given a crafted
file name, and reads whole chunks into memory). Here every PATCH body streams in constant
memory into the encrypted store, ids are made by the server and a file name is only shown.

The token in the URL is the capability: no cookie is involved, so there is nothing to forge
across sites, and every answer carries `Referrer-Policy: no-referrer` (app middleware).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from aiohttp import BodyPartReader, ClientPayloadError, web

from bot.access.client_address import request_address
from bot.access.throttle import Throttle
from bot.documents import links as upload_links
from bot.documents.batches import (
    BATCH_BODY_BYTES,
    BATCH_BYTES,
    BATCH_FILE_BYTES,
    BATCH_FILES,
    BatchFile,
    BatchReceiver,
)
from bot.documents.budgets import Limits
from bot.documents.inspection import READ_CHUNK
from bot.documents.messages import size_text
from bot.documents.sessions import UploadRefused, accepts_uploads, file_meta, parse_metadata
from bot.documents.uploads import FILES, UPLOADS, UploadService
from bot.i18n.negotiate import from_accept_language
from bot.keys import (
    CATALOGS,
    CHANNELS,
    CLOCK,
    DATABASE,
    DISPATCHER,
    JINJA,
    RENDERER,
    SETTINGS,
)
from bot.messaging.replies import ReplyWriter
from bot.operations.file_store import make_file_store
from bot.web.bodies import BodyError, chunks, has_unstorable, paced, read_json
from bot.web.templating import render_page
from intake.prompts import N_, Text
from storage.tables import Case
from storage.unit_of_work import UnitOfWork

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination"
OFFSET_TYPE = "application/offset+octet-stream"
# The page sends large files in pieces: a cut connection costs at most one piece.
CHUNK_BYTES = 8 * 1024 * 1024
TUS_NUMBER = re.compile(r"^[0-9]{1,19}$")
MAX_TUS_NUMBER = 2**63 - 1
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
BAD_TOKEN_LIMIT = 10
BAD_TOKEN_WINDOW = timedelta(minutes=5)

routes = web.RouteTableDef()


class BadTokenLimiter:
    """Failed token lookups per client address, counted where every worker sees them.

    A valid token always opens, whatever its address did before: behind the reverse proxy
    many families can share one address, and one guesser must not lock them all out. Only
    failures are slowed down: past `limit` failures in `window`, a bad token is answered 429
    with the time left. The token's 256 bits are the real defence; this tells a guesser (and a
    broken client) to stop, and the counts show up in one place for every worker.
    """

    def __init__(self, throttle: Throttle, limit: int = BAD_TOKEN_LIMIT,
                 window: timedelta = BAD_TOKEN_WINDOW) -> None:
        self.throttle = throttle
        self.limit = limit
        self.window = window

    async def failed(self, address: str, now: datetime) -> int | None:
        """Count one failed lookup; the seconds to wait when the address is over its limit."""
        name = f"upload-bad:{address}"
        if await self.throttle.hit(name, self.window, now) <= self.limit:
            return None
        counter = await self.throttle.read(name, self.window, now)
        if counter is None:
            return None
        return max(1, int((counter.window_start + self.window - now).total_seconds()) + 1)


LIMITER = web.AppKey("upload_limiter", BadTokenLimiter)

_ERRORS: dict[str, str] = {
    "unknown": N_("This upload link is not valid. Please check that you copied all of it."),
    "expired": N_("This upload link has expired. Write \u201cnew link\u201d in the chat to get "
                  "a new one."),
    "revoked": N_("This upload link has been replaced by a newer one. Please use the latest "
                  "link we sent you, or write \u201cnew link\u201d in the chat."),
    "slow_down": N_("Too many attempts. Please wait a few minutes and try again."),
    "file_too_large": N_("This file is too large (the limit is {size} per file). Please "
                         "contact your coordinator."),
    "case_full": N_("There is no more room for files in this request (the limit is {size}). "
                    "Please contact your coordinator."),
    "too_many_parts": N_("This upload was split into too many pieces. Please start it again."),
    "offset_mismatch": N_("This upload is out of step; it continues from where it stopped."),
    "not_found": N_("This upload was not found. Please send the file again."),
    "empty": N_("This file is empty."),
    "bad_request": N_("This request could not be read. Please try again."),
    "bad_item": N_("Please choose one of the items of the list."),
    "not_sortable": N_("Images are sorted automatically."),
    "already_complete": N_("This upload is already complete."),
    "unsupported_media": N_("This request could not be read. Please try again."),
    "unsupported_type": N_("This type of file is not accepted. Please send PDF files, photos, "
                           "Word or OpenDocument text documents, plain text, DICOM images or "
                           "ZIP archives."),
    "not_dicom": N_("This file is named like a medical image (DICOM) but is not one. Please "
                    "send the images as they are on the hospital's CD or DVD."),
    "no_space": N_("We cannot receive files at the moment. Our coordinators have been told; "
                   "please try again in a few hours."),
    "version": N_("Please reload the page: it is out of date."),
    "too_slow": N_("The connection is too slow or was interrupted. The upload continues "
                   "from where it stopped."),
    "batch_too_large": N_("Too many files were sent at once. Please reload the page and "
                          "send them again."),
}


def _error_text(request: web.Request, code: str, lang: str) -> str:
    msgid = _ERRORS.get(code, _ERRORS["bad_request"])
    limits: Limits = request.app[UPLOADS].limits
    size = limits.case_bytes if code == "case_full" else limits.file_bytes
    return request.app[RENDERER].text(Text.of(msgid, size=size_text(size)), lang)


def _tus_headers(**extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def _json_error(request: web.Request, status: int, code: str, lang: str,
                **headers: str) -> web.Response:
    return web.json_response({"error": _error_text(request, code, lang), "code": code},
                             status=status, headers=_tus_headers(**headers))


def _visitor_language(request: web.Request) -> str:
    return from_accept_language(request.headers.get("Accept-Language")) or "en"


async def _open_case(request: web.Request, *, page: bool = False) -> Case | web.Response:
    """The case a token opens, or the answer that says (without a word about the case) why not."""
    now = request.app[CLOCK]()
    token = request.match_info["token"]
    async with UnitOfWork(request.app[DATABASE], write=False) as uow:
        found = await upload_links.resolve(uow.session, token, now)
        case = None
        if not isinstance(found, upload_links.LinkProblem):
            case = await uow.session.get(Case, found.case_id)
    if case is not None and accepts_uploads(case):
        return case
    problem = found if isinstance(found, upload_links.LinkProblem) else (
        upload_links.LinkProblem.REVOKED)
    wait = await request.app[LIMITER].failed(request_address(request), now)
    if wait is not None:
        return _refuse(request, 429, "slow_down", page, {"Retry-After": str(wait)})
    status = 404 if problem is upload_links.LinkProblem.UNKNOWN else 410
    return _refuse(request, status, problem.value, page, {})


def _refuse(request: web.Request, status: int, code: str, page: bool,
            headers: dict[str, str]) -> web.Response:
    lang = _visitor_language(request)
    if not page:
        return _json_error(request, status, code, lang, **headers)
    html = render_page(
        request.app[JINJA], request.app[CATALOGS], "upload_error.html", lang,
        static_url="/static", message=_error_text(request, code, lang), status=status,
    )
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Cache-Control": "no-store", **headers})


def tus_number(value: str | None) -> int | None:
    """Upload-Length / Upload-Offset: plain ASCII digits (tus 1.0 says a non-negative
    integer; Python's int() would also take "+1", "1_0", " 1" and Arabic-Indic digits),
    at most what a database integer holds."""
    if value is None or not TUS_NUMBER.match(value):
        return None
    number = int(value)
    return number if number <= MAX_TUS_NUMBER else None


def _check_tus(request: web.Request, lang: str) -> web.Response | None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _json_error(request, 412, "version", lang, **{"Tus-Version": TUS_VERSION})
    return None


def _refused(request: web.Request, refused: UploadRefused, lang: str) -> web.Response:
    return _json_error(request, refused.status, refused.code, lang)


# ---------------------------------------------------------------- the page


@routes.get("/upload/{token}")
async def upload_page(request: web.Request) -> web.Response:
    """The upload page, in the case's language; right to left for Arabic."""
    case = await _open_case(request, page=True)
    if isinstance(case, web.Response):
        return case
    service = request.app[UPLOADS]
    lang = request.app[CATALOGS].resolve(case.language)
    status = await service.status(case.id, lang)
    base = f"/upload/{request.match_info['token']}"
    html = render_page(
        request.app[JINJA], request.app[CATALOGS], "upload.html", lang,
        static_url="/static", status=status,
        config={"base": base, "chunk": CHUNK_BYTES, "max_file": service.limits.file_bytes,
                "batch": {"files": BATCH_FILES, "bytes": BATCH_BYTES,
                          "file_bytes": BATCH_FILE_BYTES},
                "lang": lang, "max_file_text": request.app[RENDERER].text(
                    size_text(service.limits.file_bytes), lang)},
    )
    return web.Response(text=html, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


@routes.get("/upload/{token}/status")
async def upload_status(request: web.Request) -> web.Response:
    """Checklist, studies and documents as the page shows them."""
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    lang = request.app[CATALOGS].resolve(case.language)
    status = await request.app[UPLOADS].status(case.id, lang)
    return web.json_response(status, headers={"Cache-Control": "no-store"})


@routes.post("/upload/{token}/done")
async def upload_done(request: web.Request) -> web.Response:
    """The page finished a selection of files: tell the family in the chat, once."""
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    notified = await request.app[UPLOADS].finish_batch(case.id)
    return web.json_response({"notified": notified})


@routes.post("/upload/{token}/documents/{document_id:\\d{1,18}}/item")
async def set_document_item(request: web.Request) -> web.Response:
    """The family says which checklist item a document is."""
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    lang = request.app[CATALOGS].resolve(case.language)
    try:
        body = await read_json(request, limit=4096,
                               timeout=request.app[SETTINGS].body_read_timeout)
        item = body["item"] if isinstance(body, dict) else ""
    except BodyError as refused:
        code = "too_slow" if refused.status == 408 else "bad_request"
        return _json_error(request, refused.status, code, lang)
    except KeyError:
        return _json_error(request, 400, "bad_request", lang)
    if not isinstance(item, str):
        return _json_error(request, 400, "bad_request", lang)
    try:
        complete = await request.app[UPLOADS].set_item(
            case.id, int(request.match_info["document_id"]), item)
    except UploadRefused as refused:
        return _refused(request, refused, lang)
    return web.json_response({"ok": True, "complete": complete})


# ---------------------------------------------------------------- tus


def _capabilities(request: web.Request) -> web.Response:
    limits: Limits = request.app[UPLOADS].limits
    return web.Response(status=204, headers=_tus_headers(**{
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": str(limits.file_bytes)}))


@routes.options("/upload/{token}/files")
async def tus_options(request: web.Request) -> web.Response:
    """What this server supports (no token lookup: nothing about a case is said)."""
    return _capabilities(request)


@routes.options("/upload/{token}/files/{upload_id}")
async def tus_options_file(request: web.Request) -> web.Response:
    """Same capabilities on an upload's URL."""
    return _capabilities(request)


@routes.post("/upload/{token}/files")
async def tus_create(request: web.Request) -> web.Response:
    """tus creation: Upload-Length and Upload-Metadata in, 201 and the upload's URL out."""
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    lang = request.app[CATALOGS].resolve(case.language)
    if (bad := _check_tus(request, lang)) is not None:
        return bad
    length = tus_number(request.headers.get("Upload-Length"))
    try:
        meta = parse_metadata(request.headers.get("Upload-Metadata"))
    except ValueError:
        return _json_error(request, 400, "bad_request", lang)
    if length is None or "Upload-Defer-Length" in request.headers:
        return _json_error(request, 400, "bad_request", lang)
    try:
        row = await request.app[UPLOADS].create(case.id, length, meta)
    except UploadRefused as refused:
        return _refused(request, refused, lang)
    location = f"/upload/{request.match_info['token']}/files/{row.id}"
    return web.Response(status=201, headers=_tus_headers(Location=location,
                                                         **{"Upload-Offset": "0"}))


async def _upload_case(request: web.Request) -> tuple[Case, str] | web.Response:
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    lang = request.app[CATALOGS].resolve(case.language)
    if (bad := _check_tus(request, lang)) is not None:
        return bad
    if not UPLOAD_ID.match(request.match_info["upload_id"]):
        # Ids are ours (32 hex digits): anything else is unknown, and a NUL in it would
        # reach PostgreSQL, which refuses it.
        return _json_error(request, 404, "not_found", lang)
    return case, lang


@routes.route("HEAD", "/upload/{token}/files/{upload_id}")
async def tus_head(request: web.Request) -> web.Response:
    """Where an upload stands: the committed offset to resume from."""
    opened = await _upload_case(request)
    if isinstance(opened, web.Response):
        return opened
    case, lang = opened
    service: UploadService = request.app[UPLOADS]
    try:
        row = await service.get(case.id, request.match_info["upload_id"])
        row = await service.resume_if_stalled(row)
    except UploadRefused as refused:
        return web.Response(status=refused.status, headers=_tus_headers())
    return web.Response(status=200, headers=_tus_headers(**{
        "Upload-Offset": str(row.offset), "Upload-Length": str(row.length)}))


@routes.patch("/upload/{token}/files/{upload_id}")
async def tus_patch(request: web.Request) -> web.Response:
    """Append the body at Upload-Offset, streamed and encrypted; 204 and the new offset."""
    opened = await _upload_case(request)
    if isinstance(opened, web.Response):
        return opened
    case, lang = opened
    if request.content_type != OFFSET_TYPE:
        return _json_error(request, 415, "unsupported_media", lang)
    offset = tus_number(request.headers.get("Upload-Offset"))
    if offset is None:
        return _json_error(request, 400, "bad_request", lang)
    service: UploadService = request.app[UPLOADS]
    timeout = request.app[SETTINGS].body_read_timeout
    try:
        row = await service.append(case.id, request.match_info["upload_id"], offset,
                                   chunks(request.content, READ_CHUNK, timeout),
                                   request.content_length)
    except UploadRefused as refused:
        return _refused(request, refused, lang)
    except BodyError:
        # Stalled or trickling: nothing of this piece was kept; the client resumes from HEAD.
        return _json_error(request, 408, "too_slow", lang, Connection="close")
    except (OSError, ClientPayloadError, asyncio.IncompleteReadError):
        # The connection broke mid-body: nothing of this piece was kept; the client asks
        # HEAD for the offset and sends the rest again.
        return web.Response(status=400, headers=_tus_headers())
    return web.Response(status=204, headers=_tus_headers(**{"Upload-Offset": str(row.offset)}))


@routes.delete("/upload/{token}/files/{upload_id}")
async def tus_delete(request: web.Request) -> web.Response:
    """tus termination: the family cancelled a file before it finished."""
    opened = await _upload_case(request)
    if isinstance(opened, web.Response):
        return opened
    case, lang = opened
    try:
        await request.app[UPLOADS].cancel(case.id, request.match_info["upload_id"])
    except UploadRefused as refused:
        return _refused(request, refused, lang)
    return web.Response(status=204, headers=_tus_headers())


# ---------------------------------------------------------------- batches of small files

META_BYTES = 2048
META_KEYS = frozenset({"filename", "relativePath", "filetype", "item", "batch"})


async def _meta_part(part: BodyPartReader, timeout: float) -> tuple[dict[str, str], int]:
    """A batch's `meta` part: JSON with the tus metadata keys and the file's `size`."""
    raw = bytearray()
    async for chunk in paced(functools.partial(part.read_chunk, META_BYTES), timeout):
        raw += chunk
        if len(raw) > META_BYTES:
            raise UploadRefused(400, "bad_request")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise UploadRefused(400, "bad_request") from None
    size = data.get("size") if isinstance(data, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TUS_NUMBER:
        raise UploadRefused(400, "bad_request")
    values = {k: v for k, v in data.items() if k in META_KEYS}
    if not all(isinstance(v, str) and not has_unstorable(v) for v in values.values()):
        raise UploadRefused(400, "bad_request")
    return values, size


async def batch_files(request: web.Request, timeout: float) -> AsyncIterator[BatchFile]:
    """The files of a batch request, streamed: `meta` then `file`, per file, in order.

    Whatever of a part its consumer left unread (a refused file) is read past, at the same
    minimum pace; more than `BATCH_FILES` files refuse the whole request (413).
    """
    reader = await request.multipart()
    count = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name != "meta":
            raise UploadRefused(400, "bad_request")
        values, size = await _meta_part(part, timeout)
        body = await reader.next()
        if not isinstance(body, BodyPartReader) or body.name != "file":
            raise UploadRefused(400, "bad_request")
        count += 1
        if count > BATCH_FILES:
            raise UploadRefused(413, "batch_too_large")
        read = functools.partial(body.read_chunk, READ_CHUNK)
        yield BatchFile(file_meta(values), size, paced(read, timeout))
        async for _ in paced(read, timeout):
            pass


@routes.post("/upload/{token}/batch")
async def upload_batch(request: web.Request) -> web.Response:
    """Many small files in one streamed multipart request; per file, kept or why not."""
    case = await _open_case(request)
    if isinstance(case, web.Response):
        return case
    lang = request.app[CATALOGS].resolve(case.language)
    if request.content_type != "multipart/form-data":
        return _json_error(request, 415, "unsupported_media", lang)
    length = request.content_length
    if length is None:
        return _json_error(request, 411, "bad_request", lang)
    if length > BATCH_BODY_BYTES:
        return _json_error(request, 413, "batch_too_large", lang, Connection="close")
    timeout = request.app[SETTINGS].body_read_timeout
    receiver = BatchReceiver(request.app[UPLOADS])
    try:
        codes = await receiver.receive(case.id, batch_files(request, timeout), length)
    except UploadRefused as refused:
        return _json_error(request, refused.status, refused.code, lang, Connection="close")
    except BodyError:
        return _json_error(request, 408, "too_slow", lang, Connection="close")
    except (OSError, ClientPayloadError, asyncio.IncompleteReadError, ValueError):
        # Cut off or malformed: nothing of this batch was kept; the page sends it again.
        return _json_error(request, 400, "bad_request", lang, Connection="close")
    files = [{"ok": True} if code is None else
             {"ok": False, "code": code, "error": _error_text(request, code, lang)}
             for code in codes]
    return web.json_response({"files": files}, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------- wiring


async def uploads_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the encrypted file store and the upload service (after the database)."""
    settings = app[SETTINGS]
    store = make_file_store(settings)
    await store.remove_stale_partials()
    renderer = app[RENDERER]

    def wake() -> None:
        if DISPATCHER in app:
            app[DISPATCHER].wake()

    app[FILES] = store
    app[LIMITER] = BadTokenLimiter(Throttle(app[DATABASE]))
    app[UPLOADS] = UploadService(
        app[DATABASE], store, renderer,
        ReplyWriter(renderer, app[CHANNELS], store.sealer()), app[CLOCK],
        limits=Limits.from_settings(settings), on_committed=wake,
        quote_required=settings.quote_required,
    )
    yield


def setup(app: web.Application) -> None:
    """Register the upload routes and, after the database's, the store's cleanup context."""
    app.router.add_routes(routes)
    app.cleanup_ctx.append(uploads_ctx)
