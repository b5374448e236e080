"""A small blocking D-Bus client with deadlines and pipelining, used to speak AT-SPI.

Why not jeepney's own blocking connection: it sends Hello without a timeout and answers one call at a
time. Here every wait (connecting, authenticating, each reply) is bounded by a deadline, so a hung bus
or application cannot stall the caller, and :meth:`DBusConnection.call_many` sends a whole batch of calls
before waiting, so a batch costs one round trip. Messages themselves are still built and parsed by jeepney.
"""

from __future__ import annotations

import select
import socket
import time

from jeepney import DBusAddress, Message, MessageType, Parser, new_method_call
from jeepney.auth import BEGIN, Authenticator
from jeepney.bus import get_connectable_addresses
from jeepney.low_level import HeaderFields

__all__ = ["CallError", "DBusConnection"]


class CallError(Exception):
    """A D-Bus error reply (unknown object, missing interface, ...)."""


class DBusConnection:
    """One authenticated D-Bus connection; every wait is bounded by a deadline.

    jeepney's own blocking connection sends Hello without a timeout and answers one call at a time;
    this one bounds everything and can send a batch of calls before waiting for their replies.
    """

    def __init__(self, address: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.settimeout(timeout)
            self._sock.connect(next(get_connectable_addresses(address)))
            auth = Authenticator()
            for chunk in auth:
                self._sock.settimeout(max(deadline - time.monotonic(), 0.001))
                self._sock.sendall(chunk)
                data = self._sock.recv(1024)
                if not data:
                    raise ConnectionResetError("bus closed the connection during authentication")
                auth.feed(data)
            self._sock.sendall(BEGIN)
            self._sock.setblocking(False)
        except socket.timeout as exc:
            self._sock.close()
            raise TimeoutError(f"D-Bus authentication took over {timeout} s") from exc
        except BaseException:
            self._sock.close()
            raise
        self._parser = Parser()
        self._serial = 0
        bus = DBusAddress("/org/freedesktop/DBus", "org.freedesktop.DBus", "org.freedesktop.DBus")
        self.unique_name = self.call(new_method_call(bus, "Hello"), deadline)[0]

    def call(self, message: Message, deadline: float) -> tuple:
        """Send one call and return its reply body; raises CallError or TimeoutError."""
        result = self.call_many([message], deadline)[0]
        if isinstance(result, CallError):
            raise result
        return result

    def call_many(self, messages: list[Message], deadline: float) -> list[tuple | CallError]:
        """Send all calls at once, then collect every reply (one round trip for the batch)."""
        serials: dict[int, int] = {}
        for index, message in enumerate(messages):
            self._serial += 1
            serials[self._serial] = index
            self._send(message.serialise(serial=self._serial))
        results: list[tuple | CallError | None] = [None] * len(messages)
        pending = len(messages)
        while pending:
            reply = self._receive(deadline)
            index = serials.pop(reply.header.fields.get(HeaderFields.reply_serial, -1), None)
            if index is None:
                continue  # a signal, or a late reply to a call that already timed out
            if reply.header.message_type == MessageType.error:
                name = reply.header.fields.get(HeaderFields.error_name, "error")
                results[index] = CallError(f"{name}: {reply.body[0] if reply.body else ''}")
            else:
                results[index] = reply.body
            pending -= 1
        return results  # type: ignore[return-value]

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                select.select([], [self._sock], [], 0.05)
                continue
            view = view[sent:]

    def _receive(self, deadline: float) -> Message:
        while True:
            message = self._parser.get_next_message()
            if message is not None:
                return message
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._sock], [], [], remaining)[0]:
                raise TimeoutError("no D-Bus reply before the deadline")
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionResetError("D-Bus connection closed")
            self._parser.add_data(data)

    def close(self) -> None:
        self._sock.close()
