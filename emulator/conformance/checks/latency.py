"""How long a driver takes to answer CreateEndpoint and Join, call by call.

Every `docker run` and `network connect` waits for both; a driver that does slow work
in them (a process per step, a sleep, a lookup that times out) makes every container
slow to start. The calls are timed where the engine makes them: each Docker host's
driver, wrapped for the check's duration (an emulated engine only; a real dockerd's
built-in drivers are out of reach; a plugin is then asked directly, for an endpoint of
its own). A call slower than the threshold is a warning, not a
failure: the rule is Docker's plugin timeout, far above it.
"""

from __future__ import annotations

import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from emulator.conformance.checks.common import needs, plugin_client
from emulator.conformance.context import MANAGER, CheckContext
from emulator.conformance.registry import CheckFailed, check
from emulator.conformance.targets import NETWORKS
from emulator.drivers.remote.client import NotImplementedByPlugin, PluginCallFailed, PluginError

WARN_S = 0.5
CALLS = {"create_endpoint": "CreateEndpoint", "join": "Join"}
CONTAINERS = 3


@contextmanager
def timed_calls(driver: object, times: dict[str, list[float]]) -> Iterator[None]:
    """Time every call of `driver`'s create_endpoint and join until the block ends."""
    originals: dict[str, Callable] = {}
    for method, call in CALLS.items():
        original = getattr(driver, method)
        originals[method] = original

        def timed(*args, _original=original, _call=call, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                times.setdefault(_call, []).append(time.perf_counter() - started)

        setattr(driver, method, timed)
    try:
        yield
    finally:
        for method in originals:
            delattr(driver, method)  # the class's method shows through again


def summary(times: dict[str, list[float]]) -> str:
    return "; ".join(f"{call}: median {statistics.median(t) * 1000:.0f} ms, slowest "
                     f"{max(t) * 1000:.0f} ms over {len(t)} calls"
                     for call, t in sorted(times.items()))


@check("CNM-EP-03", f"CreateEndpoint and Join each answer within {WARN_S:g} s (timed per "
       "driver call; a slower call is reported as a warning)", needs(NETWORKS))
def call_latency(ctx: CheckContext) -> None:
    driver = ctx.host(MANAGER).engine_driver(ctx.target.driver)
    if driver is None and not ctx.target.is_plugin:
        ctx.notes.append("not measured on a real engine: its built-in drivers are called "
                         "inside dockerd")
        return
    net = ctx.network("n")
    times: dict[str, list[float]] = {}
    if driver is None:  # a real engine: the plugin is asked directly, as dockerd would
        sandbox = ctx.run("s", net.name)
        for k in range(CONTAINERS):
            direct_calls(ctx, net, ctx.subnet(0)[200 + k], sandbox.pid, times)
        ctx.notes.append("timed by calling the plugin directly (dockerd's own calls are out "
                         "of reach): " + summary(times))
    else:
        with timed_calls(driver, times):
            for k in range(CONTAINERS):
                ctx.run(f"c{k}", net.name)
        ctx.notes.append(summary(times))
    slow = [f"{call} took {max(t):.2f} s" for call, t in sorted(times.items())
            if max(t) > WARN_S]
    if slow:
        ctx.warn(f"slow driver calls (threshold {WARN_S:g} s): {', '.join(slow)}")


def direct_calls(ctx: CheckContext, net, address, sandbox_pid: int | None,
                 times: dict[str, list[float]]) -> None:
    """CreateEndpoint, Join, Leave and DeleteEndpoint of a new endpoint of `net`, straight
    to the plugin on the manager; the first two timed. A failing call fails the check
    with the plugin's answer."""
    client = plugin_client(ctx, MANAGER)
    ids = {"NetworkID": net.id, "EndpointID": secrets.token_hex(32)}
    steps = [("CreateEndpoint", {**ids, "Interface": {
                 "Address": f"{address}/{ctx.subnet(0).prefixlen}", "AddressIPv6": "",
                 "MacAddress": ""}, "Options": {}}),
             ("Join", {**ids, "SandboxKey": f"/proc/{sandbox_pid}/ns/net", "Options": {}}),
             ("Leave", ids), ("DeleteEndpoint", ids)]
    for call, body in steps:
        started = time.perf_counter()
        try:
            client.call(f"NetworkDriver.{call}", body)
        except (PluginCallFailed, PluginError, NotImplementedByPlugin) as exc:
            raise CheckFailed(f"the plugin's {call} of a new endpoint answered: {exc}") from None
        if call in CALLS.values():
            times.setdefault(call, []).append(time.perf_counter() - started)
