"""`/_ping`, `/version`, `/info`: what clients read to negotiate and to describe the host."""

from __future__ import annotations

import json
import os
import platform

from emulator.api.context import HostContext
from emulator.api.router import Request, Response, RouteTable
from emulator.api.shapes import swarm as shapes
from emulator.api.version import API_VERSION, ENGINE_VERSION, MIN_API_VERSION
from emulator.cnm.engine import Engine
from emulator.cnm.images import image_summaries, is_busybox_image
from emulator.drivers import registry
from emulator.errdefs import NotFound

ROUTES = RouteTable()
"""This module's routes, declared on their handlers."""


def swarm_status(engine: Engine) -> str:
    """The `Swarm` header of /_ping: dockerd's "inactive", "active/manager" or
    "active/worker" (cluster.Status)."""
    info = shapes.swarm_info(engine)
    state = str(info["LocalNodeState"])
    if state != "active":
        return state
    return "active/manager" if info["ControlAvailable"] else "active/worker"


@ROUTES.add("GET", "/_ping")
def ping(host: HostContext, request: Request) -> Response:
    return Response(200, raw=b"OK", headers={
        "Content-Type": "text/plain; charset=utf-8", "Builder-Version": "1",
        "Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
        "Swarm": swarm_status(host.engine)})


def version_body() -> dict[str, object]:
    return {
        "Platform": {"Name": "cnm-emulator"},
        "Components": [{"Name": "Engine", "Version": ENGINE_VERSION,
                        "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                    "Os": "linux", "Arch": "amd64",
                                    "KernelVersion": platform.release()}}],
        "Version": ENGINE_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "cnm-emulator",
        "GoVersion": "none (Python " + platform.python_version() + ")",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": platform.release(),
        "BuildTime": "2026-11-28T00:00:00.000000000+00:00",
    }


def info_body(engine: Engine) -> dict[str, object]:
    containers = engine.list_containers(all=True)
    running = sum(1 for c in containers if c.running)
    return {
        "ID": engine.engine_id,
        "Containers": len(containers),
        "ContainersRunning": running,
        "ContainersPaused": 0,
        "ContainersStopped": len(containers) - running,
        "Images": 0,
        "Driver": "cnm-emulator",
        "DriverStatus": [],
        "Plugins": {"Volume": [], "Network": registry.names(), "Authorization": None,
                    "Log": []},
        "MemoryLimit": False, "SwapLimit": False, "CpuCfsPeriod": False, "CpuCfsQuota": False,
        "CPUShares": False, "CPUSet": False, "PidsLimit": False, "OomKillDisable": False,
        "IPv4Forwarding": True, "BridgeNfIptables": engine.fabric.bridge_netfilter,
        "BridgeNfIp6tables": False, "Debug": False, "NFd": 0, "NGoroutines": 0,
        "SystemTime": "", "LoggingDriver": "json-file", "CgroupDriver": "none",
        "CgroupVersion": "2", "NEventsListener": 0, "KernelVersion": platform.release(),
        "OperatingSystem": f"cnm-emulator: emulated Docker host {engine.host}",
        "OSVersion": "", "OSType": "linux", "Architecture": platform.machine(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "IndexServerAddress": "", "RegistryConfig": None, "GenericResources": None,
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "", "Name": engine.host, "Labels": [],
        "ExperimentalBuild": False, "ServerVersion": ENGINE_VERSION, "Runtimes": {},
        "DefaultRuntime": "runc", "Swarm": shapes.swarm_info(engine),
        "LiveRestoreEnabled": False, "Isolation": "", "InitBinary": "",
        "SecurityOptions": [], "Warnings": [],
    }


@ROUTES.add("POST", "/images/create")
def pull(host: HostContext, request: Request) -> Response:
    """Nothing to pull: alpine and busybox run on the busybox root, every other image on
    the machine's root (cnm/images)."""
    image = request.arg("fromImage", "") or ""
    tag = request.arg("tag", "latest") or "latest"
    root = ("the busybox root" if is_busybox_image(image)
            else "the machine's root under a layer of its own")
    lines = [{"status": f"Emulated image {image}:{tag}: containers run on {root}, "
                        "nothing to pull"},
             {"status": f"Status: Image is up to date for {image}:{tag}"}]
    return Response(200, chunks=[json.dumps(line).encode() + b"\r\n" for line in lines])


@ROUTES.add("GET", "/images/{name}/json")
def no_image(host: HostContext, request: Request) -> Response:
    """There are no images to inspect: the emulated host's binaries stand in for them."""
    raise NotFound(f"No such image: {request.params['name']}")


@ROUTES.add("GET", "/volumes/{name}")
def no_volume(host: HostContext, request: Request) -> Response:
    raise NotFound(f"get {request.params['name']}: no such volume")


@ROUTES.add("GET", "/plugins/{name}/json")
def no_plugin(host: HostContext, request: Request) -> Response:
    raise NotFound(f"plugin \"{request.params['name']}\" not found")


@ROUTES.add("GET", "/images/json")
def list_images(host: HostContext, request: Request) -> Response:
    """The images that exist here: alpine and busybox (the busybox root) and those this
    host's containers name (the machine's root, read-only, under a layer of their own)."""
    images = [c.image for c in host.engine.list_containers(all=True)]
    return Response(200, image_summaries(images))


@ROUTES.add("GET", "/volumes")
def no_volumes(host: HostContext, request: Request) -> Response:
    return Response(200, {"Volumes": [], "Warnings": []})


@ROUTES.add("GET", "/plugins")
def no_plugins(host: HostContext, request: Request) -> Response:
    return Response(200, [])


@ROUTES.add("GET", "/version")
def get_version(host: HostContext, request: Request) -> Response:
    return Response(200, version_body())


@ROUTES.add("GET", "/info")
def get_info(host: HostContext, request: Request) -> Response:
    return Response(200, info_body(host.engine))
