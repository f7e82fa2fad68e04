"""The running bot: the one place that builds clients and hands them out (the composition root).

:mod:`bot.app.parts` assembles the parts from the settings, :mod:`bot.app.process` runs them,
:mod:`bot.app.services` and :mod:`bot.app.vitals` are what chat and the health endpoints see.
"""
