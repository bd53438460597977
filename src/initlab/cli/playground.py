"""``initlab playground``: serve the interactive page on 127.0.0.1 and open it."""

from __future__ import annotations

import argparse
import socket
import sys
import threading
import webbrowser

from initlab._validation import InitlabError, check_number

MISSING = (
    "the playground needs Starlette and uvicorn (dependencies of initlab, missing here: {name}); "
    "install them with: pip install starlette uvicorn"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "playground",
        help="an interactive page: per-layer histograms, live training, the phase diagram",
        description="Serve the playground on 127.0.0.1 (a free port unless --port), print its "
        "URL and open it in the browser. Everything is computed by initlab on this machine; "
        "the page needs no network. Stop with Ctrl-C.",
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the URL, open nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    port = int(check_number("--port", args.port, low=0, high=65535, integer=True))
    try:
        import uvicorn

        from initlab.playground.server import create_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn", "anyio"):
            raise
        raise InitlabError(MISSING.format(name=exc.name)) from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(128)  # connections wait in the backlog until uvicorn serves them
    except OSError as exc:
        sock.close()
        raise InitlabError(f"--port {port}: cannot listen on 127.0.0.1:{port} ({exc.strerror})"
                           ) from None  # fmt: skip
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    print(f"initlab playground: {url}  (Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(create_app(), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    if not args.no_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    print("initlab playground: stopped", file=sys.stderr)
    return 0
