"""Talking to Gerrit: SSH connections, REST sessions, its JSON quirks. Shared by the event
sources (stream-events, REST polling) and the review reporter.

* :mod:`bot.gerrit.ssh`: the client key, the trusted host keys (read off the event loop), one
  connection with every option explicit, one command run (``gerrit review``).
* :mod:`bot.gerrit.rest`: a session with basic auth, the ``)]}'`` line, HTTP errors as one line
  for people, the JSON of an answer, Gerrit's dates.
* :mod:`bot.gerrit.changes`: ``GET /changes/`` queries, all pages of them.

Nothing here knows about events, builds or chat: what Gerrit's data *means* is the caller's.
"""
