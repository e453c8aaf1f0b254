"""The wire side of the OpenAI-compatible adapter (model_adapters/openai_api.py): request bodies with media encoded
inline, one HTTP POST over a kept-alive connection per thread, and what each answer means for a retry.

Standard library only (http.client, threads): no client package to install, and a plain socket timeout per read.
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import io
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness import Message, Part, Request, Retry

IMAGE_QUALITY = 90  # JPEG quality of images and video frames sent inline


# ----------------------------------------------------------------------------------------------- media

def wav_base64(audio: Any, rate: int) -> str:
    """Decoded float audio (n,) as a 16-bit PCM wav file, base64: what `input_audio` takes."""
    import numpy as np
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0), rate, format="WAV", subtype="PCM_16")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def jpeg_data_uri(image: Any) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=IMAGE_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _decoded(part: Part, rate: int, frames: int) -> Any:
    """The prefetch pool's decoded media; a caller that passes bare references (a judge) gets them decoded here."""
    if part.data is not None:
        return part.data
    from harness import decode

    assert part.media is not None
    return decode(part.media, audio_rate=rate, video_frames=frames)


def content_part(part: Part, rate: int, frames: int) -> list[dict[str, Any]]:
    if part.type == "text" or part.media is None:
        return [{"type": "text", "text": part.text or ""}]
    data = _decoded(part, rate, frames)
    if part.type == "audio":
        return [{"type": "input_audio", "input_audio": {"data": wav_base64(data, rate), "format": "wav"}}]
    if part.type == "image":
        return [{"type": "image_url", "image_url": {"url": jpeg_data_uri(data)}}]
    return [{"type": "image_url", "image_url": {"url": jpeg_data_uri(frame)}} for frame in data]  # video: frames


def chat_messages(messages: list[Message], rate: int, frames: int) -> list[dict[str, Any]]:
    """Chat messages as the API takes them: plain text content where a message has no media (what every
    compatible server reads), a list of parts where it has; assistant turns are text."""
    out = []
    for m in messages:
        if m.role == "assistant" or all(p.media is None for p in m.parts):
            out.append({"role": m.role, "content": m.text})
        else:
            out.append({"role": m.role, "content": [c for p in m.parts for c in content_part(p, rate, frames)]})
    return out


def plain_prompt(request: Request) -> str:
    """The rank-mode prompt for a completions endpoint (no chat template there): system and user text one per line,
    earlier assistant turns as "Answer: ...", ending in "Answer:", as the demo cascade renders it."""
    lines: list[str] = []
    for m in request.messages:
        if m.role == "assistant":
            lines.append(f"Answer: {m.text.strip()}")
        else:
            lines.extend(p.text for p in m.parts if p.type == "text" and p.text)
    lines.append("Answer:")
    return "\n".join(lines)


def continuation(choice: str) -> str:
    return " " + choice.strip()


# ----------------------------------------------------------------------------------------------- HTTP

@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Transport:
    """POSTs JSON to `base_url` + path: one kept-alive connection per thread, reopened after any failure."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float):
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
        self.scheme, self.host, self.port = url.scheme, url.hostname, url.port
        self.prefix = url.path.rstrip("/")
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "User-Agent": "harness", **headers}
        self.timeout_s = timeout_s
        self.local = threading.local()
        self.context = ssl.create_default_context() if self.scheme == "https" else None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            return conn, True
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # no Nagle stall on a body sent apart
        self.local.conn = conn
        return conn, False

    def close(self) -> None:
        conn = getattr(self.local, "conn", None)
        self.local.conn = None
        if conn is not None:
            conn.close()

    def post(self, path: str, body: bytes) -> Reply:
        """One POST. A kept-alive connection the server had closed meanwhile is reopened once for free; any other
        failure closes the connection and is raised."""
        for fresh_try in (False, True):
            conn, reused = self._connection()
            try:
                conn.request("POST", self.prefix + path, body=body, headers=self.headers)
                resp = conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if reused and not fresh_try:
                    continue
                raise e
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")


def retry_after(headers: dict[str, str]) -> float | None:
    """Seconds from `retry-after-ms`, or `retry-after` (seconds or an HTTP date)."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return None if when is None else max(0.0, when.timestamp() - time.time())


def server_message(body: bytes, limit: int = 300) -> str:
    """The error message in an error body ({"error": {"message": ...}} or text), on one short line."""
    try:
        doc = json.loads(body)
        err = doc.get("error", doc) if isinstance(doc, dict) else doc
        text = err.get("message", json.dumps(err)) if isinstance(err, dict) else str(err)
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace")
    text = " ".join(str(text).split())
    return text[:limit] + ("..." if len(text) > limit else "")


RETRIED_STATUS = {408, 409, 425, 429} | set(range(500, 600)) - {501, 505}


def send(transport: Transport, path: str, body: bytes) -> Reply:
    """A POST whose transport failures are Retry: a timeout is an overload, a dropped or cut-off answer is not."""
    try:
        reply = transport.post(path, body)
    except TimeoutError:  # socket.timeout is TimeoutError
        raise Retry(f"no answer within {transport.timeout_s:g} s") from None
    except http.client.IncompleteRead as e:
        raise Retry(f"the answer was cut off after {len(e.partial)} bytes", overload=False) from None
    except (ConnectionError, http.client.HTTPException, OSError) as e:
        raise Retry(f"connection failed: {type(e).__name__}: {e}".rstrip(": "), overload=False) from None
    if reply.status in RETRIED_STATUS:
        raise Retry(f"HTTP {reply.status}: {server_message(reply.body)}", retry_after=retry_after(reply.headers))
    return reply


def parse_json(reply: Reply) -> dict[str, Any]:
    try:
        doc = json.loads(reply.body)
    except (ValueError, UnicodeDecodeError):
        raise Retry(f"malformed JSON in the answer ({len(reply.body)} bytes)", overload=False) from None
    if not isinstance(doc, dict):
        raise Retry("the answer is JSON but not an object", overload=False)
    return doc
