"""What the caller tells the decoder: transport, keys and the choices a frame cannot make."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .model import Transport

# What DecoderOptions.transport takes: every Transport but the APDU label.
FRAMINGS: Final = tuple(transport for transport in Transport if transport is not Transport.APDU)


@dataclass(frozen=True, slots=True)
class DecoderOptions:
    """Settings for a StreamDecoder.

    transport: Transport.AUTO hunts for HDLC, M-Bus and P1 frames alike and keeps to
        the first one that decodes; name one to skip the hunt. Its value as a string
        ("hdlc", as a config entry stores it) is taken too.
    key / auth_key: AES-128 encryption (GUEK) and authentication (GAK) keys, 16 bytes.
    country: ISO code of the meter's market. Kamstrup sends its energy registers
        without a scaler, in 0.01 kWh in Norway and Denmark but in Wh in Sweden, and
        nothing in the frame tells them apart; "SE" selects Wh (vendors.py).
    """

    transport: Transport = Transport.AUTO
    key: bytes | None = None
    auth_key: bytes | None = None
    country: str | None = None

    def __post_init__(self) -> None:
        try:
            transport = Transport(self.transport)
        except ValueError:
            transport = Transport.APDU  # refused below with the same message
        if transport is Transport.APDU:
            # A label of readings from feed_apdu: there is no framing to choose.
            raise ValueError(
                f"transport must be one of {', '.join(FRAMINGS)}, not {self.transport!r}"
            )
        # The member itself, so that the decoder compares by identity on its hot path.
        object.__setattr__(self, "transport", transport)
        for name, value in (("key", self.key), ("auth_key", self.auth_key)):
            if value is not None and len(value) != 16:
                raise ValueError(f"{name} must be 16 bytes (32 hex digits), not {len(value)}")
