"""A delaying TCP relay: distance between hosts where the kernel has no netem qdisc.

Listens on ``(listen_host, port)`` and forwards each connection to ``upstream``; bytes from the
client are held ``delay_s`` before they are passed on (in order), bytes back are passed at once,
so every request/response exchange takes ``delay_s`` longer, like a link with that much more
round-trip time. With ``tls`` (a server-side ssl.SSLContext) it terminates TLS, as an HTTPS
load balancer in front of a platform would. Threads, bounded: :meth:`close` stops accepting and
closes every connection.

    with DelayRelay(("10.213.37.1", 0), ("10.213.37.2", 8000), delay_s=0.020) as relay:
        relay.url   # "http://10.213.37.1:PORT"
"""

from __future__ import annotations

import heapq
import socket
import threading
import time

CHUNK = 65536


class DelayRelay:
    def __init__(self, listen: tuple[str, int], upstream: tuple[str, int], delay_s: float, tls=None) -> None:
        self.upstream, self.delay_s, self.tls = upstream, delay_s, tls
        self._server = socket.create_server(listen, reuse_port=False)
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, name="relay-accept", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def __enter__(self) -> DelayRelay:
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.close()
                except OSError:
                    pass
        self._thread.join(timeout=2)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        if self.tls is not None:
            try:
                client.settimeout(5)
                client = self.tls.wrap_socket(client, server_side=True)
            except (OSError, ValueError):  # a client that refused our certificate
                client.close()
                return
        try:
            upstream = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, upstream):
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets += [client, upstream]
            self.connections += 1
        if self.tls is not None:  # one thread per TLS connection: an SSL object is not shared between threads
            _tls_loop(client, upstream, self._closed)
            return
        _Delayed(client, upstream, self.delay_s, self._closed).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def _tls_loop(client, upstream: socket.socket, closed: threading.Event) -> None:
    """Both directions of a TLS connection in this thread, without delay."""
    import select
    try:
        while not closed.is_set():
            ready = [client] if client.pending() else select.select([client, upstream], [], [], 0.5)[0]
            for sock in ready:
                data = sock.recv(CHUNK)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        pass
    finally:
        for sock in (client, upstream):
            try:
                sock.close()
            except OSError:
                pass


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Delayed:
    """client -> upstream with a fixed delay: a reader queues (due time, bytes), a writer sends
    each chunk when it is due (order kept: due times only grow)."""

    def __init__(self, source: socket.socket, sink: socket.socket, delay_s: float, closed: threading.Event) -> None:
        self.source, self.sink, self.delay_s, self.closed = source, sink, delay_s, closed
        self.queue: list[tuple[float, int, bytes]] = []
        self.cond = threading.Condition()
        self.eof = False
        self.seq = 0

    def start(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._write, daemon=True).start()

    def _read(self) -> None:
        try:
            while data := self.source.recv(CHUNK):
                with self.cond:
                    self.seq += 1
                    heapq.heappush(self.queue, (time.monotonic() + self.delay_s, self.seq, data))
                    self.cond.notify()
        except OSError:
            pass
        with self.cond:
            self.eof = True
            self.cond.notify()

    def _write(self) -> None:
        try:
            while not self.closed.is_set():
                with self.cond:
                    while not self.queue and not self.eof:
                        self.cond.wait(0.5)
                    if not self.queue and self.eof:
                        break
                    due, _, data = self.queue[0]
                    wait_s = due - time.monotonic()
                    if wait_s > 0:
                        self.cond.wait(wait_s)
                        continue
                    heapq.heappop(self.queue)
                self.sink.sendall(data)
        except OSError:
            pass
        finally:
            try:
                self.sink.shutdown(socket.SHUT_WR)
            except OSError:
                pass
