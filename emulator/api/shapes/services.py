"""Docker's JSON for swarm services and tasks: GET /services, /services/{id}, /tasks.

dockerd 28 converts swarmkit's objects (daemon/cluster/convert) into
api/types/swarm's structs, whose `omitempty` tags decide which fields appear.
The spec is written as the docker CLI 28 sends it for `docker service create`
(`Init: false`, an empty `DNSConfig`, `Resources` with empty `Limits` and
`Reservations`, an empty `Placement`) and as swarmkit stores it (`Isolation:
"default"`, `ForceUpdate: 0`, `Runtime: "container"`, network targets as IDs).
`insertDefaults=true` adds what swarmkit's defaults package fills in (restart
policy, stop grace period, update and rollback configs). Whatever is rendered
here decodes back into the same `ServiceSpec` (`emulator.api.services`), as
`docker service update` and docker-py's `scale` send the inspected spec back.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Interface
from typing import Any

from emulator.cnm.model import Network
from emulator.swarm.services import PortConfig, Service, ServiceSpec, Task
from emulator.swarm.shared import SharedNetwork

STOP_GRACE_PERIOD_NS = 10_000_000_000
RESTART_DELAY_NS = 5_000_000_000
MONITOR_NS = 5_000_000_000

DEFAULT_UPDATE_CONFIG: dict[str, Any] = {
    "Parallelism": 1, "FailureAction": "pause", "Monitor": MONITOR_NS,
    "MaxFailureRatio": 0, "Order": "stop-first"}
"""swarmkit's defaults.Service.Update (and .Rollback), as GET insertDefaults shows them."""
DEFAULT_RESTART_POLICY: dict[str, Any] = {
    "Condition": "any", "Delay": RESTART_DELAY_NS, "MaxAttempts": 0}


def port_json(port: PortConfig, published: bool = True) -> dict[str, Any]:
    """One PortConfig; PublishedPort left out when 0 (omitempty), as in a stored spec."""
    entry: dict[str, Any] = {"Protocol": port.protocol, "TargetPort": port.target}
    if published and port.published:
        entry["PublishedPort"] = port.published
    entry["PublishMode"] = port.mode
    return entry


def endpoint_spec_json(spec: ServiceSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"Mode": spec.endpoint_mode}
    if spec.ports:
        entry["Ports"] = [port_json(p) for p in spec.ports]
    return entry


def task_template_json(spec: ServiceSpec, insert_defaults: bool = False) -> dict[str, Any]:
    """swarm.TaskSpec: the service's TaskTemplate, and every task's Spec."""
    container: dict[str, Any] = {"Image": spec.image}
    if spec.command:
        container["Command"] = list(spec.command)
    if spec.args:
        container["Args"] = list(spec.args)
    if spec.hostname:
        container["Hostname"] = spec.hostname
    if spec.env:
        container["Env"] = list(spec.env)
    container["Init"] = False
    if insert_defaults:
        container["StopGracePeriod"] = STOP_GRACE_PERIOD_NS
    container["DNSConfig"] = {}
    container["Isolation"] = "default"
    template: dict[str, Any] = {
        "ContainerSpec": container,
        "Resources": {"Limits": {}, "Reservations": {}},
    }
    if insert_defaults:
        template["RestartPolicy"] = dict(DEFAULT_RESTART_POLICY)
    template["Placement"] = {}
    if spec.networks:
        template["Networks"] = [
            {"Target": n.target, **({"Aliases": list(n.aliases)} if n.aliases else {})}
            for n in spec.networks]
    template["ForceUpdate"] = 0
    template["Runtime"] = "container"
    return template


def spec_json(spec: ServiceSpec, insert_defaults: bool = False) -> dict[str, Any]:
    """swarm.ServiceSpec as stored (Annotations' Labels are never omitted)."""
    entry: dict[str, Any] = {
        "Name": spec.name,
        "Labels": dict(spec.labels),
        "TaskTemplate": task_template_json(spec, insert_defaults),
        "Mode": {"Replicated": {"Replicas": spec.replicas}},
    }
    if insert_defaults:
        entry["UpdateConfig"] = dict(DEFAULT_UPDATE_CONFIG)
        entry["RollbackConfig"] = dict(DEFAULT_UPDATE_CONFIG)
    entry["EndpointSpec"] = endpoint_spec_json(spec)
    return entry


def endpoint_json(service: Service) -> dict[str, Any]:
    """swarm.Endpoint: the spec, the ports as allocated, the virtual IPs."""
    entry: dict[str, Any] = {"Spec": endpoint_spec_json(service.spec)}
    if service.ports:
        entry["Ports"] = [port_json(p) for p in service.ports]
    if service.vips:
        entry["VirtualIPs"] = [{"NetworkID": network_id, "Addr": str(vip)}
                               for network_id, vip in service.vips.items()]
    return entry


def service_json(service: Service, insert_defaults: bool = False,
                 status: tuple[int, int] | None = None) -> dict[str, Any]:
    """swarm.Service; `status` (running, desired) adds ServiceStatus (GET /services?status)."""
    entry: dict[str, Any] = {
        "ID": service.id,
        "Version": {"Index": service.version},
        "CreatedAt": service.created,
        "UpdatedAt": service.updated,
        "Spec": spec_json(service.spec, insert_defaults),
    }
    if service.previous_spec is not None:
        entry["PreviousSpec"] = spec_json(service.previous_spec, insert_defaults)
    entry["Endpoint"] = endpoint_json(service)
    if status is not None:
        running, desired = status
        entry["ServiceStatus"] = {"RunningTasks": running, "DesiredTasks": desired,
                                  "CompletedTasks": 0}
    return entry


def swarm_network_json(network: Network | SharedNetwork) -> dict[str, Any]:
    """swarm.Network, as a task's NetworksAttachments shows the network it is on (the
    swarm's definition where this node has not instantiated the network: no subnet)."""
    ipam: dict[str, Any] = {"Driver": {"Name": "default"}}
    configs = [{k: str(v) for k, v in config.items() if k in ("Subnet", "Gateway")}
               for config in getattr(network, "ipam_config", [])]
    if configs:
        ipam["Configs"] = configs
    spec: dict[str, Any] = {"Name": network.name, "Labels": dict(network.labels),
                            "DriverConfiguration": {"Name": network.driver}}
    if network.ingress:
        spec["Ingress"] = True
    if network.attachable:
        spec["Attachable"] = True
    spec["IPAMOptions"] = ipam
    spec["Scope"] = "swarm"
    return {
        "ID": network.id, "Version": {"Index": 10}, "CreatedAt": network.created,
        "UpdatedAt": network.created, "Spec": spec,
        "DriverState": {"Name": network.driver, "Options": dict(network.options)},
        "IPAMOptions": ipam,
    }


def task_json(task: Task, service: Service | None,
              networks: Mapping[str, Network | SharedNetwork], pid: int = 0) -> dict[str, Any]:
    """swarm.Task. `service` gives the Spec (None once the service is gone); `networks`
    are the swarm's (a task's address on any other, docker_gwbridge, is not shown);
    `pid` is the task's process where this engine knows it."""
    status: dict[str, Any] = {"Timestamp": task.timestamp, "State": task.state,
                              "Message": task.message}
    if task.error:
        status["Err"] = task.error
    if task.container_id:
        status["ContainerStatus"] = {"ContainerID": task.container_id, "PID": pid,
                                     "ExitCode": task.exit_code or 0}
    status["PortStatus"] = _port_status(service)
    entry: dict[str, Any] = {
        "ID": task.id,
        "Version": {"Index": task.version},
        "CreatedAt": task.created,
        "UpdatedAt": task.updated,
        "Labels": {},
    }
    if service is not None:
        entry["Spec"] = task_template_json(service.spec)
    entry.update({"ServiceID": task.service_id, "Slot": task.slot, "NodeID": task.node_id,
                  "Status": status, "DesiredState": task.desired_state})
    attachments = [{"Network": swarm_network_json(networks[network_id]),
                    "Addresses": [_address(address)]}
                   for network_id, address in task.addresses.items() if network_id in networks]
    if attachments:
        entry["NetworksAttachments"] = attachments
    return entry


def _port_status(service: Service | None) -> dict[str, Any]:
    """Ports published in host mode show on the task; ingress ones only on the service."""
    if service is None:
        return {}
    host_ports = [port_json(p) for p in service.ports if p.mode == "host" and p.published]
    return {"Ports": host_ports} if host_ports else {}


def _address(address: IPv4Interface) -> str:
    return str(address)
