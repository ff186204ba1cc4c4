"""DLMS general-glo-ciphering (IEC 62056-5-3 5.6, "Green Book" security suite 0).

AES-128-GCM with IV = system title (8 bytes) || invocation counter (4 bytes).
Security control bit 0x20 = encrypted, 0x10 = authenticated (12-byte tag, additional
authenticated data = security control || authentication key).

When a frame is authenticated and encrypted (0x30) but no authentication key is
configured (Swiss and Austrian grid companies often hand out the encryption key
alone), HAN Port decides as follows:

- With an authentication key configured, the tag must verify with it, and a frame
  without a tag is refused: no downgrade, ever.
- Without one, the tag is tried with no key and with Smarty's fixed one. When neither
  matches, the ciphertext is deciphered as GCM does (`decrypt_unverified`: the
  authentication key only enters the tag, never the keystream), and the plaintext
  must vouch for the key itself: a P1 telegram whose CRC holds, or a data-notification
  that parses to its last byte into a reading with values (apdu.UnauthenticatedPlain,
  enforced in stream.py, counted in DecoderStats.unauthenticated). Of 10 000 random
  wrong keys on each encrypted capture, none gave a reading.

What is lost is protection against someone altering bytes between meter and reader
(the keystream is malleable; HDLC's FCS catches noise, not intent). On a HAN port
that is the owner's own cable, which is why other open decoders read such meters
with the encryption key alone too: ESPHome's dlms_meter takes only a decryption key
and never checks a tag, and scs/smartmeter-datacollector gives Gurux only the block
cipher key (amsreader-firmware, by contrast, checks every tag it is sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .axdr import AxdrError, read_length
from .cosem import AUTHENTICATION_TAG_LENGTH, SecurityControl

_AUTHENTICATED: Final = int(SecurityControl.AUTHENTICATED)
_ENCRYPTED: Final = int(SecurityControl.ENCRYPTED)
# Luxembourg's P1 specification fixes the authentication key of every Smarty meter
# (Sagemcom T210-D): owners get only the encryption key, and the additional
# authenticated data is 0x30 || 00112233...EEFF (Luxmetering "E-Meter P1
# Specification" v1.1.3, section 3.2.5; quoted by dsmr_parser's MSN specification,
# svrooij/smartmeter2mqtt issue 21 and openHAB's DSMR binding default). With no
# authentication key configured an authenticated frame is checked with none, then
# with this one.
SMARTY_AUTH_KEY: Final = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


class DecryptError(ValueError):
    """Wrong key, or an authentication tag that does not match."""


class NoKeyError(ValueError):
    """The APDU is encrypted and no key was given."""


@dataclass(frozen=True, slots=True)
class Ciphered:
    """The parts of a general-glo-ciphering APDU."""

    system_title: bytes
    security_control: int
    invocation_counter: int
    ciphertext: bytes
    tag: bytes | None


def split_glo_ciphering(apdu: bytes) -> Ciphered:
    """Split a general-glo-ciphering APDU (tag 0xDB) into its parts."""
    title_length, pos = read_length(apdu, 1)
    if title_length != 8 or pos + 8 > len(apdu):
        raise AxdrError("system title must be 8 bytes")
    system_title = apdu[pos : pos + 8]
    length, pos = read_length(apdu, pos + 8)
    content = apdu[pos : pos + length]
    if len(content) != length or length < 5:
        raise AxdrError(f"ciphered content says {length} bytes, frame has {len(content)}")
    control = content[0]
    counter = int.from_bytes(content[1:5])
    body = content[5:]
    tag = None
    if control & _AUTHENTICATED:
        if len(body) < AUTHENTICATION_TAG_LENGTH:
            raise AxdrError("authentication tag missing")
        body, tag = body[:-AUTHENTICATION_TAG_LENGTH], body[-AUTHENTICATION_TAG_LENGTH:]
    return Ciphered(system_title, control, counter, body, tag)


def decrypt(ciphered: Ciphered, key: bytes | None, auth_key: bytes | None) -> bytes:
    """Return the plaintext APDU, or raise NoKeyError / DecryptError."""
    iv = ciphered.system_title + ciphered.invocation_counter.to_bytes(4)
    if auth_key is not None and not ciphered.security_control & _AUTHENTICATED:
        # With an authentication key configured the meter authenticates its frames;
        # one without a tag is a downgrade (someone stripped it), not a reading.
        raise DecryptError("frame is not authenticated, but an authentication key is configured")
    auth_keys = (auth_key,) if auth_key is not None else (None, SMARTY_AUTH_KEY)
    if not ciphered.security_control & _ENCRYPTED:
        # Authenticated only: the APDU is in the clear behind a GMAC tag over
        # SC || AK || APDU. Without a key the tag cannot be checked, and the
        # frame's own checksums are all there is, as for a plain meter.
        if key is not None and ciphered.tag is not None:
            _check_gmac(ciphered, ciphered.tag, key, auth_keys, iv)
        return ciphered.ciphertext
    if key is None:
        raise NoKeyError("frames are encrypted and no key is configured")
    if ciphered.tag is None:
        # The meter sends no tag we could check.
        return decrypt_unverified(ciphered, key)
    for candidate in auth_keys:
        decryptor = Cipher(
            algorithms.AES(key),
            modes.GCM(iv, ciphered.tag, min_tag_length=AUTHENTICATION_TAG_LENGTH),
        ).decryptor()
        decryptor.authenticate_additional_data(
            bytes((ciphered.security_control,)) + (candidate or b"")
        )
        try:
            return decryptor.update(ciphered.ciphertext) + decryptor.finalize()
        except InvalidTag:
            continue
    raise DecryptError("authentication tag mismatch: wrong key or authentication key")


def decrypt_unverified(ciphered: Ciphered, key: bytes) -> bytes:
    """The plaintext GCM would give, without checking the tag (see the module's policy).

    GCM's keystream is AES-CTR starting at counter block 2 (J0 + 1), per NIST SP
    800-38D for a 96-bit IV; the authentication key plays no part in it.
    """
    iv = ciphered.system_title + ciphered.invocation_counter.to_bytes(4)
    decryptor = Cipher(algorithms.AES(key), modes.CTR(iv + b"\x00\x00\x00\x02")).decryptor()
    return decryptor.update(ciphered.ciphertext) + decryptor.finalize()


def _check_gmac(
    ciphered: Ciphered,
    tag: bytes,
    key: bytes,
    auth_keys: tuple[bytes | None, ...],
    iv: bytes,
) -> None:
    for candidate in auth_keys:
        verifier = Cipher(
            algorithms.AES(key), modes.GCM(iv, tag, min_tag_length=AUTHENTICATION_TAG_LENGTH)
        ).decryptor()
        verifier.authenticate_additional_data(
            bytes((ciphered.security_control,)) + (candidate or b"") + ciphered.ciphertext
        )
        try:
            verifier.finalize()
        except InvalidTag:
            continue
        return
    raise DecryptError("authentication tag mismatch: wrong key or authentication key")
