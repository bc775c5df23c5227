"""`cnm network ...` and `cnm container ...`: a docker CLI for machines without one.

Thin clients of an emulated host's Engine API (through docker-py) that print
what the docker CLI 28 prints and exit with its statuses.
"""


def add_parsers(sub) -> None:
    """Register `network` and `container` under the `cnm` subcommands."""
    from emulator.client import container, network

    network.add_parser(sub)
    container.add_parser(sub)
