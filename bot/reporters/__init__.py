"""Reporters: tell the patch author, on the review itself, what the bot found.

:mod:`bot.reporters.gerrit` posts ER's review comment over SSH (``gerrit review``) or REST, in
dry-run by default, at most once per patchset and verdict.
"""
