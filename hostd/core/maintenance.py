"""Maintenance: the page nginx answers with 503 while a site is paused (`hostd pause`). Pure.

The message is the user's text: it is HTML-escaped and then written so that it
cannot end nginx's quoted string or name a variable.
"""

from __future__ import annotations

import html

RETRY_AFTER = 300  # seconds, the Retry-After of the 503
MAX_MESSAGE = 500
DEFAULT_MESSAGE = "This site is down for maintenance and will be back soon."


def maintenance_page(message: str) -> str:
    """The 503 page for `message`, safe inside an nginx double-quoted string."""
    text = html.escape(" ".join(message.split())[:MAX_MESSAGE] or DEFAULT_MESSAGE)
    text = text.replace("\\", "&#92;").replace("$", "&#36;")
    return (
        '<!doctype html><html><head><meta charset=\\"utf-8\\"><title>Maintenance</title>'
        f"</head><body><h1>Down for maintenance</h1><p>{text}</p></body></html>\\n"
    )
