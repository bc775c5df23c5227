"""Networks and endpoints: create, delete, refuse, join, leave."""

from __future__ import annotations

from emulator.conformance.checks.common import expect, needs, plugin_client
from emulator.conformance.context import CheckContext, cells, not_reached, sandbox_links
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import CONNECTIVITY, INTERFACES, IPAM, NETWORKS
from emulator.conformance.versions import ACTIVE_ENDPOINTS
from emulator.drivers.remote.client import (
    NotImplementedByPlugin,
    PluginCallFailed,
    PluginError,
)
from emulator.errdefs import DockerError


@check("CNM-NET-01", "a network is created, listed with its driver and subnet, deleted "
       "(then unknown, with Docker's error), and made again with the same name and subnet",
       needs(NETWORKS))
def network_round_trip(ctx: CheckContext) -> None:
    h1 = ctx.host()
    net = ctx.network("n")
    name, subnet = net.name, str(ctx.subnet(0))
    listed = {n.name: n for n in h1.networks.list()}
    expect(name in listed, f"{name} is not in the network list after it was created")
    info = net.inspect()
    expect(info["Driver"] == ctx.target.driver,
           f"inspect says driver {info['Driver']!r}, not {ctx.target.driver!r}")
    expect(info["Scope"] == ctx.target.caps.scope,
           f"inspect says scope {info['Scope']!r}; the driver's scope is "
           f"{ctx.target.caps.scope!r}")
    config = info["IPAM"]["Config"]  # type: ignore[index]
    expect(bool(config) and config[0].get("Subnet") == subnet,
           f"inspect says IPAM config {config}, not subnet {subnet}")
    ctx.remove_network(net)
    expect(name not in {n.name for n in h1.networks.list()},
           f"{name} is still listed after it was removed")
    wanted = f"network {name} not found"
    for what, call in (("inspect", lambda: h1.networks.get(name)),
                       ("a second remove", lambda: h1.networks.remove(name))):
        try:
            call()
        except DockerError as exc:
            expect(exc.status == 404 and exc.message == wanted,
                   f"{what} of the removed network answered {exc.status} {exc.message!r}, "
                   f"not 404 {wanted!r}")
        else:
            raise CheckFailed(f"{what} of the removed network {name} succeeded")
    try:
        again = ctx.network("n", name=name)
    except DockerError as exc:
        raise CheckFailed(f"making {name} again with subnet {subnet} was refused: "
                          f"{exc.message}") from None
    ctx.remove_network(again)


def _single(target) -> str | None:
    if target.caps.missing(NETWORKS):
        return None
    return "the driver makes user-defined networks (CNM-NET-01 applies)"


@check("CNM-NET-03", "a driver limited to its predefined network refuses a second one with "
       "Docker's error, and the predefined one stays", _single)
def single_instance(ctx: CheckContext) -> None:
    driver = ctx.target.driver
    wanted = f'only one instance of "{driver}" network is allowed'
    try:
        extra = ctx.network("two", default_subnet=True)
    except DockerError as exc:
        expect(exc.status == 403 and exc.message == wanted,
               f"the refusal was {exc.status} {exc.message!r}, not 403 {wanted!r}")
    else:
        ctx.remove_network(extra)
        raise CheckFailed(f"a second {driver} network was made")
    names = {n.name for n in ctx.host().networks.list()}
    expect(ctx.predefined().name in names, "the predefined network is gone")


@check("CNM-NET-02", "removing a network that has active endpoints is refused with Docker's "
       "error, and the network keeps carrying traffic", needs(NETWORKS, CONNECTIVITY))
def removal_refused(ctx: CheckContext) -> None:
    net = ctx.network("n")
    a = ctx.run("a", net.name)
    b = ctx.run("b", net.name, host=ctx.spread)
    try:
        ctx.remove_network(net)
    except DockerError as exc:
        prefix = (f"error while removing network: network {net.name} has active endpoints (")
        older = (f"error while removing network: network {net.name} id {net.id} has active "
                 "endpoints")
        if exc.status == 403 and exc.message == older and ctx.predates(ACTIVE_ENDPOINTS):
            ctx.accept(ACTIVE_ENDPOINTS, f"{exc.status} {exc.message!r}")
        else:
            expect(exc.status == 403 and exc.message.startswith(prefix),
                   f"the refusal was {exc.status} {exc.message!r}, not 403 {prefix}...)")
            expect(any(f'name:"{c.name}"' in exc.message for c in (a, b)),
                   f"the refusal names neither {a.name} nor {b.name}: {exc.message!r}")
    else:
        raise CheckFailed(f"{net.name} was removed although {a.name} and {b.name} are on it")
    expect(net.name in {n.name for n in ctx.host().networks.list()},
           f"{net.name} is gone from the list after the refused removal")
    results = ctx.probe([ctx.probe_target(a), ctx.probe_target(b)],
                        [ctx.probe_target(a), ctx.probe_target(b)], ["icmp"])
    failed = not_reached(results)
    expect(not failed, "after the refused removal the network does not carry traffic: "
           + cells(failed))


def _delete_again(ctx: CheckContext, net_id: str, ep_id: str) -> None:
    """Delete an endpoint that is already gone: the driver must answer success (CNI's
    DEL, libnetwork's DeleteEndpoint), for a plugin over its own socket."""
    if ctx.target.is_plugin:
        client = plugin_client(ctx, "h1")
        body = {"NetworkID": net_id, "EndpointID": ep_id}
        try:
            client.call("NetworkDriver.DeleteEndpoint", body)
        except PluginCallFailed as exc:
            raise CheckFailed("DeleteEndpoint of an endpoint already deleted answered "
                              f"Err {exc.message!r}") from None
        except (PluginError, NotImplementedByPlugin) as exc:
            raise CheckFailed(f"DeleteEndpoint of an endpoint already deleted: {exc}") from None
        return
    driver = ctx.host().engine_driver(ctx.target.driver)
    if driver is None:
        ctx.notes.append("not checked on a real engine: Leave and DeleteEndpoint of an endpoint "
                         "already deleted (a built-in driver is not reachable outside dockerd)")
        return
    for call in (driver.leave, driver.delete_endpoint):
        try:
            call(net_id, ep_id)
        except Exception as exc:  # noqa: BLE001 - any error is the finding
            raise CheckFailed(f"{call.__name__} of an endpoint already deleted raised "
                              f"{type(exc).__name__}: {exc}") from None


@check("CNM-EP-01", "an endpoint appears in the network and in the container's namespace "
       "when it joins, is gone from both when it leaves, and deleting it again is no error")
def endpoint_lifecycle(ctx: CheckContext) -> None:
    caps = ctx.target.caps
    net = ctx.predefined() if caps.missing(NETWORKS) else ctx.network("n")
    a = ctx.run("a", net.name)
    ep = ctx.endpoint(a, net)
    expect(ep is not None, f"{a.name} has no endpoint on {net.name}")
    shown = net.inspect()["Containers"].get(a.id)  # type: ignore[union-attr]
    expect(shown is not None and shown["EndpointID"] == ep.id,
           f"inspect of {net.name} does not list the endpoint of {a.name}: {shown}")
    driver = ctx.host().engine_driver(ctx.target.driver)
    if driver is not None:
        drift = driver.check(net.id, ep.id)
        expect(not drift, f"the driver's CHECK of the new endpoint reports: {drift}")
    else:
        ctx.notes.append("not checked on a real engine: the emulated driver's CHECK of the "
                         "kernel state it made for the new endpoint (dockerd has none)")
    if not caps.missing(INTERFACES):
        links = sandbox_links(a)
        expect(ep.ifname in links, f"no interface {ep.ifname} in {a.name}'s namespace "
               f"(it has {', '.join(links)})")
        mac = links[ep.ifname][0]
        expect(not ep.mac or mac == ep.mac,
               f"{a.name}'s {ep.ifname} has MAC {mac}; the endpoint says {ep.mac}")
        if not caps.missing(IPAM):
            shown_addr = a.exec(["ip", "-o", "-4", "addr", "show", "dev", ep.ifname]).stdout
            expect(ep.address is not None and str(ep.address) in shown_addr.split(),
                   f"{a.name}'s {ep.ifname} does not carry {ep.address}: {shown_addr.strip()}")
    elif ctx.target.driver == "null":
        links = sandbox_links(a)
        expect(set(links) == {"lo"}, f"a container on none has links {sorted(links)}, "
               "not only lo")
    if caps.missing(NETWORKS):
        a.remove(force=True)
    else:
        net.disconnect(a)
    expect(a.id not in net.inspect()["Containers"],  # type: ignore[operator]
           f"inspect of {net.name} still lists {a.name} after it left")
    if not caps.missing(INTERFACES):
        links = sandbox_links(a)
        expect(ep.ifname not in links,
               f"{ep.ifname} is still in {a.name}'s namespace after it left {net.name}")
    _delete_again(ctx, net.id, ep.id)

