"""Headless Chromium driven by Selenium, for the dashboard's browser tests.

Selenium is synchronous: drive it from a thread while the dashboard server runs on the test's
event loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1280,1100",
)


def browser(chromium: str, chromedriver: str, profile: Path) -> Any:
    """A Chrome WebDriver on ``chromium``, with its profile in ``profile``; quit it after use."""
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
