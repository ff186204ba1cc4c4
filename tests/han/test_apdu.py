"""DLMS APDUs: LLC header, data-notification header date-time, unwrap, block transfer."""

from __future__ import annotations

import pytest

from custom_components.han_port.han import apdu
from custom_components.han_port.han.apdu import (
    BlockTransfer,
    Plain,
    UnauthenticatedPlain,
    UncheckedPlain,
    UnsupportedApduError,
    data_notification,
    datetime_offset,
    strip_llc,
    unwrap,
)
from custom_components.han_port.han.axdr import AxdrError, IntLeaf
from custom_components.han_port.han.security import SMARTY_AUTH_KEY, DecryptError, NoKeyError
from devtools.builder import glo_ciphering
from devtools.corpus import BY_ID, raw_bytes

from .conftest import GBT_ID, MBUS_ID, hdlc_information, split_hdlc_stream

DATETIME = bytes.fromhex("07E6011801123A32FF800000")
BODY = bytes.fromhex("020212000A0F01")  # structure {long-unsigned 10, integer 1}
KEY = bytes.fromhex(BY_ID[MBUS_ID]["key_hex"])
TITLE = bytes.fromhex(BY_ID[MBUS_ID]["expected"]["gcm"]["system_title"])


def _notification(header: bytes) -> bytes:
    return b"\x0f\x00\x00\x00\x07" + header + BODY


@pytest.mark.parametrize(
    ("information", "expected"),
    [
        (b"\xe6\xe7\x00\x0f\x01", b"\x0f\x01"),
        (b"\xe6\xe6\x00\x0f\x01", b"\x0f\x01"),  # some meters send the command LSAP
        (b"\x0f\x01", b"\x0f\x01"),  # no LLC at all
        (b"\xe6\xe7\x01\x0f", b"\xe6\xe7\x01\x0f"),  # not the LLC header we know
    ],
)
def test_strip_llc(information: bytes, expected: bytes) -> None:
    assert strip_llc(information) == expected


@pytest.mark.parametrize(
    ("header", "start"),
    [
        (b"\x00", None),  # absent (Aidon, Kaifa SE)
        (b"\x0c" + DATETIME, 6),  # the spec's bare optional octet-string (Kamstrup)
        (b"\x09\x0c" + DATETIME, 7),  # tagged, as Kaifa and old Kamstrup firmware send it
    ],
)
def test_header_date_time_encodings(header: bytes, start: int | None) -> None:
    message = _notification(header)
    found_start, body = datetime_offset(message)
    assert found_start == start
    assert message[body:] == BODY

    decoded = data_notification(message)
    assert decoded.datetime_raw == (DATETIME if start else None)
    assert decoded.body == [10, 1]


@pytest.mark.parametrize(
    "message",
    [
        b"\x0f\x00\x00\x00",  # shorter than tag + invoke id + marker
        b"\x0f\x00\x00\x00\x07\x05" + BODY,  # marker 05
        b"\x0f\x00\x00\x00\x07\x09\x05" + BODY,  # 09 not followed by 0C
        b"\x0f\x00\x00\x00\x07\x0c" + DATETIME[:5],  # date-time cut short
    ],
)
def test_bad_header_date_time_is_an_axdr_error(message: bytes) -> None:
    with pytest.raises(AxdrError):
        data_notification(message)


def test_bytes_after_the_body_are_an_axdr_error() -> None:
    with pytest.raises(AxdrError, match="2 bytes after"):
        data_notification(_notification(b"\x00") + b"\x00\x00")


def test_recording_gives_leaves() -> None:
    decoded = data_notification(_notification(b"\x00"), recording=True)
    assert isinstance(decoded.body, list)
    assert isinstance(decoded.body[0], IntLeaf)
    assert decoded.body[0].offset == 9


def test_unwrap_plain_notification() -> None:
    message = _notification(b"\x00")
    plain = unwrap(message)
    assert plain.apdu == message
    assert plain.system_title is None
    assert not plain.encrypted


def test_unwrap_ciphered_notification() -> None:
    message = _notification(b"\x00")
    ciphered = glo_ciphering(
        message, system_title=TITLE, invocation_counter=1, key=KEY, security_control=0x20
    )
    plain = unwrap(ciphered, KEY)
    assert plain.apdu == message
    assert plain.system_title == TITLE
    assert plain.encrypted


def test_unwrap_ciphered_capture_gives_published_plaintext() -> None:
    entry = BY_ID[MBUS_ID]
    # The two M-Bus fragments after their 9-byte headers, checksum and stop byte dropped.
    data = raw_bytes(entry)
    first_end = data[1] + 6
    ciphered = data[9 : first_end - 2] + data[first_end + 9 : -2]

    plain = unwrap(ciphered, KEY)

    assert plain.apdu.hex().upper() == entry["plaintext_apdu_hex"]


def test_unwrap_errors() -> None:
    message = _notification(b"\x00")
    ciphered = glo_ciphering(
        message, system_title=TITLE, invocation_counter=1, key=KEY, security_control=0x20
    )
    with pytest.raises(AxdrError):
        unwrap(b"")
    with pytest.raises(UnsupportedApduError, match="C4"):
        unwrap(b"\xc4\x01\x00")
    with pytest.raises(NoKeyError):
        unwrap(ciphered)
    # No tag: a wrong key is noticed only because the noise is no data-notification.
    with pytest.raises(DecryptError):
        unwrap(ciphered, bytes(16))


def test_unwrap_empty_ciphertext_is_a_decrypt_error() -> None:
    ciphered = glo_ciphering(
        b"", system_title=TITLE, invocation_counter=1, key=KEY, security_control=0x20
    )
    with pytest.raises(DecryptError):
        unwrap(ciphered, KEY)


def test_unwrap_encrypted_p1_telegram() -> None:
    """An encrypted P1 port ciphers the telegram itself: the plaintext starts with "/"."""
    telegram = b"/SAG5\r\n\r\n1-0:1.8.0(000001.000*kWh)\r\n!0000\r\n"
    auth_key = bytes(range(16))
    sealed = glo_ciphering(
        telegram, system_title=TITLE, invocation_counter=1, key=KEY, auth_key=auth_key
    )
    checked = unwrap(sealed, KEY, auth_key)
    assert (checked.apdu, checked.encrypted) == (telegram, True)
    assert not isinstance(checked, UncheckedPlain)
    # Without the authentication key: decrypted, but only the telegram's CRC can vouch.
    unchecked = unwrap(sealed, KEY)
    assert unchecked.apdu == telegram
    assert isinstance(unchecked, UncheckedPlain)
    with pytest.raises(DecryptError):
        unwrap(sealed, KEY, bytes(16))
    # Smarty's fixed authentication key is known: checked by the tag.
    smarty = glo_ciphering(
        telegram,
        system_title=TITLE,
        invocation_counter=1,
        key=KEY,
        auth_key=SMARTY_AUTH_KEY,
    )
    assert not isinstance(unwrap(smarty, KEY), UncheckedPlain)


def test_unwrap_takes_a_data_notification_unauthenticated_only_without_auth_key() -> None:
    """Tag unmatched and no authentication key: deciphered, marked for the stream to prove.

    With an authentication key configured the same frame is refused (no downgrade).
    """
    auth_key = bytes(range(16))
    notification = _notification(b"\x00")
    sealed = glo_ciphering(
        notification, system_title=TITLE, invocation_counter=1, key=KEY, auth_key=auth_key
    )
    unverified = unwrap(sealed, KEY)
    assert isinstance(unverified, UnauthenticatedPlain)
    assert (unverified.apdu, unverified.encrypted) == (notification, True)
    with pytest.raises(DecryptError, match="authentication tag"):
        unwrap(sealed, KEY, bytes(16))
    assert type(unwrap(sealed, KEY, auth_key)) is Plain
    # A frame that carries no tag is unchecked, but was never authenticated.
    untagged = glo_ciphering(
        notification,
        system_title=TITLE,
        invocation_counter=1,
        key=KEY,
        security_control=0x20,
    )
    assert type(unwrap(untagged, KEY)) is UncheckedPlain


def test_unwrap_refuses_noise_from_a_wrong_key_at_the_first_byte() -> None:
    """A plaintext that opens neither a data-notification nor a telegram: the tag's error."""
    sealed = glo_ciphering(
        b"\x42" + bytes(20),
        system_title=TITLE,
        invocation_counter=1,
        key=KEY,
        auth_key=bytes(range(16)),
    )
    with pytest.raises(DecryptError, match="authentication tag mismatch"):
        unwrap(sealed, KEY)


# -- general block transfer ---------------------------------------------------------------


def _block(number: int, data: bytes, *, last: bool = False) -> bytes:
    control = 0xC0 if last else 0x40
    return (
        b"\xe0" + bytes((control,)) + number.to_bytes(2) + b"\x00\x00" + bytes((len(data),)) + data
    )


def test_capture_blocks_reassemble_to_published_apdu() -> None:
    entry = BY_ID[GBT_ID]
    blocks = [strip_llc(hdlc_information(f)) for f in split_hdlc_stream(raw_bytes(entry))]
    transfer = BlockTransfer()

    assert transfer.add(blocks[0]) is None
    assert transfer.add(blocks[1]) is None
    whole = transfer.add(blocks[2])

    assert whole is not None
    assert whole.hex().upper() == entry["reassembled_apdu_hex"]


def test_block_out_of_order_drops_the_message() -> None:
    transfer = BlockTransfer()
    transfer.add(_block(1, b"AA"))
    with pytest.raises(AxdrError, match="block 3 arrived, expected block 2"):
        transfer.add(_block(3, b"CC", last=True))
    # The partial message is gone: block 2 now is out of order too.
    with pytest.raises(AxdrError, match="expected block 1"):
        transfer.add(_block(2, b"BB", last=True))


def test_block_one_restarts_the_message() -> None:
    transfer = BlockTransfer()
    transfer.add(_block(1, b"old"))
    transfer.add(_block(2, b"old"))
    transfer.add(_block(1, b"new-"))
    assert transfer.add(_block(2, b"message", last=True)) == b"new-message"


def test_reset_forgets_a_partial_message() -> None:
    transfer = BlockTransfer()
    transfer.add(_block(1, b"AA"))
    transfer.reset()
    with pytest.raises(AxdrError):
        transfer.add(_block(2, b"BB", last=True))


def test_single_last_block_is_the_message() -> None:
    assert BlockTransfer().add(_block(1, b"whole", last=True)) == b"whole"


def test_long_block_length() -> None:
    data = bytes(300)
    block = b"\xe0\xc0\x00\x01\x00\x00\x82" + len(data).to_bytes(2) + data
    assert BlockTransfer().add(block) == data


@pytest.mark.parametrize(
    "block",
    [
        b"\xe0\xc0\x00\x01\x00",  # header cut short
        b"\xe0\xc0\x00\x01\x00\x00\x05AB",  # says 5 bytes, holds 2
    ],
)
def test_malformed_block(block: bytes) -> None:
    with pytest.raises(AxdrError):
        BlockTransfer().add(block)


def test_message_larger_than_the_bound_is_dropped() -> None:
    transfer = BlockTransfer()
    data = bytes(60_000)
    assert len(data) < apdu.MAX_BLOCK_MESSAGE < 2 * len(data)  # the premise of this test
    block = b"\xe0\x40\x00\x01\x00\x00\x82" + len(data).to_bytes(2) + data
    assert transfer.add(block) is None
    second = b"\xe0\x40\x00\x02\x00\x00\x82" + len(data).to_bytes(2) + data
    with pytest.raises(AxdrError, match="too large"):
        transfer.add(second)
    # Reset after the overflow: a fresh message works.
    assert transfer.add(_block(1, b"ok", last=True)) == b"ok"
