"""General-glo-ciphering: splitting the APDU, AES-128-GCM with and without tag."""

from __future__ import annotations

import random

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
import pytest

from custom_components.han_port.han.apdu import BlockTransfer, strip_llc
from custom_components.han_port.han.axdr import AxdrError
from custom_components.han_port.han.model import FrameError, Reason
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.security import (
    SMARTY_AUTH_KEY,
    DecryptError,
    NoKeyError,
    decrypt,
    decrypt_unverified,
    split_glo_ciphering,
)
from custom_components.han_port.han.stream import StreamDecoder
from devtools.builder import glo_ciphering
from devtools.corpus import BY_ID, raw_bytes

from .. import more_meters
from .conftest import (
    MBUS_ID,
    decode_all,
    errors,
    hdlc_apdu,
    hdlc_information,
    readings,
    reasons,
    split_hdlc_stream,
)

ENTRY = BY_ID[MBUS_ID]
KEY = bytes.fromhex(ENTRY["key_hex"])
AUTH_KEY = bytes(range(0x10, 0x20))
TITLE = bytes.fromhex(ENTRY["expected"]["gcm"]["system_title"])
PLAINTEXT = bytes.fromhex(ENTRY["plaintext_apdu_hex"])
OPTIONS = DecoderOptions(key=KEY, auth_key=AUTH_KEY)


def _capture_apdu() -> bytes:
    data = raw_bytes(ENTRY)
    first_end = data[1] + 6
    return data[9 : first_end - 2] + data[first_end + 9 : -2]


def test_split_capture() -> None:
    ciphered = split_glo_ciphering(_capture_apdu())
    assert ciphered.system_title == TITLE
    assert ciphered.security_control == 0x21
    assert ciphered.invocation_counter == 0x00295B9A
    assert ciphered.tag is None
    assert len(ciphered.ciphertext) == len(PLAINTEXT)


def test_decrypt_capture_without_tag() -> None:
    assert decrypt(split_glo_ciphering(_capture_apdu()), KEY, None) == PLAINTEXT


@pytest.mark.parametrize("control", [0x20, 0x21, 0x30, 0x31])
def test_round_trip(control: int) -> None:
    apdu = glo_ciphering(
        PLAINTEXT,
        system_title=TITLE,
        invocation_counter=0xDEADBEEF,
        key=KEY,
        auth_key=AUTH_KEY,
        security_control=control,
    )
    ciphered = split_glo_ciphering(apdu)

    assert ciphered.security_control == control
    assert ciphered.invocation_counter == 0xDEADBEEF
    assert (ciphered.tag is not None) == bool(control & 0x10)
    assert ciphered.ciphertext != PLAINTEXT
    # An authentication key is configured only for meters that authenticate.
    assert decrypt(ciphered, KEY, AUTH_KEY if control & 0x10 else None) == PLAINTEXT


def test_untagged_encryption_matches_the_capture() -> None:
    # Our CTR construction (GCM counter from J0 + 1) reproduces the meter's bytes.
    apdu = glo_ciphering(
        PLAINTEXT,
        system_title=TITLE,
        invocation_counter=0x00295B9A,
        key=KEY,
        security_control=0x21,
    )
    assert apdu == _capture_apdu()


def test_tagged_decrypt_checks_the_tag() -> None:
    apdu = bytearray(glo_ciphering(PLAINTEXT, system_title=TITLE, invocation_counter=5, key=KEY))
    apdu[-3] ^= 0x10
    with pytest.raises(DecryptError):
        decrypt(split_glo_ciphering(bytes(apdu)), KEY, None)


def test_tagged_decrypt_checks_the_authentication_key() -> None:
    apdu = glo_ciphering(
        PLAINTEXT, system_title=TITLE, invocation_counter=5, key=KEY, auth_key=AUTH_KEY
    )
    ciphered = split_glo_ciphering(apdu)
    with pytest.raises(DecryptError):
        decrypt(ciphered, KEY, bytes(16))
    with pytest.raises(DecryptError):
        decrypt(ciphered, bytes(16), AUTH_KEY)
    assert decrypt(ciphered, KEY, AUTH_KEY) == PLAINTEXT


def test_counter_is_part_of_the_iv() -> None:
    apdu = bytearray(glo_ciphering(PLAINTEXT, system_title=TITLE, invocation_counter=5, key=KEY))
    apdu[17] ^= 0x01  # last byte of the invocation counter (after DB 08 title 82 LLLL SC FC)
    with pytest.raises(DecryptError):
        decrypt(split_glo_ciphering(bytes(apdu)), KEY, None)


def test_no_key() -> None:
    with pytest.raises(NoKeyError):
        decrypt(split_glo_ciphering(_capture_apdu()), None, None)


@pytest.mark.parametrize(
    ("size", "length_field"),
    [
        (10, b"\x1b"),  # SC + FC + 10 + tag = 27: one byte
        (200, b"\x81\xd9"),  # 217: 0x81 and one byte
        (300, b"\x82\x01\x3d"),  # 317: 0x82 and two bytes
    ],
)
def test_content_length_forms(size: int, length_field: bytes) -> None:
    apdu = glo_ciphering(bytes(size), system_title=TITLE, invocation_counter=1, key=KEY)
    assert apdu[10 : 10 + len(length_field)] == length_field
    assert decrypt(split_glo_ciphering(apdu), KEY, None) == bytes(size)


@pytest.mark.parametrize(
    "apdu",
    [
        b"\xdb\x07" + TITLE[:7] + b"\x05\x20\x00\x00\x00\x01",  # 7-byte system title
        b"\xdb\x08" + TITLE[:4],  # title cut short
        b"\xdb\x08" + TITLE + b"\x10\x20\x00\x00\x00\x01",  # content says 16, has 5
        b"\xdb\x08" + TITLE + b"\x04\x20\x00\x00\x00",  # content shorter than SC + FC
        b"\xdb\x08" + TITLE + b"\x08\x30\x00\x00\x00\x01\xaa\xbb\xcc",  # tag missing
        b"\xdb",
    ],
)
def test_malformed_glo_ciphering(apdu: bytes) -> None:
    with pytest.raises(AxdrError):
        split_glo_ciphering(apdu)


def _authenticated_only(plaintext: bytes, *, tag_flip: int = 0) -> bytes:
    """An SC 0x10 APDU built by hand: plaintext in the clear and a GMAC tag over it.

    Green Book: with authentication only, the tag authenticates SC || AK || plaintext
    as additional data, nothing is encrypted.
    """
    counter = 1
    aad = b"\x10" + AUTH_KEY + plaintext
    tag = AESGCM(KEY).encrypt(TITLE + counter.to_bytes(4), b"", aad)[:12]
    tag = bytes((tag[0] ^ tag_flip,)) + tag[1:]
    content = b"\x10" + counter.to_bytes(4) + plaintext + tag
    length = len(content)
    length_bytes = bytes((length,)) if length < 0x80 else b"\x82" + length.to_bytes(2)
    return b"\xdb\x08" + TITLE + length_bytes + content


def test_authenticated_only_apdu_is_read_in_the_clear() -> None:
    ciphered = split_glo_ciphering(_authenticated_only(PLAINTEXT))
    assert ciphered.tag is not None
    assert decrypt(ciphered, KEY, AUTH_KEY) == PLAINTEXT
    events = decode_all(hdlc_apdu(_authenticated_only(PLAINTEXT)), OPTIONS)
    [reading] = readings(events)
    assert not reading.encrypted
    assert reading.system_title == TITLE


def test_authenticated_only_apdu_with_a_bad_tag_is_rejected() -> None:
    events = decode_all(hdlc_apdu(_authenticated_only(PLAINTEXT, tag_flip=0x01)), OPTIONS)
    assert readings(events) == []
    assert reasons(events) == [Reason.DECRYPT]


def test_encrypt_authenticated_only_round_trips() -> None:
    apdu = glo_ciphering(
        PLAINTEXT,
        system_title=TITLE,
        invocation_counter=1,
        key=KEY,
        auth_key=AUTH_KEY,
        security_control=0x10,
    )
    assert apdu == _authenticated_only(PLAINTEXT)


def test_smarty_fixed_authentication_key_when_none_is_configured() -> None:
    """Luxmetering fixes the Smarty's authentication key; owners get only the key."""
    assert bytes.fromhex("00112233445566778899AABBCCDDEEFF") == SMARTY_AUTH_KEY
    sealed = glo_ciphering(
        PLAINTEXT, system_title=TITLE, invocation_counter=5, key=KEY, auth_key=SMARTY_AUTH_KEY
    )
    assert decrypt(split_glo_ciphering(sealed), KEY, None) == PLAINTEXT
    with pytest.raises(DecryptError):
        decrypt(split_glo_ciphering(sealed), KEY, AUTH_KEY)
    # Sealed without an authentication key: still read without one.
    bare = glo_ciphering(PLAINTEXT, system_title=TITLE, invocation_counter=5, key=KEY)
    assert decrypt(split_glo_ciphering(bare), KEY, None) == PLAINTEXT


def test_authenticated_only_apdu_checked_with_smarty_key() -> None:
    sealed = glo_ciphering(
        PLAINTEXT,
        system_title=TITLE,
        invocation_counter=5,
        key=KEY,
        auth_key=SMARTY_AUTH_KEY,
        security_control=0x10,
    )
    assert decrypt(split_glo_ciphering(sealed), KEY, None) == PLAINTEXT
    with pytest.raises(DecryptError):
        decrypt(split_glo_ciphering(sealed), KEY, AUTH_KEY)


# -- authenticated and encrypted, with the encryption key alone (security.py's policy) --

E450 = more_meters.BY_ID["landisgyr-ch-e450-gbt3-encrypted-obis-list-scs"]
E450_KEY = bytes.fromhex(E450["key_hex"])


def _e450_apdu() -> bytes:
    """The capture's general-glo-ciphering APDU, reassembled from its three GBT blocks."""
    blocks = BlockTransfer()
    whole = None
    for frame in split_hdlc_stream(raw_bytes(E450)):
        whole = blocks.add(strip_llc(hdlc_information(frame)))
    assert whole is not None
    return whole


def test_e450_tag_matches_no_known_authentication_key() -> None:
    """SC 0x30 and only the encryption key published: the tag cannot be checked."""
    ciphered = split_glo_ciphering(_e450_apdu())
    assert (ciphered.security_control, ciphered.tag is not None) == (0x30, True)
    with pytest.raises(DecryptError, match="authentication tag mismatch"):
        decrypt(ciphered, E450_KEY, None)
    # GCM's keystream does not involve the authentication key: the plaintext is there.
    assert decrypt_unverified(ciphered, E450_KEY) == bytes.fromhex(E450["plaintext_apdu_hex"])


def test_without_auth_key_a_plaintext_that_reads_in_full_is_taken() -> None:
    decoder = StreamDecoder(DecoderOptions(key=E450_KEY, country=E450["country"]))
    events = decoder.feed(raw_bytes(E450)) + decoder.flush()
    assert reasons(events) == []
    [reading] = readings(events)
    assert reading.encrypted
    assert len(reading.values) == E450["expected"]["n_items"]
    # Counted, so diagnostics can show the tag went unchecked.
    assert (decoder.stats.readings, decoder.stats.unauthenticated) == (1, 1)


@pytest.mark.parametrize("seed", range(4))
def test_without_auth_key_a_wrong_key_is_a_decrypt_error(seed: int) -> None:
    wrong = random.Random(seed).randbytes(16)
    decoder = StreamDecoder(DecoderOptions(key=wrong, country=E450["country"]))
    events = decoder.feed(raw_bytes(E450)) + decoder.flush()
    assert readings(events) == []
    [error] = errors(events)
    assert error.reason == Reason.DECRYPT
    assert "wrong key" in error.detail
    assert decoder.stats.unauthenticated == 0


@pytest.mark.parametrize(
    ("plaintext", "why"),
    [
        # Opens like a data-notification, then junk: what 1 wrong key in 256 gives.
        (bytes.fromhex("0F00000001") + b"\x00\x06\x00\x00\x00\x01\xff\xee", "bytes after"),
        # Parses to the end but holds no value: not a reading either.
        (bytes.fromhex("0F000000010000"), "no values"),
    ],
)
def test_without_auth_key_a_plaintext_short_of_a_reading_is_refused(
    plaintext: bytes, why: str
) -> None:
    sealed = glo_ciphering(
        plaintext, system_title=TITLE, invocation_counter=9, key=KEY, auth_key=AUTH_KEY
    )
    decoder = StreamDecoder(DecoderOptions(key=KEY))
    [error] = decoder.feed(hdlc_apdu(sealed))
    assert isinstance(error, FrameError)
    assert error.reason == Reason.DECRYPT
    assert error.detail.startswith("authentication tag not checked (no authentication key)")
    assert why in error.detail
    assert error.detail.endswith("wrong key?")


def test_with_auth_key_configured_the_tag_must_verify() -> None:
    """No downgrade: with an authentication key set, an unmatched tag is refused."""
    for auth_key in (AUTH_KEY, SMARTY_AUTH_KEY):
        decoder = StreamDecoder(
            DecoderOptions(key=E450_KEY, auth_key=auth_key, country=E450["country"])
        )
        events = decoder.feed(raw_bytes(E450)) + decoder.flush()
        assert readings(events) == []
        [error] = errors(events)
        assert error.reason == Reason.DECRYPT
        assert error.detail == "authentication tag mismatch: wrong key or authentication key"
