"""A plain WSGI test app for edge policies: says hello, and echoes one WebSocket message.

The WebSocket handshake is done on gunicorn's own client socket (a sync worker
has no WebSocket support of its own): enough to see an upgrade pass through nginx.
"""

import base64
import hashlib
import os
import socket
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def app(environ, start_response):  # type: ignore[no-untyped-def]
    if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
        return _echo_once(environ, start_response)
    body = f"{os.environ.get('HOSTD_SITE')} at {environ['PATH_INFO']}\n".encode()
    if environ["PATH_INFO"] == "/secret":  # proves the app got it, without showing it
        token = os.environ.get("API_TOKEN", "").encode()
        body = f"{hashlib.sha256(token).hexdigest()} {len(token)}\n".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _echo_once(environ, start_response):  # type: ignore[no-untyped-def]
    sock: socket.socket = environ["gunicorn.socket"]
    key = environ["HTTP_SEC_WEBSOCKET_KEY"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    head = _read(sock, 2)
    length = head[1] & 0x7F
    if length == 126:
        length = struct.unpack("!H", _read(sock, 2))[0]
    mask = _read(sock, 4)
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(_read(sock, length)))
    reply = b"echo: " + payload
    sock.sendall(bytes([0x81, len(reply)]) + reply)
    sock.shutdown(socket.SHUT_RDWR)
    start_response("101 Switching Protocols", [])
    return []


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data
