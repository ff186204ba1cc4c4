"""P1 telegrams with M-Bus sub-meters, written from published examples.

The corpus has one DSMR 5 capture, with a gas meter only; these telegrams put a gas
and a water meter on the same port, each with its own equipment id, so that a test
can tell the two apart.

- `dsmr5`: the electricity part and the gas meter on channel 1 follow the example
  telegram of the DSMR 5.0.2 P1 Companion Standard (meter K8EG004046395507, the
  corpus capture's meter); the water meter on channel 2 is laid out as DSMR 4.2.2
  specifies one (device type 007, 0-n:96.1.0, 0-n:24.2.1 in m3).
- `fluvius`: the e-MUCS example of Fluvius (BE): gas on 0-1:24.2.3 (not temperature
  converted), water on 0-2:24.2.1, both ids on 0-n:96.1.1.

Values and ids are parameters so that a test can play a sequence of telegrams; each
telegram is sealed with its CRC-16/ARC as a meter does.
"""

from __future__ import annotations

from custom_components.han_port.han.crc import crc16_arc

# DSMR 5 example meter; the corpus capture p1-nl-dsmr5-dsmrparser has the same id.
DSMR5_METER_ID = "4B384547303034303436333935353037"
FLUVIUS_METER_ID = "3153414733313031303231363035"


def hex_id(text: str) -> str:
    """An equipment id as DSMR sends it: the printed serial number, hex-encoded ASCII."""
    return text.encode("ascii").hex().upper()


GAS_ID = hex_id("G0019340221198415")
WATER_ID = hex_id("W0013270216112345")
FLUVIUS_GAS_ID = "37464C4F32313139303333373333"
FLUVIUS_WATER_ID = "3853414731323334353637383930"


def sealed(lines: list[str]) -> bytes:
    """The telegram from "/" through "!", then its CRC and CR LF."""
    body = ("\r\n".join(lines) + "\r\n!").encode("ascii")
    return body + f"{crc16_arc(body):04X}\r\n".encode("ascii")


def mbus_lines(
    channel: int,
    device_type: str,
    equipment_id: str | None,
    reading: str | None,
    *,
    id_code: str = "96.1.0",
    register: str = "24.2.1",
    captured: str = "101209112500W",
) -> list[str]:
    """One M-Bus channel: device type, equipment id, reading with its capture time."""
    lines = [f"0-{channel}:24.1.0({device_type})"]
    if equipment_id is not None:
        lines.append(f"0-{channel}:{id_code}({equipment_id})")
    if reading is not None:
        lines.append(f"0-{channel}:{register}({captured})({reading})")
    return lines


def dsmr5(*channels: list[str]) -> bytes:
    """A DSMR 5 telegram whose M-Bus part is `channels` (see mbus_lines)."""
    return sealed(
        [
            "/ISk5\\2MT382-1000",
            "",
            "1-3:0.2.8(50)",
            "0-0:1.0.0(101209113020W)",
            f"0-0:96.1.1({DSMR5_METER_ID})",
            "1-0:1.8.1(123456.789*kWh)",
            "1-0:1.8.2(123456.789*kWh)",
            "1-0:2.8.1(123456.789*kWh)",
            "1-0:2.8.2(123456.789*kWh)",
            "0-0:96.14.0(0002)",
            "1-0:1.7.0(01.193*kW)",
            "1-0:2.7.0(00.000*kW)",
            "0-0:96.7.21(00004)",
            "0-0:96.7.9(00002)",
            "1-0:99.97.0(2)(0-0:96.7.19)(101208152415W)(0000000240*s)(101208151004W)(0000000301*s)",
            "1-0:32.32.0(00002)",
            "1-0:32.36.0(00000)",
            "0-0:96.13.0()",
            "1-0:32.7.0(220.1*V)",
            "1-0:31.7.0(001*A)",
            "1-0:21.7.0(01.111*kW)",
            "1-0:22.7.0(04.444*kW)",
            *(line for channel in channels for line in channel),
        ]
    )


def dsmr5_gas_and_water(
    gas: str = "12785.123*m3",
    water: str = "00872.234*m3",
    *,
    gas_id: str | None = GAS_ID,
    water_id: str | None = WATER_ID,
) -> bytes:
    """DSMR 5: gas on channel 1, water on channel 2."""
    return dsmr5(
        mbus_lines(1, "003", gas_id, gas),
        mbus_lines(2, "007", water_id, water, captured="101209112000W"),
    )


def fluvius_gas_and_water(gas: str = "00112.384*m3", water: str = "00872.234*m3") -> bytes:
    """e-MUCS (Fluvius): gas on 0-1:24.2.3, water on 0-2:24.2.1, ids on 0-n:96.1.1."""
    return sealed(
        [
            "/FLU5\\253769484_A",
            "",
            "0-0:96.1.4(50217)",
            f"0-0:96.1.1({FLUVIUS_METER_ID})",
            "0-0:1.0.0(200512135409S)",
            "1-0:1.8.1(000000.034*kWh)",
            "1-0:1.8.2(000015.758*kWh)",
            "1-0:2.8.1(000000.000*kWh)",
            "1-0:2.8.2(000000.011*kWh)",
            "1-0:1.4.0(02.351*kW)",
            "1-0:1.6.0(200509134558S)(02.589*kW)",
            "0-0:96.14.0(0001)",
            "1-0:1.7.0(00.000*kW)",
            "1-0:2.7.0(00.000*kW)",
            "1-0:32.7.0(234.7*V)",
            "1-0:31.7.0(000.00*A)",
            "0-0:96.3.10(1)",
            "0-0:17.0.0(999.9*kW)",
            "1-0:31.4.0(999*A)",
            "0-0:96.13.0()",
            "0-1:24.1.0(003)",
            f"0-1:96.1.1({FLUVIUS_GAS_ID})",
            "0-1:24.4.0(1)",
            f"0-1:24.2.3(200512134558S)({gas})",
            "0-2:24.1.0(007)",
            f"0-2:96.1.1({FLUVIUS_WATER_ID})",
            f"0-2:24.2.1(200512134558S)({water})",
        ]
    )
