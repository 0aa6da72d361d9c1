"""Whether ``serve`` can listen where it is asked to, checked before anything starts.

A port already in use would otherwise show up after the banner, the token and
the scheduler's start, as a uvicorn error with no hint of what to do.
"""

from __future__ import annotations

import errno
import socket


class PortUnavailable(OSError):
    """``serve`` cannot listen on the address it was given."""


def check_port_free(host: str, port: int) -> None:
    """``PortUnavailable`` (one line naming the port and ``--port``) when ``host:port``
    cannot be listened on; binds and closes a socket as the server will bind it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(f"Cannot listen on {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailable(
                    f"Port {port} on {host} is already in use: stop what listens there, or "
                    f"choose another port with --port (make run PORT=...)"
                ) from None
            raise PortUnavailable(f"Cannot listen on {host}:{port}: {exc.strerror}") from None
