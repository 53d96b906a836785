"""A TCP proxy that puts a network between the app and its database: every chunk is held for half the
round trip in each direction, so each round trip the app makes grows by `rtt_ms` (bench/single_site.py).

Threads, not asyncio: asyncio sleeps through epoll, whose timeout is whole milliseconds (asyncio.sleep of
0.5 ms took 1.14 ms here, time.sleep 0.56 ms). Each direction of each connection has a reader, which
stamps every chunk with the moment it may leave, and a sender, which waits for that moment: chunks
leave in the order they came, and chunks in flight together wait together (a delay per chunk, never
per byte or per queued chunk), as on a real link. A round trip grows by at least `rtt_ms`, and by a
little more for the threads' wake-ups (0.3 to 0.6 ms on two busy cores): bench/single_site.py measures
what it adds.

It also counts round trips as the network sees them: a flight of bytes from the client that follows
an answer from the server (or opens the connection). A pipelined batch of statements is one.
"""
import queue
import socket
import threading
import time


class LatencyProxy:
    """`with LatencyProxy(host, port, rtt_ms) as proxy:` connect to 127.0.0.1:`proxy.port` instead."""

    def __init__(self, target_host, target_port, rtt_ms):
        self.target = (target_host, target_port)
        self.one_way = rtt_ms / 2000  # seconds each direction
        self.round_trips = 0
        self._count_lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets = []

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_exc):
        self._listener.close()
        for sock in self._sockets:
            sock.close()

    def _accept(self):
        while True:
            try:
                client, _address = self._listener.accept()
            except OSError:  # closed by __exit__
                return
            try:
                server = socket.create_connection(self.target)
            except OSError:  # the database is down: the client sees its connection closed, as it would
                client.close()
                continue
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            last_sender = [None]  # which side sent the connection's latest chunk
            self._pipe(client, server, last_sender, "client")
            self._pipe(server, client, last_sender, "server")

    def _pipe(self, source, sink, last_sender, side):
        chunks = queue.SimpleQueue()
        threading.Thread(target=self._read, args=(source, chunks, last_sender, side), daemon=True).start()
        threading.Thread(target=self._send, args=(sink, chunks), daemon=True).start()

    def _read(self, source, chunks, last_sender, side):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            with self._count_lock:
                if data and side == "client" and last_sender[0] != "client":
                    self.round_trips += 1
                last_sender[0] = side
            chunks.put((time.monotonic() + self.one_way, data))
            if not data:
                return

    def _send(self, sink, chunks):
        while True:
            due, data = chunks.get()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:  # the other side closed: pass the close on, after the same delay
                    sink.shutdown(socket.SHUT_WR)
                    return
                sink.sendall(data)
            except OSError:
                return
