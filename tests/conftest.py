"""Shared fixtures. ``s3_server`` is one embedded S3 endpoint (moto + gateway subprocesses on
random free ports) for the whole session, because starting it costs about half a second;
``s3`` hands it to a test in a clean state."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from browser import CHROMIUM, Browser
from servers import NGINX, Nginx

from layoutbench.store import PROFILES, EmbeddedS3


@pytest.fixture(scope="session")
def s3_server() -> Iterator[EmbeddedS3]:
    """The session's EmbeddedS3 (stopped at the end of the session, or at exit)."""
    with EmbeddedS3() as server:
        yield server


@pytest.fixture
def s3(s3_server: EmbeddedS3) -> EmbeddedS3:
    """The shared EmbeddedS3 with an empty bucket, zeroed counters and the loopback profile."""
    s3_server.reset()
    s3_server.set_profile(PROFILES["loopback"])
    return s3_server


@pytest.fixture(scope="session")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """A real production HTTP(S) server on loopback (Debian's nginx-light): HTTP and HTTPS
    with a self-signed certificate (``nginx.cert``), its access log the server-side truth.

    Skipped where nginx is not installed, except in CI (``LAYOUTBENCH_REQUIRE_NGINX=1``, set by
    ``.ci/run``, which installs it): there a missing nginx fails the tests that need it.
    """
    if NGINX is None:
        if os.environ.get("LAYOUTBENCH_REQUIRE_NGINX") == "1":
            pytest.fail("nginx is required (LAYOUTBENCH_REQUIRE_NGINX=1) but not installed")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    server = Nginx(tmp_path_factory.mktemp("nginx")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """A real browser: Debian's Chromium, headless, driven by Playwright, with a fresh profile
    and Chromium's own background traffic off (see tests/browser.py).

    Skipped where Chromium is not installed, except in CI (``LAYOUTBENCH_REQUIRE_BROWSER=1``,
    set by ``.ci/run``, whose ``make test`` installs it): there the tests that need it fail.
    """
    if CHROMIUM is None:
        if os.environ.get("LAYOUTBENCH_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is required (LAYOUTBENCH_REQUIRE_BROWSER=1) but not installed")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    browser = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.close()
