"""Chat commands, one module each.

A command is a coroutine tagged with :func:`bot.chat.command.command`; it gets a
:class:`bot.chat.command.Context` (the services, the settings, who asked where) and returns its
reply as :class:`bot.transports.base.Text`, built with :mod:`bot.chat.reply`. Every module of this
package is imported by :func:`bot.chat.command.load_commands` at start-up: adding a command is
adding a module here (see docs/architecture.md).
"""
