"""What the bot posts on Matrix, pure: notices, where a reply goes (a thread or the room), and
images with the size clients lay them out by."""

from __future__ import annotations

from typing import Any, Literal

from bot.transports.base import Incoming, Text

ThreadPolicy = Literal["when-threaded", "always", "never"]  # MatrixSettings.threads
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def notice_content(text: Text, answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``m.room.message`` content of a notice; ``answer`` (from :func:`answer_fields`)
    makes it a reply."""
    content: dict[str, Any] = {"msgtype": "m.notice", "body": text.plain}
    if text.html:
        content |= {"format": "org.matrix.custom.html", "formatted_body": text.html}
    return content | (answer or {})


def reply_thread(to: Incoming, threads: ThreadPolicy) -> str | None:
    """The root of the thread a reply to ``to`` goes in, or None: in the room.

    ``when-threaded`` keeps a conversation where it is: in the thread a command came in, else
    in the room, where a reply shows the command it answers above it.
    """
    if threads == "never":
        return None
    if threads == "always":
        return to.thread_id or to.event_id
    return to.thread_id


def whisper_thread(to: Incoming, threads: ThreadPolicy) -> str | None:
    """Where a whisper to ``to`` goes: in a direct chat like a reply (nobody else is there),
    elsewhere in a thread, out of the room's way: the command's own, or one under it."""
    if to.private:
        return reply_thread(to, threads)
    return to.thread_id or to.event_id


def answer_fields(to: Incoming | None, thread: str | None) -> dict[str, Any]:
    """The keys that make a message answer ``to`` ({} when there is nothing to answer).

    A reply in a thread says which message it answers too (``m.in_reply_to``): clients without
    threads show it as a reply, and a restarted bot sees which commands were answered.
    ``is_falling_back`` keeps thread views from quoting the command above every answer. The
    asker is mentioned (``m.mentions``), as Element does in a reply, so they are notified.
    """
    if to is None or to.event_id is None:
        return {}
    relation: dict[str, Any] = {"m.in_reply_to": {"event_id": to.event_id}}
    if thread is not None:
        relation = {"rel_type": "m.thread", "event_id": thread, "is_falling_back": True} | relation
    return {"m.relates_to": relation, "m.mentions": {"user_ids": [to.user.id]}}


def png_size(png: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a PNG, from its IHDR chunk (the first one, right after the
    signature: width and height are big-endian at bytes 16–24); None when it is no PNG."""
    if len(png) < 24 or not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        return None
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def image_content(filename: str, url: str, png: bytes) -> dict[str, Any]:
    """The ``m.image`` content for an uploaded PNG; clients size the placeholder from ``w``
    and ``h`` before the picture has loaded."""
    info: dict[str, Any] = {"mimetype": "image/png", "size": len(png)}
    if size := png_size(png):
        info["w"], info["h"] = size
    return {"msgtype": "m.image", "body": filename, "url": url, "info": info}


def localpart(user_id: str) -> str:
    """``@alice:example.org`` → ``alice``."""
    return user_id.removeprefix("@").split(":", 1)[0]
