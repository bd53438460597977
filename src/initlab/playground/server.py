"""The playground's Starlette application: the page, its static files and a JSON/SSE API.

Endpoints (every parameter is a view's query string, :mod:`initlab.playground.settings`):

- ``GET /`` the page; ``GET /static/...`` its script, style and the vendored uPlot;
- ``GET /api/meta`` initializers, activations, inputs present here, defaults, caps;
- ``GET /api/explore`` the explorer's histograms, fractions and predictions (JSON);
- ``GET /api/train`` a training, streamed as server-sent events until ``done``;
  closing the connection cancels it;
- ``GET /api/phase?activation=`` the phase diagram; ``GET /api/point`` one point of it;
- ``GET /api/spec`` the view's spec as TOML (for ``initlab run``);
- ``GET /api/data.npz`` a generated input's examples, the file that spec names.

A request whose Host header is not a loopback name is refused (403): a page elsewhere
cannot reach the server through DNS rebinding. Bad parameters get status 400 and
``{"error": one line}``; an unexpected failure gets 500 and the same shape, and the
server keeps serving. Computations run in worker threads (at most :data:`COMPUTE_THREADS`
at once, :data:`TRAININGS` trainings), so several tabs can use one server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from initlab._validation import InitlabError
from initlab.init import catalogue as _catalogue
from initlab.nn import activations as _activations
from initlab.playground import compute, datasets, live, settings
from initlab.playground import spec as _spec

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
COMPUTE_THREADS = 2
TRAININGS = 3


class LocalOnly:
    """ASGI middleware: 403 for a request whose Host is not a loopback name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_local(_host(scope)):
            refused = "refused: the playground only answers requests addressed to 127.0.0.1"
            response = JSONResponse({"error": refused + " or localhost"}, status_code=403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _host(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"host":
            return value.decode("latin-1")
    return ""


def is_local(host: str) -> bool:
    """Whether a Host header names this machine's loopback (any port)."""
    if host.startswith("["):  # [::1]:port
        name = host[1 : host.find("]")] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name.lower() in LOCAL_HOSTS


def clean(x: Any) -> Any:
    """`x` with every NaN or infinite float replaced by None (strict JSON)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    return x


def _error(exc: BaseException, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status)


def create_app() -> Starlette:
    """The application; its state (thread limits, training slots) is its own."""
    routes = [
        Route("/", _index),
        Route("/api/meta", _meta_json),
        Route("/api/explore", _explore),
        Route("/api/train", _train),
        Route("/api/phase", _phase),
        Route("/api/point", _point),
        Route("/api/spec", _spec_toml),
        Route("/api/data.npz", _data_file),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.limiter = anyio.CapacityLimiter(COMPUTE_THREADS)
    app.state.trainings = threading.BoundedSemaphore(TRAININGS) if TRAININGS else None
    app.add_middleware(LocalOnly)
    return app


async def _run(request: Request, fn: Callable[[], Any]) -> JSONResponse:
    """``fn()`` in a worker thread, as JSON; its InitlabError as a 400, anything else a 500."""
    try:
        out = await anyio.to_thread.run_sync(fn, limiter=request.app.state.limiter)
    except InitlabError as exc:
        return _error(exc)
    except Exception as exc:  # one failure must not stop the server
        log.exception("playground request failed")
        return _error(RuntimeError(f"internal error: {type(exc).__name__}: {exc}"), 500)
    return JSONResponse(clean(out))


def _view(request: Request, name: str) -> settings.Settings:
    return settings.parse({**request.query_params, "view": name})


async def _index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def _meta_json(request: Request) -> Response:
    return await _run(request, _meta)


async def _explore(request: Request) -> Response:
    return await _run(request, lambda: compute.explore(_view(request, "explorer")))


async def _phase(request: Request) -> Response:
    return await _run(request, lambda: compute.phase(_view(request, "theory")["activation"]))


async def _point(request: Request) -> Response:
    def go() -> dict[str, Any]:
        s = _view(request, "theory")
        return compute.point(s["activation"], s["sw2"], s["sb2"])

    return await _run(request, go)


async def _train(request: Request) -> Response:
    """Validate (400) and take a training slot (503 when every slot is busy), then stream."""
    state = request.app.state
    try:
        prepare = lambda: live.prepare(_view(request, "training"))  # noqa: E731
        job = await anyio.to_thread.run_sync(prepare, limiter=state.limiter)
    except InitlabError as exc:
        return _error(exc)
    if state.trainings is None or not state.trainings.acquire(blocking=False):
        busy = f"the server is already training {TRAININGS} populations; cancel one or wait"
        return _error(RuntimeError(busy), 503)
    return _Training(job, state.trainings)


async def _spec_toml(request: Request) -> Response:
    try:
        text = _spec.toml(settings.parse(dict(request.query_params)), str(request.base_url))
    except InitlabError as exc:
        return _error(exc)
    return Response(text, media_type="text/plain; charset=utf-8")


async def _data_file(request: Request) -> Response:
    def go() -> tuple[str, bytes]:  # up to 16 MB drawn and written: not on the event loop
        s = settings.parse(dict(request.query_params))
        name, generated = datasets.source(s)
        if not generated:
            raise InitlabError(f"input: {name!r} is a named data set, not a generated one; "
                               "initlab run loads it by its name")  # fmt: skip
        return name, datasets.npz_bytes(datasets.load(s))

    try:
        name, body = await anyio.to_thread.run_sync(go, limiter=request.app.state.limiter)
    except InitlabError as exc:
        return _error(exc)
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _meta() -> dict[str, Any]:
    return {
        "inits": [
            {"name": s.name, "distribution": s.distribution, "formula": s.formula}
            for s in _catalogue.catalogue()
        ],
        "activations": list(_activations.HIDDEN),
        "inputs": ["gaussian", *datasets.available(), *settings.TOYS],
        "views": settings.VIEWS,
        "caps": settings.CAPS,
        "post_inits": settings.POST_INITS,
    }


class _Training(StreamingResponse):
    """Server-sent events of one training, holding one of the server's training slots: the
    training thread gives it back when it ends, this response when the thread never started
    (the client left before the stream's first byte, so the generator never ran)."""

    def __init__(self, job: live.Prepared, slots: threading.BoundedSemaphore) -> None:
        self.slots, self.started = slots, False
        super().__init__(_events(job, slots, self), media_type="text/event-stream",
                         headers={"Cache-Control": "no-store"})  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self.started:
                self.slots.release()


async def _events(job: live.Prepared, slots: threading.BoundedSemaphore, owner: _Training):
    """Server-sent events of `job`, trained in a thread; the connection's end cancels it."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()
    cancel = threading.Event()

    def emit(event: dict[str, Any] | None) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody is listening
            cancel.set()

    def work() -> None:
        try:
            live.train(job, emit, cancel.is_set)
        except InitlabError as exc:
            emit({"type": "error", "error": str(exc)})
        except Exception as exc:
            log.exception("playground training failed")
            emit({"type": "error", "error": f"internal error: {type(exc).__name__}: {exc}"})
        finally:
            slots.release()
            emit(None)

    owner.started = True  # from here the thread releases the slot
    threading.Thread(target=work, name="initlab-playground-train", daemon=True).start()
    try:
        while (event := await queue.get()) is not None:
            yield f"event: {event['type']}\ndata: {json.dumps(clean(event))}\n\n"
    finally:
        cancel.set()
