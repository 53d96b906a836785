"""bench/latency_proxy.py against a tiny echo server: it adds at least the round trip it is given, passes bytes
through intact and in order, and counts round trips. Lower bounds only: an upper bound on time flakes on a
busy machine."""
import os
import socket
import threading
import time
from contextlib import contextmanager

from bench.latency_proxy import LatencyProxy


@contextmanager
def echo_server():
    """A loopback server that sends back whatever it receives, one connection at a time; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _address = listener.accept()
            except OSError:
                return
            with connection:
                while data := connection.recv(65536):
                    connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def receive(connection, size):
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        assert chunk, "the connection closed early"
        data += chunk
    return data


def round_trip_seconds(connection, message=b"ping"):
    started = time.perf_counter()
    connection.sendall(message)
    assert receive(connection, len(message)) == message
    return time.perf_counter() - started


def test_each_round_trip_takes_at_least_the_added_delay():
    rtt_ms = 20
    with echo_server() as port, LatencyProxy("127.0.0.1", port, rtt_ms) as proxy, \
            socket.create_connection(("127.0.0.1", proxy.port)) as connection:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = [round_trip_seconds(connection) for _ in range(5)]
    assert min(times) >= rtt_ms / 1000


def test_bytes_pass_intact_and_in_order():
    payload = os.urandom(1 << 20)
    messages = [f"message {n};".encode() for n in range(200)]
    with echo_server() as port, LatencyProxy("127.0.0.1", port, 2) as proxy, \
            socket.create_connection(("127.0.0.1", proxy.port)) as connection:
        sender = threading.Thread(target=connection.sendall, args=(payload,))
        sender.start()  # the echo answers while we still send: read alongside, or both sides' buffers fill
        assert receive(connection, len(payload)) == payload
        sender.join()
        for message in messages:  # many small writes in flight at once come back in the order sent
            connection.sendall(message)
        expected = b"".join(messages)
        assert receive(connection, len(expected)) == expected


def test_it_counts_round_trips_not_chunks():
    # 100 ms: the three writes below reach the proxy long before the first echo can come back.
    with echo_server() as port, LatencyProxy("127.0.0.1", port, 100) as proxy, \
            socket.create_connection(("127.0.0.1", proxy.port)) as connection:
        for _ in range(3):
            round_trip_seconds(connection)
        for part in (b"one ", b"flight ", b"pipelined"):  # sent before any answer: one round trip
            connection.sendall(part)
        receive(connection, len(b"one flight pipelined"))
    assert proxy.round_trips == 4
