"""One line of a site's access log, read purely.

nginx writes the `combined` format with two fields appended, `$request_time` and
`$upstream_response_time` (`ACCESS_LOG_FORMAT`): tools that read the combined format
(GoAccess, awstats, grep) still read it, and hostd's figures get their latency from it.
Lines in the plain combined format (written before the format changed) are read too,
without latency.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hostd.core.logline import line_time

ACCESS_LOG_NAME = "hostd_combined"
ACCESS_LOG_FORMAT = (
    '\'$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $upstream_response_time\''
)

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_LINE = re.compile(
    rf"^\S+ \S+ .*?\[[^\]]+\] {_QUOTED} (?P<status>\d{{3}}) (?P<bytes>\d+|-)"
    rf"(?: {_QUOTED} {_QUOTED}(?: (?P<request>[\d.]+|-) (?P<upstream>[-\d.,: ]+))?)?\s*$"
)
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Request:
    """What one access log line says about one request."""

    time: float  # when nginx logged it (epoch seconds)
    status: int
    bytes: int  # body bytes sent
    request_seconds: float | None = None  # $request_time
    upstream_seconds: float | None = None  # $upstream_response_time (summed over tries)


def upstream_seconds(text: str) -> float | None:
    """`0.012`, `0.010, 0.002` (several upstreams tried) or `-` (none asked) as seconds."""
    found = _SECONDS.findall(text)
    return sum(float(value) for value in found) if found else None


def parse_request(text: str) -> Request | None:
    """The request an access log line records, or None if it is not one."""
    match = _LINE.match(text)
    if match is None:
        return None
    when = line_time(text)
    if when is None:
        return None
    size = match["bytes"]
    request = match["request"]
    upstream = match["upstream"]
    return Request(
        time=when,
        status=int(match["status"]),
        bytes=0 if size == "-" else int(size),
        request_seconds=float(request) if request and request != "-" else None,
        upstream_seconds=upstream_seconds(upstream) if upstream else None,
    )
