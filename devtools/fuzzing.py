"""Mutation fuzzer for the sans-IO decoder: one engine behind scripts/fuzz and test_fuzz.py.

Inputs start from the real captures in tests/fixtures/corpus.json and are changed in
two ways:

- on the wire, without touching the frame checks (bit flips, dropped and duplicated
  bytes, splices, truncation, chunking): these must die at the HCS/FCS, the M-Bus
  checksum or the P1 CRC, and show whether framing survives the damage;
- inside the frame, then sealed again (length, HCS/FCS, M-Bus checksum, P1 CRC and
  AES-GCM recomputed): these reach the A-XDR parser, the vendor rules, the compiled
  shapes and the GCM code, which a CRC would otherwise shield from the fuzzer.

Every input is one `Case`: the bytes, how they are cut into feed() calls, the decoder
options, and what the case may legitimately produce. `check()` runs it and returns
`Finding`s, each an invariant broken, with the exact input. Everything follows from
(seed, index), so any finding replays from those two numbers alone.

Nothing here imports pytest: scripts/fuzz runs the engine for minutes, test_fuzz.py
for a few seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
import math
from pathlib import Path
import random
import signal
import struct
import time
import traceback
import tracemalloc
from types import FrameType
from typing import Any, Final

from custom_components.han_port.han.cosem import Hdlc
from custom_components.han_port.han.crc import crc16_arc, crc16_x25
from custom_components.han_port.han.model import (
    MAX_RAW,
    MBUS_CHANNELS,
    MEDIA,
    Event,
    FrameError,
    Obis,
    Reading,
    Reason,
    Transport,
)
from custom_components.han_port.han.options import DecoderOptions
from custom_components.han_port.han.stream import StreamDecoder
from custom_components.han_port.han.vendors import VENDORS

from .builder import LLC_HEADER, encode_length, gbt_blocks, glo_ciphering
from .corpus import CORPUS_PATH, load, raw_bytes

# The decoder promises to hold at most one frame (P1: 8 KiB) whatever arrives.
BUFFER_LIMIT: Final = 10 * 1024
# A case that runs longer than this is a hang: no input of a few KiB needs it.
CASE_TIMEOUT: Final = 0.3
CASE_TIMEOUT_PER_BYTE: Final = 20e-6  # 4x the worst per-byte cost measured
# Framing errors: a frame sealed with correct checks must never produce one of these.
FRAMING_REASONS: Final = frozenset({Reason.CRC, Reason.TRUNCATED, Reason.LENGTH, Reason.FORMAT})

_LLC: Final = LLC_HEADER
_FLAG: Final = int(Hdlc.FLAG)
# Keys of the ciphered variants this module seals itself (see _ciphered_variants).
TEST_KEY: Final = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
TEST_AUTH_KEY: Final = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
# FLAG ids the vendor rules know, to steer mutated system titles into every branch.
_FLAG_IDS: Final = (
    *(flag_id.encode() for vendor in VENDORS for flag_id in vendor.flag_ids),
    b"XYZ",
)


class CaseTimeoutError(BaseException):
    """Raised by the CPU-time alarm in a case; BaseException so no `except Exception` eats it."""


# -- corpus material --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of a capture, split by this module (not by the decoder under test)."""

    start: int
    end: int  # exclusive
    # Bytes whose single corruption the frame check must catch (HDLC: format..FCS;
    # M-Bus: the whole frame; P1: "/" through the CRC digits).
    covered: tuple[int, int]
    header: bytes  # HDLC: dest + src + control; M-Bus: C A CI
    payload: bytes  # HDLC: information; M-Bus: after CI; P1: "/" .. "!" text
    segmented: bool = False


@dataclass(frozen=True, slots=True)
class Cipher:
    """How a ciphered capture was sealed, so a mutated plaintext can be sealed alike."""

    system_title: bytes
    counter: int
    security_control: int
    key: bytes
    auth_key: bytes | None


@dataclass(frozen=True, slots=True)
class Material:
    """A capture (or a capture re-sealed in another way) the fuzzer mutates."""

    name: str
    transport: Transport  # HDLC, MBUS or P1
    data: bytes
    options: DecoderOptions
    valid: bool
    frames: tuple[Frame, ...] = ()
    apdu: bytes | None = None  # plain data-notification (reassembled, decrypted)
    cipher: Cipher | None = None
    gbt: bool = False
    expected: frozenset[tuple[Any, ...]] = frozenset()  # reading keys of the pristine input


def _split_hdlc(data: bytes) -> tuple[Frame, ...]:
    frames: list[Frame] = []
    pos = 0
    while pos + 3 <= len(data) and data[pos] == _FLAG:
        if data[pos + 1] == _FLAG:
            pos += 1
            continue
        length = ((data[pos + 1] & 0x07) << 8) | data[pos + 2]
        end = pos + length + 2
        head = pos + 3
        for _ in range(2):  # destination, then source: the byte with LSB 1 ends each
            while head < len(data) and not data[head] & 1:
                head += 1
            head += 1
        header = data[pos + 3 : head + 1]
        information = data[head + 3 : end - 3] if end - 3 > head + 3 else b""
        frames.append(
            Frame(pos, end, (pos + 1, end - 1), header, information, bool(data[pos + 1] & 0x08))
        )
        pos = end
    return tuple(frames)


def _split_mbus(data: bytes) -> tuple[Frame, ...]:
    frames: list[Frame] = []
    pos = 0
    while pos + 4 <= len(data) and data[pos] == 0x68:
        end = pos + data[pos + 1] + 6
        frames.append(Frame(pos, end, (pos, end), data[pos + 4 : pos + 7], data[pos + 7 : end - 2]))
        pos = end
    return tuple(frames)


def _split_p1(data: bytes) -> tuple[Frame, ...]:
    start = data.index(b"/")
    bang = data.index(b"\n!", start) + 2
    crc_end = bang + 4 if data[bang : bang + 1] not in (b"\r", b"\n", b"") else bang
    return (Frame(start, crc_end, (start, crc_end), b"", data[start:bang]),)


def hdlc_frame(
    information: bytes,
    header: bytes = b"\x41\x08\x83\x13",
    *,
    segmented: bool = False,
    length: int | None = None,
) -> bytes:
    """Seal an HDLC type 3 frame; `length` lies in the length field (HCS still right)."""
    size = 2 + len(header) + (2 + len(information) if information else 0) + 2
    fmt = 0xA000 | (0x0800 if segmented else 0) | ((size if length is None else length) & 0x7FF)
    head = fmt.to_bytes(2) + header
    body = head + (crc16_x25(head).to_bytes(2, "little") + information if information else b"")
    return b"\x7e" + body + crc16_x25(body).to_bytes(2, "little") + b"\x7e"


def hdlc_message(information: bytes, header: bytes = b"\x41\x08\x83\x13") -> bytes:
    """One frame, or HDLC segments when the information exceeds the 11-bit length."""
    limit = 2000
    if len(information) <= limit:
        return hdlc_frame(information, header)
    parts = [information[i : i + limit] for i in range(0, len(information), limit)]
    return b"".join(
        hdlc_frame(part, header, segmented=index < len(parts) - 1)
        for index, part in enumerate(parts)
    )


def mbus_frame(user: bytes, c_a_ci: bytes = b"\x53\xff\x11") -> bytes:
    """Seal an M-Bus long frame: user = STSAP DTSAP + fragment (after C A CI)."""
    body = c_a_ci + user
    length = len(body) & 0xFF
    return bytes((0x68, length, length, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))


def mbus_message(apdu: bytes, c_a: bytes = b"\x53\xff", size: int = 245) -> bytes:
    """DLMS over M-Bus: segments of `size`, CI = sequence number | 0x10 on the last."""
    parts = [apdu[i : i + size] for i in range(0, len(apdu), size)] or [b""]
    return b"".join(
        mbus_frame(
            b"\x01\x67" + part, c_a + bytes(((index & 0x0F) | (0x10 * (index == len(parts) - 1)),))
        )
        for index, part in enumerate(parts)
    )


def gbt_message(apdu: bytes, header: bytes, size: int = 110) -> bytes:
    """DLMS general block transfer, one block per HDLC frame (as the L&G E450 sends)."""
    return b"".join(hdlc_frame(_LLC + block, header) for block in gbt_blocks(apdu, size))


def p1_seal(text: bytes) -> bytes:
    """A telegram from "/" through "!" completed with its CRC-16/ARC and CR LF."""
    return text + f"{crc16_arc(text):04X}\r\n".encode()


def _comparable(value: object) -> object:
    # repr() tells -0.0 from 0.0 and 1 from 1.0; ints past 4300 digits refuse repr()
    # (a bug of their own, reported as bad-value), so those compare by size and hash.
    if isinstance(value, int) and value.bit_length() > 1000:
        return ("huge int", value.bit_length(), hash(value))
    return repr(value)


def event_key(event: Event) -> tuple[Any, ...]:
    """An event as comparable data; unlike ==, tells 12:00+02:00 from 10:00+00:00."""
    if isinstance(event, Reading):
        values = tuple(
            (str(obis), type(m.value).__name__, _comparable(m.value), m.unit)
            for obis, m in event.values.items()
        )
        stamp = event.timestamp.isoformat() if event.timestamp else None
        return (
            "reading",
            values,
            event.meter_id,
            event.meter_type,
            event.manufacturer,
            event.list_version,
            stamp,
            event.transport,
            event.encrypted,
            event.system_title,
        )
    return ("error", event.reason, event.detail, event.raw)


def _decode(data: bytes, options: DecoderOptions) -> list[Event]:
    decoder = StreamDecoder(options)
    return decoder.feed(data) + decoder.flush()


def _reading_keys(events: Sequence[Event]) -> list[tuple[Any, ...]]:
    return [event_key(event) for event in events if isinstance(event, Reading)]


def load_materials(path: Path = CORPUS_PATH) -> list[Material]:
    """Every capture of the corpus, plus ciphered variants sealed with our test keys."""
    materials: list[Material] = []
    for entry in load(path):
        data = raw_bytes(entry)
        transport = {"hdlc": Transport.HDLC, "mbus": Transport.MBUS}.get(
            entry["transport"], Transport.P1
        )
        key = bytes.fromhex(entry["key_hex"]) if entry.get("key_hex") else None
        auth = bytes.fromhex(entry["auth_key_hex"]) if entry.get("auth_key_hex") else None
        options = DecoderOptions(key=key, auth_key=auth, country=entry["country"])
        material = Material(entry["id"], transport, data, options, bool(entry["valid"]))
        if material.valid:
            material = _describe(material, entry)
        materials.append(material)
    materials += _ciphered_variants(materials)
    return materials


def _describe(material: Material, entry: dict[str, Any]) -> Material:
    """Split a valid capture into frames and find its plain APDU."""
    data = material.data
    frames: tuple[Frame, ...]
    apdu = None
    cipher = None
    gbt = False
    if material.transport == Transport.HDLC:
        frames = _split_hdlc(data)
        if entry.get("reassembled_apdu_hex"):
            apdu = bytes.fromhex(entry["reassembled_apdu_hex"])
            gbt = True
        else:
            information = frames[0].payload
            apdu = information[3:] if information[:2] == b"\xe6\xe7" else information
    elif material.transport == Transport.MBUS:
        frames = _split_mbus(data)
        apdu = bytes.fromhex(entry["plaintext_apdu_hex"])
        gcm = entry["expected"]["gcm"]
        key = material.options.key
        assert key is not None
        cipher = Cipher(
            bytes.fromhex(gcm["system_title"]),
            int(gcm["frame_counter"], 16),
            int(gcm["security_control"], 16),
            key,
            material.options.auth_key,
        )
    else:
        frames = _split_p1(data)
    expected = frozenset(_reading_keys(_decode(data, material.options)))
    if not expected:
        raise ValueError(f"{material.name}: a valid capture gave no reading")
    return replace(material, frames=frames, apdu=apdu, cipher=cipher, gbt=gbt, expected=expected)


def _ciphered_variants(materials: Sequence[Material]) -> list[Material]:
    """HDLC and M-Bus captures re-sealed with authenticated encryption (SC 0x30).

    The corpus has one ciphered capture and it carries no tag (SC 0x21); these put the
    GCM tag check and the HDLC + ciphering combination in the fuzzer's reach.
    """
    variants = []
    by_name = {material.name: material for material in materials}
    for name, title in (
        ("kamstrup-no-list2-3ph-2022-hassams", b"KAM\x00\x01\x02\x03\x04"),
        ("kaifa-at-ma309-mbus-encrypted-tinetz-example", b"KFM\x10\x10\x00\x00\x23"),
    ):
        base = by_name[name]
        assert base.apdu is not None
        cipher = Cipher(title, 0x1234, 0x30, TEST_KEY, TEST_AUTH_KEY)
        options = replace(base.options, key=TEST_KEY, auth_key=TEST_AUTH_KEY)
        material = replace(base, name=f"{name}+gcm-test-key", options=options, cipher=cipher)
        data = seal(material, base.apdu)
        material = replace(material, data=data)
        transport_frames = (
            _split_hdlc(data) if base.transport == Transport.HDLC else _split_mbus(data)
        )
        expected = frozenset(_reading_keys(_decode(data, options)))
        variants.append(replace(material, frames=transport_frames, expected=expected))
    return variants


def seal_cipher(cipher: Cipher, apdu: bytes) -> bytes:
    return glo_ciphering(
        apdu,
        system_title=cipher.system_title,
        invocation_counter=cipher.counter,
        key=cipher.key,
        auth_key=cipher.auth_key,
        security_control=cipher.security_control,
    )


def seal(material: Material, apdu: bytes, cipher: Cipher | None = None) -> bytes:
    """Frame an APDU the way the material's meter does, every check computed."""
    cipher = cipher or material.cipher
    wire = seal_cipher(cipher, apdu) if cipher is not None else apdu
    return seal_wire(material, wire)


def seal_wire(material: Material, wire: bytes) -> bytes:
    """Frame an already ciphered (or plain) APDU for the material's transport."""
    header = material.frames[0].header if material.frames else b"\x41\x08\x83\x13"
    if material.transport == Transport.MBUS:
        return mbus_message(wire, header[:2] if len(header) >= 2 else b"\x53\xff")
    if material.gbt:
        return gbt_message(wire, header)
    return hdlc_message(_LLC + wire, header)


# -- A-XDR structure, walked independently of the decoder -------------------------------

_FIXED_SIZES: Final = {
    0x00: 0, 0x03: 1, 0x0D: 1, 0x0F: 1, 0x11: 1, 0x16: 1, 0x10: 2, 0x12: 2,
    0x05: 4, 0x06: 4, 0x17: 4, 0x14: 8, 0x15: 8, 0x18: 8, 0x19: 12,
}  # fmt: skip
_NUMERIC_FORMATS: Final = {
    0x0F: "b", 0x11: "B", 0x16: "B", 0x10: "h", 0x12: "H", 0x05: "i", 0x06: "I",
    0x14: "q", 0x15: "Q", 0x17: "f", 0x18: "d",
}  # fmt: skip
_STRING_TAGS: Final = frozenset({0x09, 0x0A, 0x0C, 0x04})
_NESTED_TAGS: Final = frozenset({0x01, 0x02})


@dataclass(slots=True)
class Node:
    """One A-XDR element: tag at start, length/count field up to body, content to end."""

    start: int
    body: int
    end: int
    tag: int
    children: list[Node] = field(default_factory=list)


def _read_length(buf: bytes, pos: int) -> tuple[int, int]:
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if not 0 < size <= 4 or pos + 1 + size > len(buf):
        raise ValueError("bad length")
    return int.from_bytes(buf[pos + 1 : pos + 1 + size]), pos + 1 + size


def walk(buf: bytes, pos: int, depth: int = 0) -> Node:
    """The element at buf[pos]; ValueError/IndexError if it is not well-formed."""
    if depth > 40:
        raise ValueError("too deep to walk")
    tag = buf[pos]
    if tag in _NESTED_TAGS:
        count, body = _read_length(buf, pos + 1)
        if count > len(buf):
            raise ValueError("count")
        node = Node(pos, body, body, tag)
        cursor = body
        for _ in range(count):
            child = walk(buf, cursor, depth + 1)
            node.children.append(child)
            cursor = child.end
        node.end = cursor
        return node
    if tag in _STRING_TAGS:
        size, body = _read_length(buf, pos + 1)
        if tag == 0x04:
            size = (size + 7) // 8
        if body + size > len(buf):
            raise ValueError("string")
        return Node(pos, body, body + size, tag)
    fixed = _FIXED_SIZES.get(tag)
    if fixed is None or pos + 1 + fixed > len(buf):
        raise ValueError("tag")
    return Node(pos, pos + 1, pos + 1 + fixed, tag)


def body_offset(apdu: bytes) -> int:
    """Where a data-notification's body starts (after the optional header date-time)."""
    if len(apdu) < 6:
        raise ValueError("short")
    marker = apdu[5]
    if marker == 0x00:
        return 6
    if marker == 0x0C:
        return 18
    if marker == 0x09 and apdu[6:7] == b"\x0c":
        return 19
    raise ValueError("header")


def nodes_of(apdu: bytes) -> list[Node]:
    """Every element of a data-notification body, parents before children."""
    try:
        root = walk(apdu, body_offset(apdu))
    except ValueError, IndexError:
        return []
    found: list[Node] = []
    stack = [root]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


# -- generators of hostile A-XDR --------------------------------------------------------

_EXTREME_INTS: Final = {
    "b": (-128, -1, 0, 1, 127),
    "B": (0, 1, 0x7F, 0x80, 0xFF),
    "h": (-0x8000, -1, 0, 0x7FFF),
    "H": (0, 0x7FFF, 0x8000, 0xFFFF),
    "i": (-0x80000000, -1, 0, 0x7FFFFFFF),
    "I": (0, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF),
    "q": (-(2**63), -1, 0, 2**63 - 1),
    "Q": (0, 2**63, 2**64 - 1),
}
_EXTREME_FLOATS: Final = (
    0.0, -0.0, math.nan, math.inf, -math.inf, 1e308, -1e308, 3.4e38, 5e-324, 1e-45,
)  # fmt: skip
_UNKNOWN_TAGS: Final = (0x07, 0x08, 0x0B, 0x0E, 0x13, 0x1A, 0x1B, 0x7E, 0x80, 0xDB, 0xFF)


def random_numeric(rng: random.Random, tag: int | None = None) -> bytes:
    tag = tag if tag is not None else rng.choice(list(_NUMERIC_FORMATS))
    code = _NUMERIC_FORMATS[tag]
    if code in "fd":
        value: float = rng.choice(_EXTREME_FLOATS) if rng.random() < 0.6 else rng.uniform(-1e9, 1e9)
        if code == "f" and math.isfinite(value) and abs(value) > 3.4e38:
            value = math.copysign(math.inf, value)  # beyond float32: its infinity
        return bytes((tag,)) + struct.pack(">" + code, value)
    size = struct.calcsize(code)
    if rng.random() < 0.6:
        return bytes((tag,)) + struct.pack(">" + code, rng.choice(_EXTREME_INTS[code]))
    return bytes((tag,)) + rng.randbytes(size)


def random_element(rng: random.Random, depth: int = 0) -> bytes:
    """A random A-XDR element, lying about its size now and then."""
    roll = rng.random()
    if roll < 0.35:
        return random_numeric(rng)
    if roll < 0.55:
        tag = rng.choice((0x09, 0x0A, 0x0C, 0x04))
        content = rng.choice(
            (
                b"",
                rng.randbytes(rng.randint(1, 16)),
                b"\x07\xe8\x02\x1d\x04\x16\x30\x32\xff\x80\x00\x00",
            )
        )
        length = (
            len(content) if rng.random() < 0.8 else rng.choice((len(content) + 1, 0x7F, 0xFFFF))
        )
        return bytes((tag,)) + encode_length(length) + content
    if roll < 0.75 and depth < 4:
        count = rng.randint(0, 4)
        items = b"".join(random_element(rng, depth + 1) for _ in range(count))
        if rng.random() < 0.15:
            count = rng.choice((count + 1, count - 1 if count else 0x80, 0xFFFF))
        return bytes((rng.choice((0x01, 0x02)),)) + encode_length(count) + items
    if roll < 0.85:
        return bytes((rng.choice((0x00, 0x03, 0x0D, 0x19)),)) + rng.randbytes(
            rng.choice((0, 1, 12))
        )
    return bytes((rng.choice(_UNKNOWN_TAGS),)) + rng.randbytes(rng.randint(0, 4))


def deep_structure(depth: int, leaf: bytes = b"\x00") -> bytes:
    """structure { structure { ... leaf } } nested `depth` deep."""
    return b"\x02\x01" * depth + leaf


def huge_array(count: int = 0xFFFFFFFF) -> bytes:
    """An array whose 0x84 long-form count claims far more elements than follow."""
    return b"\x01\x84" + count.to_bytes(4) + b"\x12\x00\x01" * 3


def huge_string(size: int = 0xFFFF, *, tag: int = 0x09, present: int | None = None) -> bytes:
    """An octet-string of 0x82 FFFF bytes, of which `present` are really there."""
    have = size if present is None else present
    return (
        bytes((tag, 0x82))
        + size.to_bytes(2)
        + bytes(range(256)) * (have // 256)
        + bytes(have % 256)
    )


def data_notification(body: bytes, header: bytes = b"\x00") -> bytes:
    """0F, long-invoke-id-and-priority, optional date-time, body."""
    return b"\x0f\x00\x00\x00\x01" + header + body


# -- cases --------------------------------------------------------------------------------

GUARD_NONE: Final = "none"  # anything valid may come out
GUARD_SUBSET: Final = "subset"  # only readings the pristine capture gives
GUARD_NOTHING: Final = "nothing"  # a corrupted message: no reading at all


@dataclass(frozen=True, slots=True)
class Case:
    """One fuzz input and what it may produce."""

    category: str
    data: bytes
    options: DecoderOptions
    cuts: tuple[int, ...] = ()  # feed() boundaries inside data
    guard: str = GUARD_NONE
    allowed: frozenset[tuple[Any, ...]] = frozenset()
    # Sealed cases: the unmutated message of the same shape, to prime the shape cache.
    baseline: bytes | None = None
    sealed: bool = False  # every frame check is right: no framing error may appear
    origin: str = ""  # "--seed S --replay I" for cases the Generator drew

    def chunks(self) -> Iterator[bytes]:
        previous = 0
        for cut in (*self.cuts, len(self.data)):
            yield self.data[previous:cut]
            previous = cut

    def describe(self) -> str:
        options = self.options
        keys = []
        if options.key:
            keys.append(f"key={options.key.hex()}")
        if options.auth_key:
            keys.append(f"auth_key={options.auth_key.hex()}")
        return (
            f"{self.origin + ' ' if self.origin else ''}"
            f"category={self.category} transport={options.transport} country={options.country} "
            f"{' '.join(keys)} cuts={list(self.cuts)}\n{self.data.hex()}"
        )


def _random_cuts(rng: random.Random, size: int) -> tuple[int, ...]:
    roll = rng.random()
    if roll < 0.5 or size < 2:
        return ()
    if roll < 0.55 and size <= 2048:
        return tuple(range(1, size))  # a byte at a time: the worst case for rescans
    if roll < 0.7:
        step = rng.choice((3, 7, 16, 64, 255, 1024))
        return tuple(range(step, size, step))
    return tuple(sorted(rng.sample(range(1, size), min(size - 1, rng.randint(1, 12)))))


def _options(
    rng: random.Random, material: Material | None, *, keep: bool = False
) -> DecoderOptions:
    """The material's options, with transport (and now and then keys/country) varied."""
    base = material.options if material else DecoderOptions()
    native = material.transport if material else Transport.AUTO
    if keep:
        return replace(base, transport=rng.choice((Transport.AUTO, native)))
    transport = rng.choice(
        (
            Transport.AUTO,
            Transport.AUTO,
            native,
            native,
            rng.choice((Transport.HDLC, Transport.MBUS, Transport.P1)),
        )
    )
    options = replace(base, transport=transport)
    roll = rng.random()
    if roll < 0.05:
        options = replace(options, key=None, auth_key=None)
    elif roll < 0.1:
        options = replace(
            options, key=rng.randbytes(16), auth_key=rng.choice((None, rng.randbytes(16)))
        )
    if rng.random() < 0.1:
        options = replace(options, country=rng.choice((None, "SE", "NO", "AT")))
    return options


class Generator:
    """Turns (seed, index) into a Case; the same pair always gives the same case."""

    def __init__(self, materials: Sequence[Material]) -> None:
        self.materials = list(materials)
        self.valid = [m for m in self.materials if m.valid]
        self.binary_valid = [m for m in self.valid if m.transport != Transport.P1]
        self.with_apdu = [m for m in self.valid if m.apdu is not None]
        self.p1 = [m for m in self.valid if m.transport == Transport.P1]
        self._nodes = {m.name: nodes_of(m.apdu) for m in self.with_apdu if m.apdu}
        # (weight, generator): sealed content mutations dominate, since they reach
        # the deepest code; wire damage and pure noise keep framing honest.
        self.recipes: list[tuple[float, Callable[[random.Random], Case]]] = [
            (12, self.wire_guaranteed),
            (6, self.wire_truncated),
            (12, self.wire_damaged),
            (4, self.wire_splice),
            (4, self.random_bytes),
            (3, self.random_sealed_frame),
            (22, self.sealed_structure),
            (10, self.sealed_bytes),
            (6, self.sealed_cipher),
            (3, self.gcm_tag_broken),
            (1, self.gcm_tag_stripped),
            (5, self.sealed_p1),
            (3, self.hostile),
            (3, self.length_lies),
            (3, self.stacked),
        ]
        total = sum(weight for weight, _ in self.recipes)
        self._cumulative: list[float] = []
        running = 0.0
        for weight, _ in self.recipes:
            running += weight / total
            self._cumulative.append(running)

    def case(self, seed: int, index: int) -> Case:
        rng = random.Random(seed * 1_000_003 + index)
        roll = rng.random()
        recipe = self.recipes[-1][1]
        for threshold, (_, candidate) in zip(self._cumulative, self.recipes, strict=True):
            if roll <= threshold:
                recipe = candidate
                break
        return replace(recipe(rng), origin=f"--seed {seed} --replay {index}")

    # -- on the wire, checks left as they were -----------------------------------------

    def wire_guaranteed(self, rng: random.Random) -> Case:
        """1-3 bit flips or one changed byte inside one frame's checked bytes.

        CRC-16/X-25 and CRC-16/ARC detect every error of up to 3 bits in frames under
        4 KiB (Hamming distance 4) and every single-byte burst; the M-Bus byte sum
        detects any single changed byte. So the message must not give a reading, and
        for P1 (whose CRC digits can turn into CR LF = a DSMR 2.2 telegram without CRC)
        no reading other than the pristine one.
        """
        material = rng.choice(self.valid)
        frame = rng.choice(material.frames)
        low, high = frame.covered
        data = bytearray(material.data)
        if material.transport == Transport.MBUS or rng.random() < 0.4:
            where = rng.randrange(low, high)
            data[where] ^= rng.randint(1, 255)
            category = "wire-byte"
        else:
            for bit in rng.sample(range(low * 8, high * 8), rng.randint(1, 3)):
                data[bit // 8] ^= 1 << (bit % 8)
            category = "wire-bitflip"
        guard = GUARD_SUBSET if material.transport == Transport.P1 else GUARD_NOTHING
        return Case(
            category,
            bytes(data),
            _options(rng, material, keep=True),
            _random_cuts(rng, len(data)),
            guard,
            material.expected,
        )

    def wire_truncated(self, rng: random.Random) -> Case:
        material = rng.choice(self.materials)
        data = material.data[: rng.randrange(len(material.data))]
        guard = GUARD_SUBSET if material.valid else GUARD_NONE
        return Case(
            "wire-truncated",
            data,
            _options(rng, material, keep=material.valid),
            _random_cuts(rng, len(data)),
            guard,
            material.expected,
        )

    def wire_damaged(self, rng: random.Random) -> Case:
        """Dropped, duplicated, inserted bytes and stray flags, checks not recomputed.

        A shifted frame's FCS is a 1-in-65536 coincidence, not a guarantee, so these
        cases only check that nothing breaks (readings are counted, not judged).
        """
        material = rng.choice(self.materials)
        data = bytearray(material.data)
        for _ in range(rng.randint(1, 3)):
            data = _damage(rng, data)
        return Case(
            "wire-damaged", bytes(data), _options(rng, material), _random_cuts(rng, len(data))
        )

    def wire_splice(self, rng: random.Random) -> Case:
        first, second = rng.choice(self.materials), rng.choice(self.materials)
        data = (
            first.data[: rng.randint(0, len(first.data))]
            + second.data[rng.randint(0, len(second.data)) :]
        )
        if rng.random() < 0.3:  # whole captures back to back, with noise between
            data = first.data + rng.randbytes(rng.randint(0, 40)) + second.data
        return Case(
            "wire-splice",
            data,
            _options(rng, rng.choice((first, second))),
            _random_cuts(rng, len(data)),
        )

    def random_bytes(self, rng: random.Random) -> Case:
        size = rng.choice((0, 1, 2, 3, 7, 64, 300, 2048, 9000, 40_000))
        if rng.random() < 0.5:
            data = rng.randbytes(size)
        else:  # bytes that open frames, so every parser gets a go at the noise
            alphabet = (
                b"\x7e\x68\x2f\x21\x0d\x0a\xa0\xa8\x16\xe6\xe7\x00\x0f\xdb\xe0"
                b"KFM0123456789ABCDEF:-.()*"
            )
            data = bytes(rng.choice(alphabet) for _ in range(min(size, 9000)))
        return Case("random-bytes", data, _options(rng, None), _random_cuts(rng, len(data)))

    def random_sealed_frame(self, rng: random.Random) -> Case:
        """Random content behind correct checks: straight into the APDU layer."""
        body = rng.choice(
            (rng.randbytes(rng.randint(0, 300)), data_notification(random_element(rng)))
        )
        roll = rng.random()
        if roll < 0.5:
            data = hdlc_frame(rng.choice((_LLC, b"")) + body)
            transport = Transport.HDLC
        elif roll < 0.8:
            data = mbus_message(body)
            transport = Transport.MBUS
        else:
            data = p1_seal(
                b"/" + rng.randbytes(rng.randint(0, 200)).replace(b"\n!", b"") + b"\r\n!"
            )
            transport = Transport.P1
        options = DecoderOptions(transport=rng.choice((Transport.AUTO, transport)))
        return Case(
            "random-sealed",
            data,
            options,
            _random_cuts(rng, len(data)),
            sealed=transport != Transport.P1,
        )

    # -- inside the frame, sealed again -------------------------------------------------

    def _sealed_case(
        self,
        rng: random.Random,
        material: Material,
        category: str,
        apdu: bytes,
        cipher: Cipher | None = None,
    ) -> Case:
        data = seal(material, apdu, cipher)
        options = replace(material.options, transport=material.transport)
        oversize = len(apdu) > 65000  # the decoder drops over-long messages by design
        return Case(
            category,
            data,
            options,
            _random_cuts(rng, len(data)) if rng.random() < 0.3 else (),
            baseline=material.data,
            sealed=not oversize,
        )

    def sealed_structure(self, rng: random.Random) -> Case:
        material = rng.choice(self.with_apdu)
        assert material.apdu is not None
        apdu = material.apdu
        nodes = self._nodes[material.name]
        name = "sealed-axdr"
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            if not nodes:
                apdu = bytes(_mutate_bytes(rng, apdu))
                continue
            apdu, name = _mutate_structure(rng, apdu, rng.choice(nodes))
            nodes = nodes_of(apdu)
        return self._sealed_case(rng, material, name, apdu)

    def sealed_bytes(self, rng: random.Random) -> Case:
        material = rng.choice(self.with_apdu)
        assert material.apdu is not None
        apdu = bytearray(material.apdu)
        for _ in range(rng.randint(1, 3)):
            apdu = _mutate_bytes(rng, apdu)
        return self._sealed_case(rng, material, "sealed-bytes", bytes(apdu))

    def sealed_cipher(self, rng: random.Random) -> Case:
        """Mutated plaintext, re-encrypted; now and then the security header mutated too."""
        material = rng.choice([m for m in self.with_apdu if m.cipher is not None])
        assert material.apdu is not None
        assert material.cipher is not None
        apdu = material.apdu
        if rng.random() < 0.7:
            nodes = self._nodes[material.name]
            apdu = (
                _mutate_structure(rng, apdu, rng.choice(nodes))[0]
                if nodes and rng.random() < 0.6
                else bytes(_mutate_bytes(rng, apdu))
            )
        cipher = material.cipher
        roll = rng.random()
        if roll < 0.25:
            cipher = replace(cipher, system_title=rng.choice(_FLAG_IDS) + rng.randbytes(5))
        elif roll < 0.35:
            cipher = replace(cipher, counter=rng.choice((0, 0xFFFFFFFF, rng.getrandbits(32))))
        elif roll < 0.5:
            cipher = replace(
                cipher, security_control=rng.choice((0x00, 0x10, 0x20, 0x21, 0x30, 0x31, 0xFF))
            )
        return self._sealed_case(rng, material, "sealed-cipher", apdu, cipher)

    def gcm_tag_broken(self, rng: random.Random) -> Case:
        """An authenticated APDU with one bit of its body or tag flipped, frame resealed.

        The frame checks pass, so only the GCM tag stands between the flip and a
        reading: the decoder must give none.
        """
        material = rng.choice(
            [m for m in self.with_apdu if m.cipher is not None and m.cipher.security_control & 0x10]
        )
        assert material.apdu is not None
        assert material.cipher is not None
        # 0x30 ciphers and authenticates; 0x10 sends plaintext behind a GMAC tag.
        cipher = replace(material.cipher, security_control=rng.choice((0x30, 0x10)))
        wire = bytearray(seal_cipher(cipher, material.apdu))
        bit = rng.randrange(_ciphered_content(bytes(wire)) * 8, len(wire) * 8)
        wire[bit // 8] ^= 1 << (bit % 8)
        data = seal_wire(material, bytes(wire))
        return Case(
            "gcm-tag-broken",
            data,
            replace(material.options, transport=rng.choice((Transport.AUTO, material.transport))),
            _random_cuts(rng, len(data)),
            GUARD_NOTHING,
        )

    def gcm_tag_stripped(self, rng: random.Random) -> Case:
        """An authenticated APDU turned into an unauthenticated one, a value bit flipped.

        What someone on the wire can do without the key: clear the authentication bit
        of the security control, drop the tag, and flip ciphertext bits, which in GCM's
        counter mode flip the same plaintext bits. With an authentication key set, the
        decoder has every reason to expect a tag; a reading from this frame is one the
        key holder never sent.
        """
        material = rng.choice(
            [m for m in self.with_apdu if m.cipher is not None and m.cipher.security_control & 0x10]
        )
        assert material.apdu is not None
        assert material.cipher is not None
        wire = seal_cipher(material.cipher, material.apdu)
        content = _ciphered_content(wire)
        body = bytearray(wire[content:-12])
        numbers = [node for node in self._nodes[material.name] if node.tag in _NUMERIC_FORMATS]
        node = rng.choice(numbers)
        body[rng.randrange(node.body, node.end)] ^= 1 << rng.randrange(8)
        security = bytes((material.cipher.security_control & ~0x10,))
        inner = security + wire[content - 4 : content] + bytes(body)
        stripped = wire[:10] + encode_length(len(inner)) + inner
        data = seal_wire(material, stripped)
        return Case(
            "gcm-tag-stripped",
            data,
            replace(material.options, transport=material.transport),
            (),
            GUARD_NOTHING,
        )

    def sealed_p1(self, rng: random.Random) -> Case:
        material = rng.choice(self.p1)
        text = material.frames[0].payload  # "/" .. "!"
        lines = text.split(b"\n")
        for _ in range(rng.randint(1, 3)):
            lines = _mutate_p1_lines(rng, lines)
        body = b"\n".join(lines)
        if not body.startswith(b"/"):
            body = b"/" + body
        if not body.endswith(b"\n!"):
            body += b"\r\n!"
        data = p1_seal(body)
        options = replace(material.options, transport=rng.choice((Transport.AUTO, Transport.P1)))
        return Case(
            "sealed-p1",
            data,
            options,
            _random_cuts(rng, len(data)),
            baseline=material.data if options.transport == Transport.P1 else None,
        )

    def hostile(self, rng: random.Random) -> Case:
        """The issue's named monsters: deep nesting, huge counts, 64 KiB strings, flags."""
        material = rng.choice(self.with_apdu)
        kind = rng.choice(("deep", "deep", "count", "string", "string-cut", "flags", "empty"))
        header = rng.choice(
            (
                b"\x00",
                b"\x0c" + bytes(12),
                b"\x09\x0c" + b"\x07\xe8\x02\x1d\x04\x16\x30\x32\xff\x80\x00\x00",
            )
        )
        if kind == "deep":
            body = deep_structure(rng.choice((15, 16, 17, 64, 1000)), random_element(rng))
        elif kind == "count":
            body = (
                b"\x02\x02"
                + huge_array(rng.choice((0xFFFFFFFF, 0x7FFFFFFF, 0x10000, 4097)))
                + b"\x00"
            )
        elif kind == "string":
            body = b"\x02\x01" + huge_string(
                rng.choice((0xFFFF, 0xFF00, 0x8000)), tag=rng.choice((0x09, 0x0A, 0x0C))
            )
        elif kind == "string-cut":
            body = b"\x02\x02" + huge_string(0xFFFF, present=rng.randint(0, 600)) + b"\x00"
        elif kind == "flags":
            body = (
                b"\x02\x03\x09\x06\x7e\x7e\x7e\x7e\x7e\x7e\x0a\x03\x7e\xa0\x7e\x06\x7e\x7e\x7e\x7e"
            )
        else:
            body = b""
        return self._sealed_case(rng, material, f"hostile-{kind}", data_notification(body, header))

    def length_lies(self, rng: random.Random) -> Case:
        """Length fields pointing past the end, with the check that covers them right."""
        material = rng.choice(self.binary_valid)
        frame = rng.choice(material.frames)
        if material.transport == Transport.HDLC:
            true_length = frame.end - frame.start - 2
            lie = rng.choice((true_length + 1, true_length + 2, 0x7FF, true_length - 1, 0, 5))
            data = hdlc_frame(frame.payload, frame.header, segmented=frame.segmented, length=lie)
        else:
            length = rng.choice((0xFF, 3, 0, len(frame.payload)))
            body = frame.header + frame.payload
            data = bytes((0x68, length, length, 0x68)) + body + bytes((sum(body) & 0xFF, 0x16))
        data = material.data[: frame.start] + data + material.data[frame.end :]
        if rng.random() < 0.5:
            data += material.data  # a good copy follows: it must not be lost
        return Case(
            "length-lie", data, _options(rng, material, keep=True), _random_cuts(rng, len(data))
        )

    def stacked(self, rng: random.Random) -> Case:
        """Several cases glued into one stream, to carry decoder state across them."""
        parts = [self.case(rng.getrandbits(32), index) for index in range(rng.randint(2, 4))]
        parts = [part for part in parts if len(part.data) < 20_000]
        data = b"".join(part.data for part in parts)
        options = parts[0].options if parts else DecoderOptions()
        return Case("stacked", data, options, _random_cuts(rng, len(data)))


def _ciphered_content(wire: bytes) -> int:
    """Where the ciphertext starts: DB 08 <title> <length> | SC <counter> | ciphertext."""
    first = wire[10]
    return 10 + (1 if first < 0x80 else 1 + (first & 0x7F)) + 5


def _damage(rng: random.Random, data: bytearray) -> bytearray:
    if not data:
        return bytearray(rng.randbytes(rng.randint(0, 8)))
    where = rng.randrange(len(data))
    roll = rng.random()
    if roll < 0.2:
        del data[where : where + rng.choice((1, 1, 2, 5, 50))]
    elif roll < 0.4:
        size = rng.choice((1, 1, 2, 16, 300))
        data[where:where] = data[where : where + size]
    elif roll < 0.55:
        data[where:where] = rng.randbytes(rng.choice((1, 2, 8)))
    elif roll < 0.7:
        data[where:where] = bytes((rng.choice((0x7E, 0x68, 0x2F, 0x21, 0x0A)),)) * rng.randint(1, 3)
    elif roll < 0.85:
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    else:
        data[where] = rng.randrange(256)
    return data


def _mutate_bytes(rng: random.Random, apdu: bytes | bytearray) -> bytearray:
    data = bytearray(apdu)
    if not data:
        return bytearray(rng.randbytes(rng.randint(1, 8)))
    roll = rng.random()
    where = rng.randrange(len(data))
    if roll < 0.3:
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
    elif roll < 0.5:
        data[where] = rng.choice((0x00, 0xFF, 0x7E, 0x80, 0x7F, rng.randrange(256)))
    elif roll < 0.6:
        del data[where : where + rng.randint(1, 4)]
    elif roll < 0.7:
        data[where:where] = rng.randbytes(rng.randint(1, 4))
    elif roll < 0.8:
        del data[rng.randrange(len(data)) :]
    elif roll < 0.9:
        data += rng.randbytes(rng.randint(1, 16))
    else:
        data[where : where + 2] = b"\x7e\x7e"  # flags inside the payload
    return data


def _length_field(node: Node) -> tuple[int, int] | None:
    """(start, end) of the node's length/count field, if it has one."""
    if node.tag in _NESTED_TAGS or node.tag in _STRING_TAGS:
        return node.start + 1, node.body
    return None


def _mutate_structure(rng: random.Random, apdu: bytes, node: Node) -> tuple[bytes, str]:
    """One A-XDR-aware change at `node`; returns the APDU and the mutation's name."""
    roll = rng.random()
    before, after = apdu[: node.start], apdu[node.end :]
    span = _length_field(node)
    if roll < 0.2 and span is not None:
        lie = rng.choice((
            encode_length(len(apdu) + 1), b"\x7f", b"\x81\xff", b"\x82\xff\xff",
            b"\x84\xff\xff\xff\xff", b"\x84\x7f\xff\xff\xff", b"\x80", b"\x85\x00\x00\x00\x00\x01",
            encode_length(max(0, len(node.children) - 1)), encode_length(len(node.children) + 1),
        ))  # fmt: skip
        return apdu[: span[0]] + lie + apdu[span[1] :], "sealed-axdr-length"
    if roll < 0.4:
        return before + random_element(rng) + after, "sealed-axdr-replace"
    if roll < 0.55 and node.tag in _NUMERIC_FORMATS:
        # Another numeric type, extreme value: a scaler as u32, a value as float64.
        return before + random_numeric(rng) + after, "sealed-axdr-retype"
    if roll < 0.65:
        raw = apdu[node.start : node.end]
        return before + (raw + raw if rng.random() < 0.5 else b"") + after, "sealed-axdr-dupdrop"
    if roll < 0.75:
        return before + deep_structure(
            rng.choice((1, 14, 15, 16, 17, 1000)), apdu[node.start : node.end]
        ) + after, "sealed-axdr-nest"
    if roll < 0.8:
        return before + huge_array(
            rng.choice((0xFFFFFFFF, 4096, 4097))
        ) + after, "sealed-axdr-count"
    if roll < 0.85:
        return before + huge_string(
            rng.choice((0xFFFF, 300, 3000)),
            tag=rng.choice((0x09, 0x0A, 0x0C)),
            present=rng.choice((None, 10)),
        ) + after, "sealed-axdr-string"
    if node.tag in _NUMERIC_FORMATS:
        return before + random_numeric(rng, node.tag) + after, "sealed-axdr-value"
    content = bytearray(apdu[node.body : node.end])
    if content:
        content[rng.randrange(len(content))] = rng.randrange(256)
    return apdu[: node.body] + bytes(content) + after, "sealed-axdr-content"


_P1_SNIPPETS: Final = (
    b"1-0:1.8.0(99999999999999999999.99999999999999999999*kWh)\r",
    b"1-0:1.7.0(-0.5*kW)\r",
    b"1-0:1.7.0(1e308*kW)\r",
    b"1-0:1.7.0(NaN*kW)\r",
    b"0-0:1.0.0(991332256161X)\r",
    b"0-0:1.0.0(20241301 25:61:61)\r",
    b"1-0:4:24.7.0(1*W)\r",
    b"1-0:1.7.0((((1*W)))\r",
    b"1-0:1.7.0(" + b"9" * 60 + b"*kW)\r",
    b"0-1:24.2.1(101209112500W)(12785.123*m3)\r",
    b"(00001.001)\r",
    b"!\r",
    b"\r",
    b"256-0:1.8.0(1*kWh)\r",
    b"1-0:1.8.0(1*" + b"k" * 40 + b")\r",
)


def _mutate_p1_lines(rng: random.Random, lines: list[bytes]) -> list[bytes]:
    lines = list(lines)
    where = rng.randrange(len(lines))
    roll = rng.random()
    if roll < 0.3:
        lines.insert(where, rng.choice(_P1_SNIPPETS))
    elif roll < 0.45:
        lines.insert(where, lines[where])
    elif roll < 0.55 and len(lines) > 2:
        del lines[where]
    elif roll < 0.75:
        line = bytearray(lines[where])
        if line:
            line[rng.randrange(len(line))] = rng.choice(b"0123456789.*()-:!/\r\x00\xff")
        lines[where] = bytes(line)
    elif roll < 0.85:
        lines.insert(where, b"1-0:99.97.0(" + b"x" * rng.choice((100, 4000, 9000)) + b")\r")
    else:
        lines[where] = rng.randbytes(rng.randint(0, 30))
    return lines


# -- running a case -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """An invariant a case broke."""

    kind: str  # crash, hang, or the invariant's name
    signature: str  # what makes two findings the same bug
    detail: str
    case: Case


@dataclass(slots=True)
class Outcome:
    """What running one case measured."""

    findings: list[Finding]
    seconds: float
    readings: int
    max_buffer: int


def _where(error: BaseException) -> str:
    """The innermost decoder line an exception came from (file:line function)."""
    frames = traceback.extract_tb(error.__traceback__)
    for entry in reversed(frames):
        if "custom_components" in entry.filename:
            return f"{Path(entry.filename).name}:{entry.lineno} {entry.name}"
    last = frames[-1] if frames else None
    return f"{Path(last.filename).name}:{last.lineno} {last.name}" if last else "?"


def _on_alarm(_signum: int, _frame: FrameType | None) -> None:
    raise CaseTimeoutError


def _value_problem(value: object) -> str | None:
    if type(value) is bool or not isinstance(value, int | float):
        return f"value of type {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite value"
    try:
        float(value)
    except OverflowError:
        return "value beyond float range"
    return None


_SUB_METER_ID_CDEF: Final = ((96, 1, 0, 255), (96, 1, 1, 255))


def _is_sub_meter_id(obis: Obis) -> bool:
    """0-n:96.1.0 or 0-n:96.1.1 of M-Bus channel n = 1..4."""
    return (
        obis.a == 0 and obis.b in MBUS_CHANNELS and obis[2:] in ((96, 1, 0, 255), (96, 1, 1, 255))
    )


def _event_problems(events: Sequence[Event], options: DecoderOptions) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for event in events:
        if isinstance(event, FrameError):
            if (
                event.reason not in tuple(Reason)
                or not isinstance(event.detail, str)
                or len(event.raw) > MAX_RAW
            ):
                problems.append(("bad-frame-error", f"{event.reason!r} raw {len(event.raw)}"))
        elif isinstance(event, Reading):
            if event.transport not in (options.transport, Transport.AUTO) and (
                options.transport != Transport.AUTO
            ):
                problems.append(
                    ("wrong-transport", f"{event.transport} from a {options.transport} decoder")
                )
            for obis, measurement in event.values.items():
                if event.transport is Transport.P1 and _is_sub_meter_id(obis):
                    # A P1 sub-meter's equipment id is text, never empty.
                    value = measurement.value
                    problem = None if isinstance(value, str) and value else "empty equipment id"
                else:
                    problem = _value_problem(measurement.value)
                if problem:
                    problems.append(("bad-value", f"{problem} at {obis}"))
            problems.extend(
                ("bad-sub-meter", f"channel {sub_meter.channel}")
                for sub_meter in event.sub_meters
                if sub_meter.register not in event.values or sub_meter.medium not in (None, *MEDIA)
            )
        else:
            # The type says this cannot happen; the fuzzer checks what actually came out.
            problems.append(("bad-event", type(event).__name__))  # type: ignore[unreachable]
    return problems


def _run(
    case: Case,
    options: DecoderOptions,
    chunks: Sequence[bytes],
    decoder: StreamDecoder | None = None,
) -> tuple[list[Event], int]:
    decoder = decoder or StreamDecoder(options)
    events: list[Event] = []
    biggest = 0
    for chunk in chunks:
        events += decoder.feed(chunk)
        biggest = max(biggest, decoder.stats.buffered)
    events += decoder.flush()
    return events, biggest


def check(case: Case, *, timeout: float | None = None) -> Outcome:
    """Run a case through the decoder and test every invariant it is subject to."""
    findings: list[Finding] = []
    if timeout is None:
        timeout = CASE_TIMEOUT + CASE_TIMEOUT_PER_BYTE * len(case.data)

    def found(kind: str, signature: str, detail: str) -> None:
        findings.append(Finding(kind, f"{kind}: {signature}", detail, case))

    # CPU time, not wall time: on a shared machine a case that waits for a core is
    # not a hang (a wall-clock alarm once caught the decoder in a 3-line function).
    previous = signal.signal(signal.SIGVTALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_VIRTUAL, timeout)
    started = time.perf_counter()
    events: list[Event] = []
    biggest = 0
    try:
        events, biggest = _run(case, case.options, list(case.chunks()))
        seconds = time.perf_counter() - started
        if case.baseline is not None or case.sealed:
            _check_equivalence(case, events, found)
    except CaseTimeoutError as error:
        seconds = time.perf_counter() - started
        # Where the alarm caught the decoder is where it spends the time.
        found("hang", f"at {_where(error)}", "".join(traceback.format_exception(error)))
    except Exception as error:
        seconds = time.perf_counter() - started
        found(
            "crash",
            f"{type(error).__name__} at {_where(error)}",
            "".join(traceback.format_exception(error)),
        )
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    if biggest >= BUFFER_LIMIT:
        found("buffer", f"buffer over {BUFFER_LIMIT} bytes", f"held {biggest} bytes")
    for kind, detail in _event_problems(events, case.options):
        found(kind, detail.split(" at ")[0], detail)
    readings = [event for event in events if isinstance(event, Reading)]
    if case.guard == GUARD_NOTHING and readings:
        found("reading-from-corrupt-frame", case.category, repr(readings[0])[:400])
    elif case.guard == GUARD_SUBSET:
        strangers = [r for r in readings if event_key(r) not in case.allowed]
        if strangers:
            found("reading-from-corrupt-frame", case.category, repr(strangers[0])[:400])
    if case.sealed:
        framing = [e for e in events if isinstance(e, FrameError) and e.reason in FRAMING_REASONS]
        if framing:
            found("framing-error-on-sealed-frame", framing[0].reason, framing[0].detail)
    return Outcome(findings, seconds, len(readings), biggest)


_READING_FIELDS: Final = (
    "kind", "values", "meter_id", "meter_type", "manufacturer", "list_version",
    "timestamp", "transport", "encrypted", "system_title",
)  # fmt: skip
_ERROR_FIELDS: Final = ("kind", "reason", "detail", "raw")


def _difference(first: Sequence[tuple[Any, ...]], second: Sequence[tuple[Any, ...]]) -> str:
    """Which fields of two event lists differ, to tell one divergence from another."""
    if len(first) != len(second):
        return "number of events"
    for one, other in zip(first, second, strict=True):
        if one != other:
            names = _READING_FIELDS if one[0] == other[0] == "reading" else _ERROR_FIELDS
            if one[0] != other[0]:
                return f"{one[0]} vs {other[0]}"
            return ", ".join(n for n, a, b in zip(names, one, other, strict=True) if a != b)
    return ""


def _check_equivalence(
    case: Case, events: Sequence[Event], found: Callable[[str, str, str], None]
) -> None:
    """The compiled-shape fast path must say exactly what the full decode says.

    Three decoders see the mutated message: a fresh one (full decode, then the shape
    compiled from it), one primed with the pristine capture (its shape cached, so the
    mutated message takes the fast path whenever its static bytes still match), and
    the fresh one again (fast path on the shape compiled from the mutated message).
    Chunked feeding must not change the readings either.
    """
    fresh = StreamDecoder(case.options)
    keys = [event_key(event) for event in fresh.feed(case.data) + fresh.flush()]
    again = [event_key(event) for event in fresh.feed(case.data) + fresh.flush()]
    if again != keys:
        found(
            "fast-path-differs",
            f"same message twice: {_difference(keys, again)}",
            f"first  {keys[:2]!r}\nsecond {again[:2]!r}",
        )
    if [key for key in keys if key[0] == "reading"] != _reading_keys(events):
        found("chunking-changes-readings", case.category, f"cuts {list(case.cuts)[:20]}")
    if case.baseline is not None:
        primed = StreamDecoder(case.options)
        primed.feed(case.baseline)
        primed.flush()
        cached = [event_key(event) for event in primed.feed(case.data) + primed.flush()]
        if cached != keys:
            found(
                "fast-path-differs",
                f"primed with the pristine capture: {_difference(keys, cached)}",
                f"fresh  {keys[:2]!r}\nprimed {cached[:2]!r}",
            )


# -- the run ------------------------------------------------------------------------------


@dataclass(slots=True)
class Summary:
    """Totals of a fuzz run."""

    seed: int
    inputs: int = 0
    input_bytes: int = 0
    readings: int = 0
    seconds: float = 0.0
    categories: Counter[str] = field(default_factory=Counter)
    findings: dict[str, Finding] = field(default_factory=dict)  # first of each signature
    finding_counts: Counter[str] = field(default_factory=Counter)
    # Over inputs of at least 1 KiB; a new worst is timed twice more and the fastest
    # counts, so a stall of the shared machine is not taken for the decoder's cost.
    worst_us_per_byte: float = 0.0
    worst_case: str = ""
    max_buffer: int = 0
    peak_traced: int = 0  # bytes, largest per-input tracemalloc peak of the sampled inputs
    peak_case: str = ""
    scaling: list[Timing] = field(default_factory=list)

    def add(self, case: Case, outcome: Outcome) -> None:
        self.inputs += 1
        self.input_bytes += len(case.data)
        self.readings += outcome.readings
        self.seconds += outcome.seconds
        self.categories[case.category] += 1
        self.max_buffer = max(self.max_buffer, outcome.max_buffer)
        if len(case.data) >= 1024 and not outcome.findings:
            per_byte = outcome.seconds * 1e6 / len(case.data)
            if per_byte > self.worst_us_per_byte:
                per_byte = min(
                    per_byte, *(_decode_seconds(case) * 1e6 / len(case.data) for _ in range(2))
                )
            if per_byte > self.worst_us_per_byte:
                self.worst_us_per_byte = per_byte
                self.worst_case = (
                    f"{case.category}, {len(case.data)} bytes, {len(case.cuts) + 1} feeds"
                )
        for finding in outcome.findings:
            self.finding_counts[finding.signature] += 1
            self.findings.setdefault(finding.signature, finding)


def _decode_seconds(case: Case) -> float:
    """Wall time of one plain decode of a case (no invariants, no alarm)."""
    decoder = StreamDecoder(case.options)
    started = time.perf_counter()
    for chunk in case.chunks():
        decoder.feed(chunk)
    decoder.flush()
    return time.perf_counter() - started


def traced_peak(case: Case) -> int:
    """Bytes allocated at the peak of one case's decode (tracemalloc)."""
    tracemalloc.start()
    try:
        decoder = StreamDecoder(case.options)
        for chunk in case.chunks():
            decoder.feed(chunk)
        decoder.flush()
        return tracemalloc.get_traced_memory()[1]
    except Exception:
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fuzz(
    generator: Generator,
    seed: int,
    *,
    inputs: int | None = None,
    seconds: float | None = None,
    start: int = 0,
    memory_every: int = 97,
    progress: Callable[[Summary], None] | None = None,
) -> Summary:
    """Run cases start, start+1, ... until `inputs` or `seconds` runs out."""
    summary = Summary(seed)
    deadline = time.monotonic() + seconds if seconds is not None else math.inf
    index = start
    last_report = time.monotonic()
    while (inputs is None or index - start < inputs) and time.monotonic() < deadline:
        case = generator.case(seed, index)
        outcome = check(case)
        summary.add(case, outcome)
        if memory_every and index % memory_every == 0 and not outcome.findings:
            peak = traced_peak(case)
            if peak > summary.peak_traced:
                summary.peak_traced = peak
                summary.peak_case = f"{case.category}, {len(case.data)} bytes"
        index += 1
        if progress is not None and time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            progress(summary)
    return summary


@dataclass(frozen=True, slots=True)
class Timing:
    """µs per byte for one stream at one size."""

    stream: str
    size: int
    us_per_byte: float  # math.inf: stopped at the time limit


def _stream_makers(rng: random.Random) -> dict[str, Callable[[int], bytes]]:
    header = b"\x7e\xa7\xff\x41\x08\x83\x13"
    # HDLC headers whose HCS is right and whose length claims 2 KiB: each one makes the
    # decoder wait, check an FCS over 2 KiB and resume one byte later.
    hcs_spam = header + crc16_x25(header[1:]).to_bytes(2, "little")
    telegram_start = b"/ABC5" + b"x" * 90 + b"\r\n" * 2 + b"1-0:1.8.0(1*kWh)\r\n" * 20
    return {
        "random": rng.randbytes,
        "flags": lambda size: b"\x7e" * size,
        "hdlc-headers": lambda size: hcs_spam * (size // len(hcs_spam) + 1),
        "mbus-headers": lambda size: b"\x68\xff\xff\x68" * (size // 4 + 1),
        "p1-openers": lambda size: telegram_start * (size // len(telegram_start) + 1),
        # Text with "/" but no 0x7E: every "/" is a P1 candidate that fails at once.
        "slashes": lambda size: b"a/" * (size // 2 + 1),
    }


def scaling(
    rng: random.Random,
    sizes: Sequence[int] = (1024, 65_536, 1_048_576),
    *,
    chunks: Sequence[int | None] = (None, 256),
    limit: float = 30.0,
    streams: Sequence[str] | None = None,
) -> list[Timing]:
    """µs per byte for streams of growing size, fed in one call (None) and in chunks.

    A rescan of a growing buffer shows as a per-byte cost that grows with size. The
    streams are the worst kinds: noise, frame openers that make the decoder wait,
    flags. A measurement that runs past `limit` CPU seconds is stopped and reported as inf.
    """
    results: list[Timing] = []
    previous = signal.signal(signal.SIGVTALRM, _on_alarm)
    try:
        for name, make in _stream_makers(rng).items():
            if streams is not None and name not in streams:
                continue
            for size in sizes:
                data = make(size)[:size]
                for chunk in chunks:
                    step = chunk or size
                    label = f"{name} in {f'{step}-byte feeds' if chunk else 'one feed'}"
                    per_byte = math.inf
                    # Best of three below 64 KiB, where a scheduler hiccup is most of it.
                    for _ in range(3 if size < 65_536 else 1):
                        decoder = StreamDecoder()
                        signal.setitimer(signal.ITIMER_VIRTUAL, limit)
                        started = time.perf_counter()
                        try:
                            for pos in range(0, size, step):
                                decoder.feed(data[pos : pos + step])
                            decoder.flush()
                            elapsed = time.perf_counter() - started
                            per_byte = min(per_byte, elapsed * 1e6 / size)
                        except CaseTimeoutError:
                            break
                        finally:
                            signal.setitimer(signal.ITIMER_VIRTUAL, 0)
                    results.append(Timing(label, size, per_byte))
    finally:
        signal.signal(signal.SIGVTALRM, previous)
    return results


def growing(timings: Sequence[Timing], factor: float = 3.0, floor: float = 0.1) -> list[str]:
    """Streams whose per-byte cost at the largest size exceeds `factor` x the middle size.

    Growth under `floor` µs/byte is timer noise, not a rescan.

    The smallest size is for show only: below one frame (2 KiB HDLC, 8 KiB P1) a
    stream may not even complete a candidate, which makes it look cheap.
    """
    flagged = []
    by_stream: dict[str, list[Timing]] = {}
    for timing in timings:
        by_stream.setdefault(timing.stream, []).append(timing)
    for stream, rows in by_stream.items():
        rows.sort(key=lambda row: row.size)
        if len(rows) < 2:
            continue
        small, large = rows[-2], rows[-1]
        growth = large.us_per_byte - small.us_per_byte
        if large.us_per_byte > factor * small.us_per_byte and growth > floor:
            flagged.append(
                f"{stream}: {small.us_per_byte:.2f} µs/byte at {small.size} bytes, "
                f"{large.us_per_byte:.2f} at {large.size}"
            )
    return flagged
