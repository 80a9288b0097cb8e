"""A null sink on 127.0.0.1: reads every HTTP request body, discards it, answers 204.

What the generator's self-benchmark pushes to, so the figure is the generator's alone. Run in
its own process (``python -m obsgate.load.sink [STATUS]``, which prints its port and stops
when its stdin closes); one thread per connection, keep-alive, bodies read with
``recv_into`` into one reused buffer. With a STATUS other than 204 it answers that, with a
body like nginx's (the load generator's bad-input tests use 401).
"""

from __future__ import annotations

import socket
import sys
import threading

NO_CONTENT = b"HTTP/1.1 204 No Content\r\nServer: obsgate-null-sink\r\n\r\n"


def answer(status: int) -> bytes:
    """The bytes sent for every request: 204, or ``status`` with an nginx-style page."""
    if status == 204:
        return NO_CONTENT
    body = f"<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>" \
           f"\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n".encode()
    return (f"HTTP/1.1 {status} Refused\r\nServer: nginx\r\nContent-Type: text/html\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
_BUFFER = 1 << 20
MAX_HEADER = 64 * 1024


def _serve(conn: socket.socket, reply: bytes) -> None:
    buffer = bytearray(_BUFFER)
    view = memoryview(buffer)
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                chunk = conn.recv(65536)
                if not chunk or len(pending) > MAX_HEADER:
                    return
                pending += chunk
            head, _, pending = pending.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            length -= len(pending)
            pending = b"" if length >= 0 else pending[length:]
            while length > 0:
                got = conn.recv_into(view, min(length, _BUFFER))
                if not got:
                    return
                length -= got
            conn.sendall(reply)


def serve(server: socket.socket, stop: threading.Event, status: int = 204) -> None:
    """Accept connections until ``stop`` is set (the server socket has a timeout so it notices)."""
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        threading.Thread(target=_serve, args=(conn, answer(status)), daemon=True).start()


def listen() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    return server


def main(argv: list[str]) -> int:
    status = int(argv[0]) if argv else 204
    server = listen()
    print(server.getsockname()[1], flush=True)
    stop = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    serve(server, stop, status)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
