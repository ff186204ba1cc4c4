"""DLMS APDUs a meter pushes: data-notification, general-block-transfer, glo-ciphering.

IEC 62056-5-3: data-notification = 0x0F, long-invoke-id-and-priority (4 bytes),
date-time (OCTET STRING OPTIONAL), notification-body (Data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .axdr import AxdrError, AxdrValue, parse, parse_recording, read_length
from .cosem import DATE_TIME_LENGTH, LLC_HEADERS, ApduTag, BlockControl, SecurityControl, Tag
from .security import DecryptError, decrypt, decrypt_unverified, split_glo_ciphering

_DATA_NOTIFICATION: Final = int(ApduTag.DATA_NOTIFICATION)
_GENERAL_GLO_CIPHERING: Final = int(ApduTag.GENERAL_GLO_CIPHERING)
_LENGTH_12: Final = bytes((DATE_TIME_LENGTH,))
# What an encrypted P1 port (Smarty, T210-D-r) ciphers: the telegram itself, from "/".
_P1_TELEGRAM_START: Final = 0x2F
_READABLE_STARTS: Final = (_DATA_NOTIFICATION, _P1_TELEGRAM_START)
# A GBT message bigger than this is not a meter push but garbage that passed a CRC.
MAX_BLOCK_MESSAGE: Final = 65536


class UnsupportedApduError(ValueError):
    """A well-formed frame carrying something other than a push notification."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A decoded data-notification."""

    datetime_raw: bytes | None  # 12-byte COSEM date-time from the header, if any
    body: AxdrValue
    system_title: bytes | None = None  # set when the APDU was ciphered
    encrypted: bool = False


def strip_llc(info: bytes) -> bytes:
    """Drop the LLC header HDLC frames carry before the APDU."""
    if info[:3] in LLC_HEADERS:
        return info[3:]
    return info


@dataclass(frozen=True, slots=True)
class Plain:
    """A data-notification APDU (or a P1 telegram) in the clear, and how it travelled."""

    apdu: bytes
    system_title: bytes | None = None
    encrypted: bool = False


@dataclass(frozen=True, slots=True)
class UncheckedPlain(Plain):
    """Deciphered without an authentication tag checked (none sent, no key, or decrypted
    unverified, see unwrap): a P1 telegram's own CRC has to vouch for the key.

    A class of its own, not a field, so that the plain frames of every other meter do
    not pay for it.
    """


@dataclass(frozen=True, slots=True)
class UnauthenticatedPlain(UncheckedPlain):
    """The meter sent an authentication tag, and with no authentication key configured
    it matched neither no key nor Smarty's: deciphered unverified (security.py's
    policy). It stands only if it reads in full, a P1 telegram with its CRC or a
    data-notification that parses to its last byte into a reading with values.
    """


def unwrap(apdu: bytes, key: bytes | None = None, auth_key: bytes | None = None) -> Plain:
    """Check the APDU is a push notification and decrypt it if it is ciphered.

    The plaintext of a ciphered APDU is a data-notification, or on an encrypted P1
    port a P1 telegram. Grid companies in Switzerland and Austria hand many owners
    only the encryption key (L&G E450, Sagemcom T210-D-r), and meters whose
    authentication key differs from Smarty's fixed one exist: with no authentication
    key configured, a frame whose tag matches neither no key nor Smarty's is
    deciphered unverified and comes back as UnauthenticatedPlain when it opens like a
    telegram or a data-notification; the caller then has it prove the key by reading
    in full (security.py's module docstring has the policy).

    Raises AxdrError, UnsupportedApduError, NoKeyError or DecryptError.
    """
    if not apdu:
        raise AxdrError("empty APDU")
    tag = apdu[0]
    if tag == _DATA_NOTIFICATION:
        return Plain(apdu)
    if tag == _GENERAL_GLO_CIPHERING:
        ciphered = split_glo_ciphering(apdu)
        encrypted = bool(ciphered.security_control & SecurityControl.ENCRYPTED)
        try:
            plain = decrypt(ciphered, key, auth_key)
        except DecryptError:
            if auth_key is not None or key is None or ciphered.tag is None or not encrypted:
                raise
            unverified = decrypt_unverified(ciphered, key)
            if not unverified or unverified[0] not in _READABLE_STARTS:
                # 254 of 256 wrong keys end here, the rest where the plaintext must parse.
                raise
            return UnauthenticatedPlain(unverified, ciphered.system_title, encrypted)
        if not plain or plain[0] not in _READABLE_STARTS:
            # Without a tag, a wrong key yields noise rather than an error; noise
            # almost never starts with a data-notification that parses to the end.
            raise DecryptError("decrypted APDU is not a data-notification: wrong key?")
        checked = ciphered.tag is not None and key is not None
        return (Plain if checked else UncheckedPlain)(plain, ciphered.system_title, encrypted)
    raise UnsupportedApduError(f"APDU tag {tag:02X} is not a push notification")


def datetime_offset(apdu: bytes) -> tuple[int | None, int]:
    """Where the header date-time's 12 bytes start (None: absent) and the body starts."""
    if len(apdu) < 6:
        raise AxdrError("data-notification too short")
    pos = 5  # tag + long-invoke-id-and-priority
    # The three forms of cosem.DateTimeEncoding: absent (00), 0C + 12 bytes, and the
    # tagged octet-string (09 0C + 12) Kaifa and old Kamstrup firmware send where the
    # spec has a bare optional octet-string.
    marker = apdu[pos]
    if marker == 0x00:
        return None, pos + 1
    if marker == DATE_TIME_LENGTH:
        start = pos + 1
    elif marker == Tag.OCTET_STRING and apdu[pos + 1 : pos + 2] == _LENGTH_12:
        start = pos + 2
    else:
        raise AxdrError(f"date-time field starts with {marker:02X}")
    if start + DATE_TIME_LENGTH > len(apdu):
        raise AxdrError("date-time runs past the end")
    return start, start + DATE_TIME_LENGTH


def data_notification(apdu: bytes, *, recording: bool = False) -> Notification:
    """Decode a plain data-notification (see axdr.parse_recording for `recording`)."""
    start, pos = datetime_offset(apdu)
    body, end = parse_recording(apdu, pos) if recording else parse(apdu, pos)
    if end != len(apdu):
        raise AxdrError(f"{len(apdu) - end} bytes after the notification body")
    header = apdu[start : start + DATE_TIME_LENGTH] if start is not None else None
    return Notification(header, body)


class BlockTransfer:
    """Reassembles DLMS general-block-transfer (0xE0) blocks into one APDU.

    Blocks arrive in order, one per frame (L&G E450 sends three); a gap or a
    restart drops what was collected, so a lost frame costs one message, not a
    corrupt one.
    """

    __slots__ = ("_expected", "_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._expected = 1
        self._size = 0

    def add(self, apdu: bytes) -> bytes | None:
        """Take one GBT APDU; return the whole APDU once the last block is in."""
        if len(apdu) < 6:
            raise AxdrError("block transfer header too short")
        control = apdu[1]
        number = (apdu[2] << 8) | apdu[3]
        length, pos = read_length(apdu, 6)
        data = apdu[pos : pos + length]
        if len(data) != length:
            raise AxdrError(f"block says {length} bytes, frame has {len(data)}")
        if number == 1:
            self.reset()
        elif number != self._expected:
            expected = self._expected
            self.reset()
            raise AxdrError(f"block {number} arrived, expected block {expected}")
        self._parts.append(data)
        self._size += length
        self._expected = number + 1
        if self._size > MAX_BLOCK_MESSAGE:
            self.reset()
            raise AxdrError("block transfer message too large")
        if control & BlockControl.LAST_BLOCK:
            whole = b"".join(self._parts)
            self.reset()
            return whole
        return None

    def reset(self) -> None:
        """Forget a partial message."""
        self._parts = []
        self._expected = 1
        self._size = 0
