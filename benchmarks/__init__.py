"""Benchmarks: ``python -m benchmarks.<name>``; ``make bench`` runs them all.

Never timed assertions in tests.
"""
