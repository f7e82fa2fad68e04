"""The IRC transport: :class:`IrcTransport` (the bot on one network), :mod:`.session` (one
connection and the server's events), :mod:`.protocol` (capabilities, SASL, nicks, pacing).
IRC text (formatting, case folding, line cutting) is in :mod:`bot.transports.ircformat`."""

from bot.transports.irc.transport import IrcTransport

__all__ = ["IrcTransport"]
