"""Shared fixtures. ``s3_server`` is one embedded S3 endpoint (moto + gateway subprocesses on
random free ports) for the whole session, because starting it costs about half a second;
``s3`` hands it to a test in a clean state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
