"""TOTP (RFC 6238) and HOTP (RFC 4226) against the test vectors of the RFCs."""

from __future__ import annotations

import pytest

from dosefinding.randomization.totp import decode_secret, hotp, new_secret, provisioning_uri, totp, verify_totp

# RFC 4226 appendix D: secret "12345678901234567890", counters 0..9.
HOTP_VECTORS = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"]

# RFC 6238 appendix B: (time, SHA-1, SHA-256, SHA-512), 8 digits, step 30 s, T0 = 0.
TOTP_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
SEEDS = {"sha1": b"12345678901234567890", "sha256": b"12345678901234567890123456789012",
         "sha512": b"1234567890123456789012345678901234567890123456789012345678901234"}


@pytest.mark.parametrize("counter", range(10))
def test_hotp_matches_rfc_4226(counter: int) -> None:
    assert hotp(SEEDS["sha1"], counter) == HOTP_VECTORS[counter]


@pytest.mark.parametrize(("t", "sha1", "sha256", "sha512"), TOTP_VECTORS)
def test_totp_matches_rfc_6238(t: int, sha1: str, sha256: str, sha512: str) -> None:
    for digest, expected in (("sha1", sha1), ("sha256", sha256), ("sha512", sha512)):
        assert totp(SEEDS[digest], t, digits=8, digest=digest) == expected


def test_a_code_is_accepted_within_one_step_and_only_once() -> None:
    key = SEEDS["sha1"]
    code = totp(key, 1_000_000.0)
    counter = verify_totp(key, code, 1_000_000.0)
    assert counter == 1_000_000 // 30
    assert verify_totp(key, code, 1_000_000.0 + 30) == counter  # the clock of the phone one step behind
    assert verify_totp(key, code, 1_000_000.0 + 61) is None  # too old
    assert verify_totp(key, code, 1_000_000.0, last_counter=counter) is None  # used once already
    for bad in ("", "12345", "1234567", "12345a", "１２３４５６", None):
        assert verify_totp(key, bad, 1_000_000.0) is None  # type: ignore[arg-type]


def test_secrets_round_trip_and_uri() -> None:
    secret = new_secret()
    assert len(secret) == 32 and len(decode_secret(secret)) == 20
    uri = provisioning_uri(secret, "investigator1", "A2201")
    assert uri.startswith("otpauth://totp/A2201:investigator1?secret=" + secret)
