"""Client keys: generation, hashing, constant-time recognition, the header."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from execgate.domain.access import Scope
from execgate.security import clients as clients_module
from execgate.security.clients import (
    KEY_PREFIX,
    Client,
    ClientDirectory,
    KeyProblem,
    hash_key,
    new_key,
    presented_key,
)


def _client(name: str, key: str) -> Client:
    return Client(name, hash_key(key), Scope.full(name))


def test_new_keys_are_random_prefixed_and_long() -> None:
    keys = {new_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) >= len(KEY_PREFIX) + 43  # 32 random bytes, base64url
        assert key.replace("-", "").replace("_", "").isalnum()


def test_hash_is_the_hex_sha256_of_the_key() -> None:
    assert hash_key("test") == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    assert hash_key("k") == hashlib.sha256(b"k").hexdigest()


def test_authenticate_finds_the_one_client_of_a_key() -> None:
    keys = {name: new_key() for name in ("a", "b", "c")}
    directory = ClientDirectory(_client(n, k) for n, k in keys.items())
    for name, key in keys.items():
        found = directory.authenticate(key)
        assert found is not None and found.name == name
    assert directory.authenticate(new_key()) is None
    assert directory.authenticate(None) is None
    assert directory.authenticate("") is None
    assert directory.authenticate(keys["a"] + " ") is None


def test_every_client_is_compared_in_constant_time_without_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given three clients, the first of which matches
    keys = [new_key() for _ in range(3)]
    directory = ClientDirectory(_client(f"c{i}", k) for i, k in enumerate(keys))
    compared: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return original(a, b)

    monkeypatch.setattr(clients_module.hmac, "compare_digest", spy)
    # when
    found = directory.authenticate(keys[0])
    # then every hash was compared, as digests of equal length
    assert found is not None and found.name == "c0"
    assert len(compared) == 3
    assert all(len(a) == len(b) == 32 for a, b in compared)


def test_the_directory_keeps_no_key_and_shows_no_hash() -> None:
    key = new_key()
    client = _client("a", key)
    assert key not in repr(client)
    assert client.key_sha256 not in repr(client)
    assert not ClientDirectory([])
    assert ClientDirectory([client])


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer egk_A-b_c.d~e+f/g==", "egk_A-b_c.d~e+f/g=="),
        ("Bearer", KeyProblem.MISSING),
        ("Bearer ", KeyProblem.MISSING),
        ("", KeyProblem.MISSING),
        ("   ", KeyProblem.MISSING),
        (None, KeyProblem.MISSING),
        ("Basic abc", KeyProblem.MALFORMED),
        ("abc", KeyProblem.MALFORMED),
        ("egk_abc", KeyProblem.MALFORMED),
        ("Bearer: abc", KeyProblem.MALFORMED),
        ("Bearer a b", KeyProblem.MALFORMED),
        ("Bearer abc=x", KeyProblem.MALFORMED),
        ("Bearer ab\u00e9", KeyProblem.MALFORMED),
    ],
)
def test_presented_key(header: str | None, key: str | KeyProblem) -> None:
    assert presented_key(header) == key
