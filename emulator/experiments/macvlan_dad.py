"""The `macvlan-conflicts` experiment's IPv6 section: duplicates that DAD does not catch.

IPv4 has no duplicate detection in the kernel, so the IPv4 section injects
duplicates by sliding a DHCP pool over Docker's --ip-range and finds them with RFC
5227 ARP probes. IPv6 does have one (RFC 4862 DAD), but Docker adds its static
addresses with IFA_F_NODAD, and leaves accept_ra/autoconf at the kernel's defaults
so its macvlan containers also take SLAAC addresses from the LAN's router. One lab,
a LAN whose router advertises 2001:db8:100::/64 and a dual-stack macvlan network
whose IPv6 --ip-range is that prefix's low /72 (which holds the SLAAC address of
every MAC starting 02:), and four cases:

- `static-vs-lan-static`: a container's --ip6 is an address a LAN host configured
  by hand (with DAD, long before);
- `static-vs-slaac`: a container's --ip6 is a LAN host's SLAAC address;
- `slaac-after-static`: a container's --ip6 is the SLAAC address a LAN host will
  form, and that host comes up afterwards;
- `container-slaac`: what the RA gives a dual-stack container beside its static one.

For each: what the kernels did with the address (read from each holder's flags),
what the project's NDP duplicate scan (DAD-style solicitations from the router) and
its RFC 4862 DAD probe found, and, for the duplicates, which owner a LAN client's
neighbour cache keeps, round after round.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, IPv6Interface

from emulator.cnm.engine import AttachRequest, NetworkRequest
from emulator.experiments import conflict_lab as cl
from emulator.experiments import dad_lab as dl
from emulator.experiments.results import Check
from emulator.ipam import IpamConfig
from emulator.lab import Lab
from emulator.lab.dockerhost import ContainerHandle
from emulator.probes import impact
from emulator.probes.conflicts import ConflictScan, scan_conflicts
from emulator.probes.rfc4862 import Timings6, probe_address6
from emulator.probes.rfc5227 import DadResult

NETWORK6 = "lan6"
NAS, NAS_ADDRESS6 = "nas", dl.LAN_PREFIX6.network_address + 0x10
STATIC_HOSTS = {NAS: IPv4Address("198.51.100.20"), "vm01": IPv4Address("198.51.100.21"),
                "vm02": IPv4Address("198.51.100.22")}
POOL = (IPv4Address("198.51.100.64"), IPv4Address("198.51.100.95"))
IP_RANGE4 = "198.51.100.128/27"
UNUSED = tuple(dl.LAN_PREFIX6.network_address + n for n in (0x99, 0x9a))
PORT = 8080
ROUNDS = 20
SCAN_WINDOW = 0.5
SETTLE = 20.0  # seconds allowed for DAD, SLAAC and a refused address to show

CASES = ("static-vs-lan-static", "static-vs-slaac", "slaac-after-static", "container-slaac",
         "ipam-dynamic")
DOCKER = {
    "static-vs-lan-static": "adds the --ip6 address with IFA_F_NODAD: no DAD, no error",
    "static-vs-slaac": "adds the --ip6 address with IFA_F_NODAD: no DAD, no error",
    "slaac-after-static": "nothing: the container keeps its address",
    "container-slaac": "leaves accept_ra=1, autoconf=1: SLAAC beside the static address",
    "ipam-dynamic": "lowest free address of the --ip-range (::2), no DAD",
}
STORY = {
    "static-vs-lan-static": "--ip6 = an address a LAN host configured (with DAD) before",
    "static-vs-slaac": "--ip6 = a LAN host's SLAAC address, inside the --ip-range",
    "slaac-after-static": "--ip6 = the SLAAC address a LAN host forms when it comes up later",
    "container-slaac": "the LAN router's RA gives a dual-stack container a SLAAC address",
    "ipam-dynamic": "a container without --ip6 (control: nothing else holds it)",
}
DUPLICATES = ("static-vs-lan-static", "static-vs-slaac")


@dataclass(frozen=True)
class DadCase:
    case: str
    address: IPv6Address
    held: tuple[dl.Held6, ...]
    """Every holder of the address, whatever its kernel made of it."""
    scan_macs: tuple[str, ...]
    dad: DadResult
    rounds: tuple[dl.Round6, ...] = ()

    def macs(self, state: str = "usable") -> set[str]:
        return {h.owner.mac for h in self.held if h.state == state}

    def holder(self, kind: str) -> dl.Held6 | None:
        return next((h for h in self.held if h.owner.kind == kind), None)

    @property
    def kernel(self) -> str:
        return kernel_text(self.held)

    @property
    def probe(self) -> str:
        return probe_text(len(self.scan_macs), self.dad)

    @property
    def docker(self) -> str:
        return DOCKER[self.case]

    def winners(self) -> dict[str, int]:
        """Rounds each owner's MAC was in the client's neighbour cache, by owner."""
        names = {h.owner.mac: f"{h.owner.kind}:{h.owner.name}" for h in self.held}
        counts: dict[str, int] = {}
        for r in self.rounds:
            key = names.get(r.mac or "", r.mac or "none")
            counts[key] = counts.get(key, 0) + 1
        return counts


def kernel_text(held: tuple[dl.Held6, ...] | list[dl.Held6]) -> str:
    """What each holder's kernel made of the address, e.g.
    `container c1: static-nodad, usable; lan-host vm01: slaac, dadfailed`."""
    return "; ".join(f"{h.owner.kind} {h.owner.name}: {h.origin}, {h.state}" for h in held)


def macs_text(count: int) -> str:
    return f"{count} MAC{'' if count == 1 else 's'}"


def probe_text(scan_owners: int, dad: DadResult) -> str:
    scan = ("duplicate" if scan_owners > 1 else
            "one owner" if scan_owners == 1 else "no answer")
    verdict = f"in use by {macs_text(len(dad.macs))}" if dad.conflict else "free"
    return f"NDP scan: {scan} ({macs_text(scan_owners)}); RFC 4862 DAD: {verdict}"


@dataclass(frozen=True)
class DadSection:
    cases: tuple[DadCase, ...]
    scan: ConflictScan
    score: cl.Score
    slaac_range: bool
    """Every LAN host SLAAC address lies inside the network's IPv6 --ip-range."""
    ra_settings: tuple[tuple[str, str], ...] = ()
    """accept_ra and autoconf on the container-slaac container's interface."""

    def case(self, name: str) -> DadCase:
        return next(c for c in self.cases if c.case == name)


def _network(host) -> None:
    host.engine.create_network(NetworkRequest(
        NETWORK6, "macvlan", {"parent": "eth1"}, enable_ipv6=True, configs=(
            IpamConfig(str(cl.LAN_SUBNET), IP_RANGE4, str(cl.ROUTER), {}),
            IpamConfig(str(dl.LAN_PREFIX6), str(dl.IP_RANGE6), str(dl.ROUTER6), {}))))


def _run(host, name: str, ip6: IPv6Address | None = None) -> ContainerHandle:
    return host.containers.run(name, networks=[AttachRequest(
        NETWORK6, ip6=str(ip6) if ip6 is not None else None)])


def measure(name: str, progress: Callable[[str], None] = lambda _: None,
            timings: Timings6 | None = None, rounds: int = ROUNDS,
            capture: bool = False) -> DadSection:
    """Build the IPv6 LAN lab `name`, inject the cases, probe and measure them."""
    topology = cl.conflict_topology(name, "promiscuous", POOL, 0, STATIC_HOSTS)
    with Lab(topology) as lab:
        router = lab.node_pid("router")
        nas, vm01, vm02 = (lab.node_pid(n) for n in (NAS, "vm01", "vm02"))
        progress("IPv6 on the LAN: router 2001:db8:100::1, nas with a static address, vm01")
        dl.setup_router(lab)
        for pid in (nas, vm01):
            dl.enable_ipv6(pid)
        dl.add_address6(nas, IPv6Interface(f"{NAS_ADDRESS6}/64"))
        dl.wait_for(lambda: all(dl.link_local_ready(p) for p in (nas, vm01)), SETTLE,
                    "the LAN hosts' link-local addresses")
        dl.wait_for(lambda: any(h.address == NAS_ADDRESS6 and h.state == "usable"
                                for h in dl.held_in(nas, "lan-host", NAS)), SETTLE,
                    "nas's static address past DAD")
        host = lab.host("h1")
        _network(host)
        dynamic = _run(host, "c6dyn")
        on_nas = _run(host, "c6nas", NAS_ADDRESS6)
        first = [dynamic, on_nas]
        dl.wait_for(lambda: all(dl.link_local_ready(c.pid) for c in first), SETTLE,
                    "the containers' link-local addresses")
        progress("router advertisement for 2001:db8:100::/64 (SLAAC)")
        dl.send_ra(lab)
        vm01_slaac = dl.wait_for(lambda: dl.slaac_address(vm01), SETTLE, "vm01's SLAAC address")
        dl.wait_for(lambda: all(dl.slaac_address(c.pid) for c in first), SETTLE,
                    "the containers' SLAAC addresses")
        on_slaac = _run(host, "c6slaac", vm01_slaac)
        vm02_future = dl.eui64(dl.LAN_PREFIX6, dl.interface_mac(vm02))
        early = _run(host, "c6early", vm02_future)
        progress("vm02 comes up after a container took its future SLAAC address")
        dl.enable_ipv6(vm02)
        dl.wait_for(lambda: dl.link_local_ready(vm02), SETTLE, "vm02's link-local address")
        monitor = dl.AddressMonitor(vm02)
        try:
            dl.send_ra(lab)
            refused = dl.wait_for(lambda: monitor.deleted(vm02_future) or dl.slaac_address(vm02),
                                  SETTLE, "vm02's DAD for its SLAAC address")
        finally:
            monitor.close()
        containers = [dynamic, on_nas, on_slaac, early]
        held = dl.lan_holdings6(lab, containers)
        if isinstance(refused, str) and "dadfailed" in refused.split():
            held.append(dl.Held6(vm02_future, cl.Owner("lan-host", "vm02",
                                                      dl.interface_mac(vm02)),
                                 "slaac", "dadfailed"))
        truth = cl.injected(dl.owners6(held))
        targets = sorted({h.address for h in held if h.owner.kind != "router"} | set(UNUSED))
        progress(f"NDP duplicate scan from the router: {len(targets)} addresses")
        scan = scan_conflicts(router, dl.LAN_NIC, targets, window=SCAN_WINDOW, capture=capture)
        addresses = {
            "static-vs-lan-static": NAS_ADDRESS6, "static-vs-slaac": vm01_slaac,
            "slaac-after-static": vm02_future, "container-slaac": dl.slaac_address(on_nas.pid),
            "ipam-dynamic": next(h.address for h in held if h.owner.name == dynamic.name
                                 and h.origin != "slaac")}
        progress("RFC 4862 DAD probe from the router for each case's address")
        dads = {case: probe_address6(router, dl.LAN_NIC, address, timings)
                for case, address in addresses.items()}
        progress(f"router's neighbour cache: {rounds} fresh resolutions per duplicate")
        listeners = {"static-vs-lan-static": nas, "static-vs-slaac": vm01,
                     "ipam-dynamic": dynamic.pid}
        cache: dict[str, list[dl.Round6]] = {}
        with ExitStack() as stack:
            for pid in listeners.values():
                stack.enter_context(impact.listening(pid, PORT, ipv6=True))
            for case in listeners:
                cache[case] = dl.cache_rounds(lab, "router", addresses[case], PORT, rounds)
        owners = scan.owners()
        cases = tuple(DadCase(case, address, tuple(h for h in held if h.address == address),
                              tuple(sorted(owners.get(address, ()))), dads[case],
                              tuple(cache.get(case, ())))
                      for case, address in addresses.items())
        slaac_range = all(h.address in dl.IP_RANGE6 for h in held
                          if h.owner.kind == "lan-host" and h.origin == "slaac")
        settings = tuple(sorted(dl.ra_settings(on_nas.pid).items()))
    return DadSection(cases, scan, cl.score(scan, truth), slaac_range, settings)


# -- checks, rows, the side-by-side table ------------------------------------------


def checks(section: DadSection) -> list[Check]:
    found: list[Check] = []
    for case in DUPLICATES:
        c = section.case(case)
        mine = c.holder("container")
        theirs = c.holder("lan-host")
        kept = bool(mine and mine.origin == "static-nodad" and mine.state == "usable"
                    and theirs and theirs.state == "usable")
        step = f"ipv6 {case}"
        found.append(Check(step, "the kernel refuses neither copy (Docker's NODAD address, the "
                                 "LAN host's)", "both usable", c.kernel, kept))
        found.append(Check(step, "NDP scan from the router sees both MACs", "2 MACs",
                           macs_text(len(c.scan_macs)), set(c.scan_macs) == c.macs()
                           and len(c.scan_macs) == 2, " ".join(c.scan_macs)))
        found.append(Check(step, "RFC 4862 DAD probe finds both owners", "duplicate, 2 MACs",
                           c.probe, c.dad.conflict and set(c.dad.macs) == c.macs(),
                           " ".join(c.dad.macs)))
    late = section.case("slaac-after-static")
    lan = late.holder("lan-host")
    found.append(Check("ipv6 slaac-after-static", "the LAN host's SLAAC address fails DAD; "
                       "the container keeps it", "lan-host dadfailed, container usable",
                       late.kernel, bool(lan and lan.state == "dadfailed")
                       and late.macs() == {h.owner.mac for h in late.held
                                           if h.owner.kind == "container"}))
    found.append(Check("ipv6 slaac-after-static", "no duplicate left to find: one owner "
                       "answers", "1 MAC", macs_text(len(late.scan_macs)),
                       len(late.scan_macs) == 1 and late.dad.conflict
                       and len(late.dad.macs) == 1))
    own = section.case("container-slaac")
    slaac = own.holder("container")
    settings = ", ".join(f"{k}={v}" for k, v in section.ra_settings)
    found.append(Check("ipv6 container-slaac", "a dual-stack macvlan container takes a SLAAC "
                       "address from the LAN's RA (through DAD): Docker leaves accept_ra and "
                       "autoconf at the kernel's defaults", "slaac, usable; accept_ra=1, "
                       "autoconf=1", f"{own.kernel}; {settings}",
                       bool(slaac and slaac.origin == "slaac" and slaac.state == "usable")
                       and dict(section.ra_settings) == {"accept_ra": "1", "autoconf": "1"}))
    found.append(Check("ipv6 scan", "NDP scan finds exactly the duplicates held",
                       f"{section.score.injected} duplicates, 0 missed, 0 false",
                       f"{section.score.detected} detected, {len(section.score.misses)} "
                       f"missed, {len(section.score.false_positives)} false",
                       section.score.exact,
                       " ".join(map(str, section.score.misses + section.score.false_positives))))
    return found


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def case_rows(section: DadSection) -> list[dict[str, object]]:
    detected = {c.address: c.detected_at for c in section.scan.conflicts}
    return [{"case": c.case, "family": "ipv6", "address": str(c.address),
             "story": STORY[c.case], "kernel": c.kernel,
             "scan_macs": " ".join(c.scan_macs),
             "scan_detected_ms": _ms(detected.get(c.address)), "dad_conflict": c.dad.conflict,
             "dad_macs": " ".join(c.dad.macs), "dad_probes": c.dad.probes_sent,
             "dad_ms": round(c.dad.elapsed * 1000, 1), "docker": c.docker,
             "cache_rounds": len(c.rounds),
             "cache_flips": dl.flips([r.mac for r in c.rounds]),
             "tcp_failures": sum(1 for r in c.rounds if not r.connected),
             "followup_failures": sum(1 for r in c.rounds if not r.followup),
             "cache_winners": " ".join(f"{k}={v}" for k, v in sorted(c.winners().items()))}
            for c in section.cases]


def round_rows(section: DadSection) -> list[dict[str, object]]:
    rows = []
    for c in section.cases:
        names = {h.owner.mac: f"{h.owner.kind}:{h.owner.name}" for h in c.held}
        rows += [{"case": c.case, "address": str(c.address), "round": r.index, "mac": r.mac,
                  "cache_holds": names.get(r.mac or "", ""), "tcp_connected": r.connected,
                  "error": r.error, "followup_connected": r.followup} for r in c.rounds]
    return rows


def family_rows(v4: list[dict[str, object]], section: DadSection | None
                ) -> list[dict[str, object]]:
    """The table that puts both families side by side: the IPv4 section's rows (from
    its summary rows) and one row per IPv6 case."""
    rows: list[dict[str, object]] = []
    for p in v4:
        if p["mode"] == "promiscuous":
            rows.append({
                "case": f"--ip-range overlaps the DHCP pool ({p['overlap']:.0%})",
                "family": "ipv4",
                "kernel": "both keep it (IPv4 has no duplicate detection)",
                "probe": f"ARP scan (RFC 5227): {p['detected']} of {p['injected']} found, "
                         f"{p['false_positives']} false",
                "docker": "assigns from --ip-range without asking the LAN"})
        else:
            rows.append({
                "case": "port-security LAN", "family": "ipv4",
                "kernel": "both keep it; the switch drops the containers' frames",
                "probe": f"ARP scan (RFC 5227): {p['detected']} found",
                "docker": "assigns from --ip-range without asking the LAN"})
    for c in section.cases if section else ():
        rows.append({"case": c.case, "family": "ipv6", "kernel": c.kernel, "probe": c.probe,
                     "docker": c.docker})
    return rows


def family_table_md(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| case | family | what the kernel did | what the probe found | Docker |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['family']} | {r['kernel']} | {r['probe']} | {r['docker']} |"
              for r in rows]
    return lines


def summary_md(section: DadSection) -> list[str]:
    lines = ["## IPv6: duplicate address detection (RFC 4862) and Docker's NODAD addresses", "",
             f"One lab: the LAN router advertises {dl.LAN_PREFIX6} (SLAAC); a dual-stack "
             f"macvlan network on h1's eth1 with IPv6 --ip-range {dl.IP_RANGE6} "
             f"(every LAN SLAAC address inside it: {section.slaac_range}). Probes from the "
             "router: one NDP duplicate scan (DAD-style solicitations, "
             f"{SCAN_WINDOW:.1f} s window) and one RFC 4862 DAD probe per case.", "",
             f"NDP scan: {len(section.scan.targets)} addresses solicited in "
             f"{_ms(section.scan.send_seconds)} ms; {section.score.true_positives} of "
             f"{section.score.injected} duplicates found, "
             f"{len(section.score.false_positives)} false; first at "
             f"{_ms(section.scan.first_detection)} ms, last at "
             f"{_ms(section.scan.last_detection)} ms after the first solicitation.", "",
             "| case | address | story | rounds | cache flips | first TCP failed | "
             "follow-up TCP failed | cache held |", "|---|---|---|---|---|---|---|---|"]
    for c in section.cases:
        winners = ", ".join(f"{k} {v}" for k, v in sorted(c.winners().items())) or "-"
        counts = (f"{dl.flips([r.mac for r in c.rounds])} | "
                  f"{sum(1 for r in c.rounds if not r.connected)} | "
                  f"{sum(1 for r in c.rounds if not r.followup)}") if c.rounds else "- | - | -"
        lines.append(f"| {c.case} | {c.address} | {STORY[c.case]} | {len(c.rounds)} | "
                     f"{counts} | {winners} |")
    lines += ["", "Each round forgets the address in the router's neighbour cache and "
              "connects (TCP; only the LAN host listens): every owner advertises, the "
              "first packet goes to the first answer, and the cache keeps the last (an "
              "NA with the Override flag replaces the entry: Linux's lock time, which keeps "
              "the first ARP answer, does not apply to NDP). A second connection right "
              "after goes through the kept entry.", ""]
    return lines
