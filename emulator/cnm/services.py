"""Swarm services on one engine: what a manager does when asked, and what every node
does for the tasks placed on it.

INTERFACE FIRST (being implemented): the Engine facade exposes
    engine.create_service(spec: ServiceSpec) -> tuple[Service, list[str]]   # warnings
    engine.update_service(ref: str, version: int, spec: ServiceSpec) -> list[str]
    engine.remove_service(ref: str) -> None
    engine.list_services() -> list[Service]
    engine.get_service(ref: str) -> Service            # id, name, or unique id prefix
    engine.list_tasks() -> list[Task]
    engine.get_task(ref: str) -> Task
    engine.service_status(service: Service) -> tuple[int, int]   # (running, desired)
All of them are manager-only (a worker raises errdefs.Unavailable with dockerd's
text). `spec.networks[i].target` may be a name or an ID; the stored spec holds IDs.
Data classes: `emulator.swarm.services`.
"""
