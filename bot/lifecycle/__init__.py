"""A query's life after the first failures: adopted from a cluster, proposed to the query
repository, reported on its bug every week, filed as a bug when nobody did, removed when its
bug is gone.

* :mod:`bot.lifecycle.propose` — a change to the query repository: a Gerrit change or a branch;
* :mod:`bot.lifecycle.adopt` — a cluster's verified query written as the file of a bug;
* :mod:`bot.lifecycle.cleanup` — queries whose bug is closed and that stopped hitting, or that
  never hit;
* :mod:`bot.lifecycle.feedback` — the weekly impact comment on each bug;
* :mod:`bot.lifecycle.filing` — a bug filed for a cluster that crossed the threshold;
* :mod:`bot.lifecycle.schedule` — when the bot does the last two.

Everything that writes (a push, a comment, a bug) has a dry run that shows what it would write
and writes nothing; the bot's writes to trackers are journaled (:mod:`bot.state.lifecycle`).
"""
