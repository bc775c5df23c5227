"""Request bodies, read as dockerd reads them, before anything is touched.

A handler that takes a body reads it with `decode`: the JSON is checked against
the spec's request schema with the Go types dockerd decodes it into
(`goschema`, `gojson`), and a body dockerd would refuse is refused with
dockerd's 400 text (`invalid JSON: json: cannot unmarshal number into Go struct
field NetworkCreateRequest.Name of type string`). What the handler gets is the
body as Go holds it once decoded: fields spelled as the struct spells them
(Go matches keys case-insensitively), unknown fields dropped, nulls gone, every
value of its field's type.

dockerd reads most bodies with httputils.ReadJSON (an empty body is an empty
struct) and containers/create with runconfig's loader (an empty body is EOF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from emulator.api import gojson
from emulator.api.goschema import request_node
from emulator.api.router import Request
from emulator.errdefs import InvalidParameter


@dataclass(frozen=True)
class Body:
    """The body of one endpoint, by its operation in the spec."""

    method: str
    template: str
    empty_is_empty_struct: bool = True


NETWORK_CREATE = Body("POST", "/networks/create")
NETWORK_CONNECT = Body("POST", "/networks/{id}/connect")
NETWORK_DISCONNECT = Body("POST", "/networks/{id}/disconnect")
CONTAINER_CREATE = Body("POST", "/containers/create", empty_is_empty_struct=False)
EXEC_CREATE = Body("POST", "/containers/{id}/exec")
EXEC_START = Body("POST", "/exec/{id}/start")
SWARM_INIT = Body("POST", "/swarm/init")
SWARM_JOIN = Body("POST", "/swarm/join")


def decode(request: Request, body: Body) -> dict[str, Any]:
    """The request's body as dockerd decodes it for `body`'s endpoint."""
    if not request.body and body.empty_is_empty_struct:
        return {}
    text = request.body.decode("utf-8", errors="surrogateescape")
    try:
        value, rest = gojson.read_value(text)
    except gojson.NoValue:
        raise InvalidParameter("invalid JSON: got EOF while reading request body") from None
    except gojson.GoSyntaxError as error:
        raise InvalidParameter(f"invalid JSON: {error}") from None
    node = request_node(body.method, body.template)
    value = gojson.canonical(value, node)
    problem = gojson.type_error(value, node)
    if problem is not None:
        raise InvalidParameter(f"invalid JSON: {problem}")
    if rest.lstrip(gojson.WHITESPACE)[:1] not in ("", "]", "}"):
        raise InvalidParameter("unexpected content after JSON")
    return gojson.settle(value, node) or {}
