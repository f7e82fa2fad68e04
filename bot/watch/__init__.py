"""The watch path: a failed build in, announcements out.

intake → pipeline (journal) → judging (readiness, classification, outcome) → routing →
messages → delivery; and, once a day, closed bugs that came back (returned).
"""
