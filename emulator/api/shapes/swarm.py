"""Docker's JSON for swarm mode: the Swarm section of /info, GET /swarm, GET /nodes.

Read from the engine's swarm state (`engine.swarm`, `engine.swarm_node`); whether
the node may be asked (a manager) is the handlers' check.
"""

from __future__ import annotations

from emulator.cnm.engine import Engine
from emulator.swarm.cluster import MANAGER_PORT, Swarm, host_port


def swarm_info(engine: Engine) -> dict[str, object]:
    """The Swarm section of GET /info."""
    swarm, node = engine.swarm, engine.swarm_node
    if swarm is None or node is None:
        return {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                "ControlAvailable": False, "Error": "", "RemoteManagers": None}
    info: dict[str, object] = {
        "NodeID": node.node_id, "NodeAddr": str(node.addr), "LocalNodeState": "active",
        "ControlAvailable": node.role == "manager", "Error": "",
        "RemoteManagers": [{"NodeID": m.node_id, "Addr": host_port(m.addr, MANAGER_PORT)}
                           for m in swarm.managers()],
    }
    if node.role == "manager":
        cluster = {k: v for k, v in swarm_inspect(swarm).items() if k != "JoinTokens"}
        info.update({"Nodes": len(swarm.nodes), "Managers": len(swarm.managers()),
                     "Cluster": cluster})
    return info


def swarm_inspect(swarm: Swarm) -> dict[str, object]:
    """GET /swarm."""
    return {
        "ID": swarm.id, "Version": {"Index": 10}, "CreatedAt": swarm.created,
        "UpdatedAt": swarm.created,
        "Spec": {"Name": "default", "Labels": {}, "Orchestration": {},
                 "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0,
                          "LogEntriesForSlowFollowers": 500, "ElectionTick": 10,
                          "HeartbeatTick": 1},
                 "Dispatcher": {"HeartbeatPeriod": 5000000000},
                 "CAConfig": {"NodeCertExpiry": 7776000000000000},
                 "TaskDefaults": {}, "EncryptionConfig": {"AutoLockManagers": False}},
        "TLSInfo": {"TrustRoot": "", "CertIssuerSubject": "", "CertIssuerPublicKey": ""},
        "RootRotationInProgress": False, "DataPathPort": swarm.data_path_port,
        "DefaultAddrPool": list(swarm.default_addr_pool), "SubnetSize": swarm.subnet_size,
        "JoinTokens": {"Worker": swarm.tokens["worker"], "Manager": swarm.tokens["manager"]},
    }


def swarm_nodes(swarm: Swarm) -> list[dict[str, object]]:
    """GET /nodes: every node of the swarm; the first manager leads."""
    leader = swarm.managers()[0].node_id if swarm.managers() else ""
    nodes = []
    for node in swarm.nodes.values():
        entry: dict[str, object] = {
            "ID": node.node_id, "Version": {"Index": 10}, "CreatedAt": node.created,
            "UpdatedAt": node.created,
            "Spec": {"Labels": {}, "Role": node.role, "Availability": "active"},
            "Description": {"Hostname": node.host, "Platform": {"Architecture": "x86_64",
                                                                "OS": "linux"},
                            "Engine": {"EngineVersion": "28.2.2"}},
            "Status": {"State": "ready", "Addr": str(node.addr)},
        }
        if node.role == "manager":
            entry["ManagerStatus"] = {"Leader": node.node_id == leader,
                                      "Reachability": "reachable",
                                      "Addr": host_port(node.addr, MANAGER_PORT)}
        nodes.append(entry)
    return nodes
