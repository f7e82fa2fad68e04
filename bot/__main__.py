"""``python -m bot`` is ``recheckbot``."""

from bot.cli import main

main()
