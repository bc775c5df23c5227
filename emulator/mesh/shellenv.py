"""What `mesh env` prints: shell text that points the docker CLI at the mesh proxy, and
the text that undoes it, as Weave's `weave env` / `weave env --restore` did.

Weave printed one line, `export DOCKER_HOST=<proxy> ORIG_DOCKER_HOST=<the previous
DOCKER_HOST>`, to be run as `eval $(weave env)`; `--restore` put the previous value
back. Here too the commands are on one line: an unquoted `$(...)` joins lines with
spaces, so a second command needs a `;` (a comment after `#` is harmless either way).
When DOCKER_HOST was unset before, restoring unsets it again. Going from one host's
proxy to another's keeps the first ORIG_DOCKER_HOST, so --restore leaves the proxies.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

DOCKER_HOST = "DOCKER_HOST"
ORIG_DOCKER_HOST = "ORIG_DOCKER_HOST"
PROXY_SOCKET_END = "/mesh.d/docker.sock"  # a proxy's socket in its default state directory


def _value(text: str) -> str:
    return shlex.quote(text) if text else ""


def proxy_exports(proxy_url: str, environ: Mapping[str, str]) -> str:
    """Point DOCKER_HOST at the proxy, keeping what it was in ORIG_DOCKER_HOST (unless it
    already is a mesh proxy set by mesh env: then ORIG_DOCKER_HOST keeps the earlier
    value)."""
    current = environ.get(DOCKER_HOST, "")
    line = f"export {DOCKER_HOST}={_value(proxy_url)}"
    was_proxy = current == proxy_url or (ORIG_DOCKER_HOST in environ
                                         and current.endswith(PROXY_SOCKET_END))
    if not was_proxy:
        line += f" {ORIG_DOCKER_HOST}={_value(current)}"
    return line


def restore_exports(environ: Mapping[str, str], fallback: str | None = None) -> str | None:
    """Undo proxy_exports: DOCKER_HOST back to ORIG_DOCKER_HOST (unset when that is empty).
    Without ORIG_DOCKER_HOST (mesh env never ran in this shell), DOCKER_HOST becomes
    `fallback` if given; None when there is nothing to do."""
    if ORIG_DOCKER_HOST in environ:
        orig = environ[ORIG_DOCKER_HOST]
        if not orig:
            return f"unset {DOCKER_HOST} {ORIG_DOCKER_HOST}"
        return f"export {DOCKER_HOST}={_value(orig)}; unset {ORIG_DOCKER_HOST}"
    if fallback:
        return f"export {DOCKER_HOST}={_value(fallback)}"
    return None


def upstream_of(docker_host: str | None, environ: Mapping[str, str],
                proxy_url: str | None) -> str | None:
    """The Engine API the proxy should front: --docker-host, else DOCKER_HOST unless it
    is the proxy itself, else ORIG_DOCKER_HOST; None when none says."""
    if docker_host:
        return docker_host
    current = environ.get(DOCKER_HOST, "")
    if current and current != proxy_url:
        return current
    return environ.get(ORIG_DOCKER_HOST) or None
