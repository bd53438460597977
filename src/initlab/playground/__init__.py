"""``initlab playground``: a local web page where initialization is seen at work, live.

The page (``static/``) draws what the server computes with initlab's own engine:
:mod:`initlab.playground.compute` (the explorer and theory views) and
:mod:`initlab.playground.live` (the training view, streamed); :mod:`initlab.playground.settings`
turns a view's query string into a validated spec, and :mod:`initlab.playground.server` is
the Starlette application (Starlette and uvicorn are imported only there and by the command).
"""
