"""A tiny local SMTP server for tests (stdlib only): accepts every message and keeps it."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class _State:
    messages: list[Received] = field(default_factory=list)


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        state: _State = self.server.state  # type: ignore[attr-defined]
        self.reply("220 localhost test SMTP")
        mail_from, rcpt = "", []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            command = raw.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 localhost")
            elif verb == "MAIL":
                mail_from, rcpt = command.split(":", 1)[1].strip(" <>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                rcpt.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                state.messages.append(Received(mail_from, rcpt, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")


class SmtpServer:
    """`with SmtpServer() as smtp:` — listens on 127.0.0.1:`smtp.port`."""

    def __init__(self) -> None:
        self.state = _State()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.state = self.state  # type: ignore[attr-defined]
        self.port = self._server.server_address[1]

    @property
    def messages(self) -> list[Received]:
        return self.state.messages

    def __enter__(self) -> SmtpServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
