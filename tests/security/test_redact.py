"""Redaction of configured secrets from error text, and quiet transport logs."""

from __future__ import annotations

import logging

import pytest

from execgate.security.redact import REDACTED, Redactor, quiet_transport_logs


def test_credentials_urls_and_hosts_are_replaced() -> None:
    redactor = Redactor.for_backends(
        ["tok-123456", "ab"], ["https://n8n.corp.example:5678/base", "http://team-sim:9101"]
    )
    text = (
        "GET https://n8n.corp.example:5678/base/api/v1/x with tok-123456 failed; "
        "n8n.corp.example is down; team-sim:9101 too; instance 'team-sim' ab"
    )
    cleaned = redactor.clean(text)
    assert cleaned == (
        f"GET {REDACTED}/api/v1/x with {REDACTED} failed; {REDACTED} is down; {REDACTED} too; "
        "instance 'team-sim' ab"
    )


def test_values_are_walked() -> None:
    redactor = Redactor(["secret-value"])
    value = {"message": "a secret-value", "extensions": {"list": ["secret-value", 3, None]}}
    assert redactor.clean_value(value) == {
        "message": f"a {REDACTED}",
        "extensions": {"list": [REDACTED, 3, None]},
    }


@pytest.mark.parametrize("name", ["httpx", "httpcore"])
def test_transport_loggers_are_quieted_unless_set(name: str) -> None:
    logger = logging.getLogger(name)
    saved = logger.level
    try:
        logger.setLevel(logging.NOTSET)
        quiet_transport_logs()
        assert logger.level == logging.WARNING
        logger.setLevel(logging.DEBUG)
        quiet_transport_logs()
        assert logger.level == logging.DEBUG
    finally:
        logger.setLevel(saved)


@pytest.mark.parametrize("at", [0, 250, 280, 990, 995, 999, 1000, 5000])
def test_a_secret_is_redacted_before_the_text_is_cut(at: int) -> None:
    # given a long backend message with a credential at any position, around the cut too
    secret = "sdk_0123456789abcdefghijklmnopqrstuv"
    text = "x" * at + secret + "y" * 2000
    # when
    cleaned = Redactor([secret]).clean(text)
    # then no part of the credential longer than a few characters survives
    assert len(cleaned) <= 1001
    assert not any(secret[:n] in cleaned for n in range(6, len(secret) + 1))
    assert not any(secret[-n:] in cleaned for n in range(6, len(secret) + 1))
