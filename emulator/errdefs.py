"""Docker's error classes (moby's errdefs), at the bottom of the package tree.

Every layer raises what dockerd would answer: each error carries Docker's own
message and the HTTP status dockerd maps its errdefs class to. Nothing here
imports anything of the project, so every package may use it.
"""

from __future__ import annotations


class DockerError(Exception):
    """An error with Docker's message text; `status` is dockerd's HTTP status."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParameter(DockerError):
    """errdefs.InvalidParameter: the request itself is wrong."""

    status = 400


class Forbidden(DockerError):
    """errdefs.Forbidden: the request is valid but not allowed."""

    status = 403


class NotFound(DockerError):
    """errdefs.NotFound: no such network, container or endpoint."""

    status = 404


class Conflict(DockerError):
    """errdefs.Conflict: the name or resource is already taken."""

    status = 409


class NotImplementedByEmulator(DockerError):
    """errdefs.NotImplemented: the kernel or emulator lacks what this needs."""

    status = 501


class Unavailable(DockerError):
    """errdefs.Unavailable: the address space or resource is exhausted."""

    status = 503
