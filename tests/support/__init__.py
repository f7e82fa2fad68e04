"""What tests share: fakes of the bot's own interfaces, builders of test data, stand-ins of
servers that cannot run here. Test modules import from here, never from each other.

- paths: the checkout, the upstream data beside it, ``require_program``/``require_upstream``
- servers: real ngIRCd, Synapse and mosquitto; peers: second clients on them, bot settings
- gerrit, gerrit_rest, trackers, logserver, ircd, http: stand-ins of what cannot run here
- events: raw events and a source consumer; builds: ``failed_build`` and its jobs' log lines
- graph, clusters: the data sets of the dashboard and clustering tests
- chat: the chat harness and its services; outlet: a fake delivery outlet
- search, clock, polling: search backends that count and record, a fake clock, ``until``
- scenario: the whole bot in-process; botproc: the bot as a process; cli: its argv
"""
