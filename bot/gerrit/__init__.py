"""Talking to Gerrit: SSH connections, REST sessions, its JSON quirks. Shared by the event
sources (stream-events, REST polling) and the review reporter."""
