"""What the caller tells the decoder: transport, keys and the choices a frame cannot make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TRANSPORT_AUTO: Final = "auto"
TRANSPORT_HDLC: Final = "hdlc"
TRANSPORT_MBUS: Final = "mbus"
TRANSPORT_P1: Final = "p1"
TRANSPORTS: Final = (TRANSPORT_AUTO, TRANSPORT_HDLC, TRANSPORT_MBUS, TRANSPORT_P1)
# The transport a Reading names when its APDU came without a frame around it (a
# bridge that publishes what was inside the frame, see StreamDecoder.feed_apdu). A
# label only: there is no framing to choose, so DecoderOptions does not take it.
TRANSPORT_APDU: Final = "apdu"


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """Settings for a StreamDecoder.

    transport: "auto" hunts for HDLC, M-Bus and P1 frames alike and keeps to the
        first one that decodes; name one to skip the hunt.
    key / auth_key: AES-128 encryption (GUEK) and authentication (GAK) keys, 16 bytes.
    country: ISO code of the meter's market. Kamstrup sends its energy registers
        without a scaler, in 0.01 kWh in Norway and Denmark but in Wh in Sweden, and
        nothing in the frame tells them apart; "SE" selects Wh.
    """

    transport: str = TRANSPORT_AUTO
    key: bytes | None = None
    auth_key: bytes | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}")
        for name, value in (("key", self.key), ("auth_key", self.auth_key)):
            if value is not None and len(value) != 16:
                raise ValueError(f"{name} must be 16 bytes (32 hex digits), not {len(value)}")
