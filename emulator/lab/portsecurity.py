"""Port security on the emulated LAN switch: each port admits only one source MAC.

Cloud networks and managed switches with port security forward a frame only when its
source MAC is the one of the NIC plugged into that port; MACVLAN containers, which
send with MACs of their own, are silently dropped. The switch is a Linux bridge in the
lab's world namespace; the rule is one nftables bridge-family table there.
"""

from __future__ import annotations

from collections.abc import Mapping

TABLE = "cnm_lan"


def ruleset(port_macs: Mapping[str, str]) -> str:
    """nft input that drops frames entering a port from any MAC but the port's own."""
    lines = [f"table bridge {TABLE} {{", "  chain forward {",
             "    type filter hook forward priority 0; policy accept;"]
    for port, mac in sorted(port_macs.items()):
        lines.append(f'    iifname "{port}" ether saddr != {mac} counter drop')
    lines += ["  }", "  chain input {",
              "    type filter hook input priority 0; policy accept;"]
    for port, mac in sorted(port_macs.items()):
        lines.append(f'    iifname "{port}" ether saddr != {mac} counter drop')
    lines += ["  }", "}", ""]
    return "\n".join(lines)
