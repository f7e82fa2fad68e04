"""The Matrix transport: :class:`MatrixTransport` (the bot on one account, :mod:`.transport`),
:mod:`.client` (matrix-nio under our timeouts), :mod:`.timeline` (which events are commands),
:mod:`.rooms` (configured rooms and direct chats) and :mod:`.content` (what the bot posts)."""

from bot.transports.matrix.content import (
    answer_fields,
    image_content,
    notice_content,
    png_size,
    reply_thread,
    whisper_thread,
)
from bot.transports.matrix.transport import MatrixTransport

__all__ = [
    "MatrixTransport",
    "answer_fields",
    "image_content",
    "notice_content",
    "png_size",
    "reply_thread",
    "whisper_thread",
]
