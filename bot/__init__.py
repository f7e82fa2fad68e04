"""recheckbot: tells developers which known bug failed their CI build."""

__version__ = "0.1.0"
