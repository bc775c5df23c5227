"""A minimal pcap writer (raw IPv4 or Ethernet link type), for captures Wireshark opens."""

from __future__ import annotations

import struct
from pathlib import Path

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101


def write_pcap(path: Path, packets: list[tuple[float, bytes]],
               linktype: int = LINKTYPE_RAW) -> None:
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for stamp, data in packets:
            seconds = int(stamp)
            micros = int((stamp - seconds) * 1_000_000)
            out.write(struct.pack("<IIII", seconds, micros, len(data), len(data)))
            out.write(data)
