"""Swarm mode across the emulated Docker hosts: membership, swarm-scoped networks,
and the overlay control plane that programs every VTEP."""
