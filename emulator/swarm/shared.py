"""A network defined once for many hosts: the record a shared scope keeps.

Both a swarm's managers (swarm scope) and the lab's datastore for plugins'
global-scope networks keep networks this way: one definition, with one ID and one
address pool in the scope's address space, of which each host makes its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulator.ids import docker_timestamp


@dataclass
class SharedNetwork:
    id: str
    name: str
    driver: str
    options: dict[str, str]
    labels: dict[str, str]
    internal: bool
    attachable: bool
    pool_id: str
    ingress: bool = False
    created: str = field(default_factory=docker_timestamp)
    enable_ipv6: bool = False
    """EnableIPv6 of the spec. The pool is IPv4 whatever this says: Docker 28's swarm
    allocator hands out IPv4 only, and each node gives the network an IPv6 pool of its
    own when it makes its copy."""
