"""Event sources and the parsing of their events into FailedBuilds.

Sources (each an :class:`~bot.events.source.EventSource` with a uniform ``status``, connections
in :func:`bot.core.retry.reconnecting`): :mod:`~bot.events.gerrit_ssh` (stream-events, with the
:mod:`~bot.events.events_log` catch-up), :mod:`~bot.events.gerrit_rest` (polling),
:mod:`~bot.events.zuul_mqtt`, :mod:`~bot.events.replay`; built from the settings by
:mod:`~bot.events.sources`. Their JSON goes through :mod:`~bot.events.decode`; raw events become
builds through the table in :mod:`~bot.events.convert` (:mod:`~bot.events.parse` for Gerrit
comments). :mod:`~bot.events.zuul_api` is the Zuul REST client. Gerrit itself is spoken to
through :mod:`bot.gerrit`.
"""
