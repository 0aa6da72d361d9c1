"""A TCP forwarder that holds every chunk for a fixed time in each direction.

    python benchmarks/netdelay.py --listen 10.213.7.1:15432 --target 127.0.0.1:5432 --one-way-ms 0.5

``benchmarks/network.py`` puts PostgreSQL "behind a network" with it. The usual
tool, ``tc qdisc ... netem delay``, needs the kernel's ``sch_netem``, which some
kernels (this machine's among them) are built without; a forwarder also reaches
a server that listens only on 127.0.0.1 without touching its configuration.

Each direction of each connection has a reader thread, which stamps what it
receives, and a writer thread, which sends it once ``--one-way-ms`` has passed
since the stamp (``time.sleep`` is precise to tens of microseconds, where an
event loop's timers round to whole milliseconds). Order is kept, bandwidth is
not limited: this models latency only, as netem's ``delay`` alone would.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import signal
import socket
import sys
import threading
import time

CHUNK = 65536


class Pipe:
    """Both directions of one forwarded connection; closes the sockets when both end."""

    def __init__(self, client: socket.socket, upstream: socket.socket, delay: float) -> None:
        self.sockets = (client, upstream)
        self.delay = delay
        self.open_directions = 2
        self.lock = threading.Lock()

    def start(self) -> None:
        client, upstream = self.sockets
        for source, sink in ((client, upstream), (upstream, client)):
            chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
            threading.Thread(target=self.read, args=(source, chunks), daemon=True).start()
            threading.Thread(target=self.write, args=(sink, chunks), daemon=True).start()

    def read(self, source: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        while True:
            try:
                data = source.recv(CHUNK)
            except OSError:
                data = b""
            chunks.put((time.monotonic(), data))
            if not data:
                return

    def write(self, sink: socket.socket, chunks: queue.SimpleQueue[tuple[float, bytes]]) -> None:
        try:
            while True:
                stamped, data = chunks.get()
                wait = stamped + self.delay - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
        except OSError:
            for sock in self.sockets:  # the far end is gone: end the other direction too
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        finally:
            self.direction_done()

    def direction_done(self) -> None:
        with self.lock:
            self.open_directions -= 1
            last = self.open_directions == 0
        if last:
            for sock in self.sockets:
                sock.close()


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def serve(listen: tuple[str, int], target: tuple[str, int], delay: float) -> None:
    server = socket.create_server(listen, backlog=256)
    print(f"forwarding {listen} -> {target}, {delay * 1000:g} ms each way", flush=True)
    while True:
        client, _ = server.accept()
        try:
            upstream = socket.create_connection(target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            client.close()
            continue
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Pipe(client, upstream, delay).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", type=address, required=True, metavar="HOST:PORT")
    parser.add_argument("--target", type=address, required=True, metavar="HOST:PORT")
    parser.add_argument("--one-way-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(args.listen, args.target, args.one_way_ms / 1000)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
