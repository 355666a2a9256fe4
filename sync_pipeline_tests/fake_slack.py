"""A fake Slack Web API on loopback that records every `chat.postMessage` it receives.

The only faked part of the test suite: point `SLACK_API_BASE_URL` at `FakeSlack.base_url`.
`refuse_next` makes the next calls fail with HTTP 500, as Slack does when it is down.
`channel_html()` draws the received messages the way a Slack channel shows them (mrkdwn bold,
code and links), for the README tour's screenshot.
"""

from __future__ import annotations

import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self
from urllib.parse import parse_qs


class FakeSlack:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.authorizations: list[str] = []
        self.refuse_next = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/"

    def texts(self) -> list[str]:
        with self._lock:
            return [m["text"] for m in self.messages]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path != "/api/chat.postMessage":
                    return self._reply(404, {"ok": False, "error": "unknown_method"})
                with fake._lock:
                    if fake.refuse_next:
                        fake.refuse_next -= 1
                        return self._reply(500, {"ok": False, "error": "fatal_error"})
                    fake.messages.append(_parse(body, self.headers.get("Content-Type", "")))
                    fake.authorizations.append(self.headers.get("Authorization", ""))
                self._reply(200, {"ok": True, "channel": "C0FAKE", "ts": f"{len(fake.messages)}.0"})

            def _reply(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


# The emoji the alerts use, drawn as coloured marks (no emoji font is needed).
EMOJI = {
    ":red_circle:": '<span class="dot" style="background:#e01e5a"></span>',
    ":large_green_circle:": '<span class="dot" style="background:#2eb67d"></span>',
    ":x:": '<span class="cross">&#x2716;</span>',
}
CHANNEL_CSS = """
body { font: 15px/1.46 Lato, 'Liberation Sans', Arial, sans-serif; margin: 0; color: #1d1c1d; }
header { padding: 14px 20px; border-bottom: 1px solid #ddd; font-weight: 900; font-size: 18px; }
.msg { display: flex; gap: 10px; padding: 10px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4f43dd; color: #fff;
  font-weight: 900; display: flex; align-items: center; justify-content: center; flex: none; }
.who { font-weight: 900; } .app { font-size: 10px; background: #e8e8e8; color: #616061;
  padding: 1px 3px; border-radius: 2px; margin-left: 4px; vertical-align: 2px; }
.text { white-space: pre-wrap; } a { color: #1264a3; text-decoration: none; }
code { color: #e01e5a; background: #f6f6f6; border: 1px solid #ddd; border-radius: 3px;
  padding: 0 3px; font-size: 12px; }
.dot { display: inline-block; width: 14px; height: 14px; border-radius: 50%; vertical-align: -2px; }
.cross { color: #e01e5a; font-weight: 900; }
"""


def channel_html(channel: str, texts: list[str], bot_name: str = "Dagster alerts") -> str:
    """A page showing `texts` as consecutive messages of one bot in `channel`."""
    messages = "".join(
        f'<div class="msg"><div class="avatar">D</div><div><span class="who">{bot_name}</span>'
        f'<span class="app">APP</span><div class="text">{mrkdwn_html(t)}</div></div></div>'
        for t in texts
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{CHANNEL_CSS}</style></head>"
        f"<body><header>{html.escape(channel)}</header>{messages}</body></html>"
    )


def mrkdwn_html(text: str) -> str:
    """Slack's mrkdwn as HTML: `<url|label>` links, *bold*, `code` and the alerts' emoji."""
    out = html.escape(text, quote=False)
    out = re.sub(r"&lt;([^|&]+)\|([^&]+)&gt;", r'<a href="\1">\2</a>', out)
    out = re.sub(r"\*([^*\n]+)\*", r"<b>\1</b>", out)
    out = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", out)
    for name, mark in EMOJI.items():
        out = out.replace(name, mark)
    return out


def _parse(body: bytes, content_type: str) -> dict:
    if content_type.startswith("application/json"):
        return json.loads(body)
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}
