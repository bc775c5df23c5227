"""The dns table's expectations follow Docker's embedded DNS rules, read from Engine API
documents as a real dockerd 20.10 writes them (short id in `Aliases`) and as API
1.44+ does (`DNSNames`, hostname among them); and an answer is judged against them."""

from __future__ import annotations

from ipaddress import IPv4Address

from emulator.probes import dnstable
from emulator.probes.apistate import LabState, parse_host

DEFAULT = {"com.docker.network.bridge.default_bridge": "true"}


def network(net_id: str, name: str, driver: str = "bridge", subnet: str | None = None,
            options: dict[str, str] | None = None, scope: str = "local") -> dict:
    config = [{"Subnet": subnet, "Gateway": subnet.rsplit(".", 1)[0] + ".1"}] if subnet else []
    return {"Id": net_id, "Name": name, "Driver": driver, "Scope": scope, "Internal": False,
            "Options": options or {}, "IPAM": {"Config": config}}


def container(cid: str, name: str, pid: int, mode: str, endpoints: dict[str, tuple],
              hostname: str | None = None) -> dict:
    """endpoints: network name -> (network id, address, aliases, dns names or None)."""
    networks = {}
    for net, (net_id, address, aliases, dns_names) in endpoints.items():
        settings = {"NetworkID": net_id, "IPAddress": address or "",
                    "IPPrefixLen": 24 if address else 0, "MacAddress": "", "Gateway": "",
                    "Aliases": aliases}
        if dns_names is not None:
            settings["DNSNames"] = dns_names
        networks[net] = settings
    return {"Id": cid, "Name": f"/{name}", "State": {"Running": True, "Pid": pid},
            "HostConfig": {"NetworkMode": mode},
            "Config": {"Hostname": hostname if hostname is not None else cid[:12]},
            "NetworkSettings": {"Networks": networks}}


def h1_docs(new_api: bool) -> tuple[list[dict], list[dict]]:
    """h1: default bridge d1; front f1, f2 (alias `web`); back b1; m1 on front and
    back; host-mode x1; none n1."""
    def names(name, cid, aliases=()):
        if new_api:
            return (list(aliases), [name, *aliases, cid[:12]])
        return ([*aliases, cid[:12]], None)

    networks = [network("nb", "bridge", subnet="172.17.0.0/16", options=DEFAULT),
                network("nf", "front", subnet="10.11.0.0/24"),
                network("nk", "back", subnet="10.12.0.0/24"),
                network("nh", "host", driver="host"), network("nn", "none", driver="null")]
    ids = {n: f"{n}{'0' * 14}{i:02d}" for i, n in enumerate(("d1", "f1", "f2", "b1", "m1",
                                                              "x1", "n1"))}
    containers = [
        container(ids["d1"], "d1", 101, "default", {"bridge": ("nb", "172.17.0.2", None, None)}),
        container(ids["f1"], "f1", 102, "front",
                  {"front": ("nf", "10.11.0.2", *names("f1", ids["f1"]))}),
        container(ids["f2"], "f2", 103, "front",
                  {"front": ("nf", "10.11.0.3", *names("f2", ids["f2"], ("web",)))}),
        container(ids["b1"], "b1", 104, "back",
                  {"back": ("nk", "10.12.0.2", *names("b1", ids["b1"]))}),
        container(ids["m1"], "m1", 105, "back",
                  {"back": ("nk", "10.12.0.3", *names("m1", ids["m1"])),
                   "front": ("nf", "10.11.0.4", *names("m1", ids["m1"]))}),
        container(ids["x1"], "x1", 106, "host", {"host": ("nh", None, None, None)},
                  hostname="h1"),
        container(ids["n1"], "n1", 107, "none", {"none": ("nn", None, None, None)}),
    ]
    return networks, containers


def lab(new_api: bool = False, with_h2: bool = True) -> LabState:
    networks, containers = h1_docs(new_api)
    hosts = [parse_host("h1", IPv4Address("192.0.2.11"), 11, networks,
                        list(reversed(containers)), {})]
    if with_h2:  # a network named front too, another network (another ID)
        hosts.append(parse_host(
            "h2", IPv4Address("192.0.2.12"), 12, [network("n2f", "front", subnet="10.21.0.0/24")],
            [container("g1" + "0" * 14, "g1", 201, "front",
                       {"front": ("n2f", "10.21.0.2", ["g10000000000"], None)})], {}))
    return LabState(tuple(hosts), 3, IPv4Address("192.0.2.254"))


def table(state: LabState) -> dict[tuple[str, str], tuple[frozenset[str], ...]]:
    return {(e.source, e.name): e.answers for e in dnstable.expectations(state)}


def test_only_containers_on_user_defined_networks_have_the_resolver():
    has = {s.name: s.has_resolver for s in dnstable.sources(lab())}
    assert has == {"h1/d1": False, "h1/f1": True, "h1/f2": True, "h1/b1": True,
                   "h1/m1": True, "h1/x1": False, "h1/n1": False, "h2/g1": True}


def test_a_name_resolves_only_for_containers_sharing_a_network_with_it():
    answers = table(lab())
    assert answers[("h1/f1", "f2")] == (frozenset({"h1/f2@front"}),)
    assert answers[("h1/f1", "m1")] == (frozenset({"h1/m1@front"}),)
    assert answers[("h1/b1", "m1")] == (frozenset({"h1/m1@back"}),)
    assert answers[("h1/f1", "b1")] == ()
    assert answers[("h1/f1", "f1")] == (frozenset({"h1/f1@front"}),)  # its own name
    # a network of the same name on another host is another network
    assert answers[("h2/g1", "f1")] == ()
    assert answers[("h1/f1", "g1")] == ()


def test_a_container_on_two_networks_gets_either_networks_answer():
    answers = table(lab())
    assert answers[("h1/m1", "m1")] == (frozenset({"h1/m1@back"}), frozenset({"h1/m1@front"}))


def test_the_default_bridge_host_and_none_resolve_nothing_and_publish_no_names():
    answers = table(lab())
    for source in ("h1/d1", "h1/x1", "h1/n1"):
        assert all(not a for (s, _), a in answers.items() if s == source)
    for name in ("d1", "x1", "n1"):
        assert all(not a for (_, n), a in answers.items() if n == name)


def test_aliases_and_short_ids_resolve_on_both_api_versions():
    for new_api in (False, True):
        answers = table(lab(new_api))
        assert answers[("h1/f1", "web")] == (frozenset({"h1/f2@front"}),)
        assert answers[("h1/b1", "web")] == ()
        f2_id = "f2" + "0" * 10  # the short id
        assert answers[("h1/m1", f2_id)] == (frozenset({"h1/f2@front"}),)


def test_every_container_name_and_hostname_is_asked_except_a_host_mode_hostname():
    names = dnstable.lab_names(lab())
    assert {"d1", "f1", "f2", "b1", "m1", "x1", "n1", "g1", "web"} <= set(names)
    assert "h1" not in names  # x1's hostname is the Docker host's
    assert names["web"] == ("h1/f2",)


def test_judging_an_answer():
    expected = {(e.source, e.name): e for e in dnstable.expectations(lab())}
    m1 = expected[("h1/m1", "m1")]
    assert dnstable.judge(m1, frozenset({"h1/m1@front"}), "NOERROR", 1.0).ok
    assert dnstable.judge(m1, frozenset({"h1/m1@back"}), "NOERROR", 1.0).ok
    assert not dnstable.judge(m1, frozenset({"h1/m1@back", "h1/m1@front"}), "NOERROR", 1.0).ok
    assert not dnstable.judge(m1, frozenset(), "NXDOMAIN", 1.0).ok
    unknown = expected[("h1/f1", "b1")]
    assert dnstable.judge(unknown, frozenset(), "no answer", None).ok
    assert not dnstable.judge(unknown, frozenset({"h1/b1@back"}), "NOERROR", 1.0).ok


def test_an_answer_is_named_by_the_endpoint_on_the_asking_containers_networks():
    state = lab()
    h1 = state.hosts[0]
    m1 = next(c for c in h1.containers if c.name == "m1")
    labels = dnstable.answer_labels(state, h1, m1)
    assert labels[IPv4Address("10.11.0.4")] == "h1/m1@front"
    assert labels[IPv4Address("172.17.0.2")] == "h1/d1@bridge"
    assert IPv4Address("10.21.0.2") not in labels  # another host's, on no shared network


def test_swarm_networks_resolve_containers_of_other_hosts():
    overlay = network("ov", "ov1", driver="overlay", subnet="10.0.1.0/24", scope="swarm")
    h1 = parse_host("h1", IPv4Address("192.0.2.11"), 11, [overlay],
                    [container("a" * 16, "o1a", 11, "ov1",
                               {"ov1": ("ov", "10.0.1.2", ["aaaaaaaaaaaa"], None)})], {})
    h2 = parse_host("h2", IPv4Address("192.0.2.12"), 12, [overlay],
                    [container("b" * 16, "o1b", 12, "ov1",
                               {"ov1": ("ov", "10.0.1.3", ["bbbbbbbbbbbb"], None)})], {})
    answers = table(LabState((h1, h2), 3, IPv4Address("192.0.2.254")))
    assert answers[("h1/o1a", "o1b")] == (frozenset({"h2/o1b@ov1"}),)


def test_truth_table_marks_differences():
    expected = dnstable.expectations(lab(with_h2=False))
    cells = [dnstable.judge(e, frozenset(), "no answer", None) for e in expected]
    text = dnstable.truth_table(cells, "diff")
    rows = dict(line.split(None, 1) for line in text.splitlines()[1:-1])
    assert "!" in rows["h1/f1"] and "!" not in rows["h1/d1"]


def test_names_that_differ_between_labs_are_labelled_by_what_they_are():
    kinds = dnstable.name_kinds(lab())
    assert kinds["f1"] == "f1" and kinds["web"] == "web"
    assert kinds["f1" + "0" * 10] == "<short id of h1/f1>"
    cells = [dnstable.judge(e, frozenset(), "", None) for e in dnstable.expectations(lab())]
    assert {c.asked for c in cells if c.name == "f2" + "0" * 10} == {"<short id of h1/f2>"}
