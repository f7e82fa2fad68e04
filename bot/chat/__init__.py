"""Chat commands in, replies out: recognising a command, ACLs and rate limits, the command
framework the ``commands`` package builds on, and the services commands may use."""
