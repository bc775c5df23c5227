"""Docker CLI output, byte for byte: tables, `--format` templates, inspect JSON.

Ports of what docker/cli does: its tabwriter (elastic tabstops: minimum width
10, padding 3), formatter.Context.Write (the `table` prefix, `\\t` and `\\n`
escapes, the header row), the inspect printer (Go's json.Indent of the raw
API bodies), and the little helpers its columns use (TruncateID, Ellipsis,
HumanDuration, sortorder.NaturalLess, Time.String).
"""

from __future__ import annotations

import functools
import re
import time
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime

from emulator.client.template import Row, Template, TemplateError, go_quote

__all__ = ["FormatError", "Row", "check_template", "compact_json", "displayable_ports",
           "display_width", "ellipsis", "familiar_image", "go_quote", "go_time", "go_unix_time",
           "human_duration", "indent_json", "inspect_output", "natural_sorted",
           "normalized_image", "since", "tabwrite", "truncate_id", "write_list"]


class FormatError(Exception):
    """A template error, with the text docker prints and its exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- widths and the tabwriter ------------------------------------------------------


def char_width(ch: str) -> int:
    if unicodedata.combining(ch) or (unicodedata.category(ch) in ("Mn", "Me", "Cf")):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """docker/cli's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0) over all of `text`.

    Tab-terminated cells of consecutive lines form a column, padded to its widest
    cell plus `padding` (at least `minwidth`); a line's last cell is not in a column.
    """
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            for j, cell in enumerate(cells):
                out.append(cell)
                if j < len(widths) and j < len(cells) - 1:
                    out.append(" " * (widths[j] - display_width(cell)))
            if i + 1 < len(lines):
                out.append("\n")

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, display_width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, len(lines))
    return "".join(out)


# -- listings -----------------------------------------------------------------------


def write_list(fmt: str, rows: Iterable[Row], titles: dict[str, str]) -> str:
    """formatter.Context.Write: every row through the template, a table with its header.

    Raises FormatError("template parsing error: ...") like docker.
    """
    is_table = fmt.startswith("table")
    final = fmt[len("table"):] if is_table else ("{{json .}}" if fmt == "json" else fmt)
    final = final.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    try:
        template = Template(final)
        body = "".join(template.execute(row) + "\n" for row in rows)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None
    if not is_table:
        return body
    return tabwrite(template.execute_header(titles) + "\n" + body)


def check_template(fmt: str, sample: Row) -> None:
    """`docker ps`'s early check of a --format string, on an empty row."""
    try:
        template = Template(fmt)
    except TemplateError as exc:
        raise FormatError(f"failed to parse template: {exc}") from None
    try:
        template.execute(sample)
    except TemplateError as exc:
        raise FormatError(f"failed to execute template: {exc}") from None


# -- inspect ------------------------------------------------------------------------


def _json_tokens(raw: bytes) -> Iterable[tuple[bool, bytes]]:
    """(is_punctuation, bytes) for the JSON text; whitespace outside strings dropped."""
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i:i + 1]
        if ch in b" \t\r\n":
            i += 1
        elif ch == b'"':
            j = i + 1
            while j < n and raw[j:j + 1] != b'"':
                j += 2 if raw[j:j + 1] == b"\\" else 1
            yield False, raw[i:j + 1]
            i = j + 1
        elif ch in b"{}[],:":
            yield True, ch
            i += 1
        else:
            j = i
            while j < n and raw[j:j + 1] not in b' \t\r\n{}[],:"':
                j += 1
            yield False, raw[i:j]
            i = j


def indent_json(raw: bytes, indent: bytes = b"    ") -> bytes:
    """Go's json.Indent(dst, raw, "", indent) (the bytes of strings kept as they are)."""
    out = bytearray()
    depth = 0
    need_indent = False
    for punct, token in _json_tokens(raw):
        closing = punct and token in (b"}", b"]")
        if need_indent and not closing:
            need_indent = False
            depth += 1
            out += b"\n" + indent * depth
        if not punct:
            out += token
        elif token in (b"{", b"["):
            need_indent = True
            out += token
        elif token == b",":
            out += b",\n" + indent * depth
        elif token == b":":
            out += b": "
        else:
            if need_indent:
                need_indent = False
            else:
                depth -= 1
                out += b"\n" + indent * depth
            out += token
    return bytes(out)


def compact_json(raw: bytes) -> bytes:
    """Go's json.Compact."""
    return b"".join(token for _, token in _json_tokens(raw))


def inspect_output(raws: list[bytes], fmt: str | None) -> tuple[bytes, list[str]]:
    """What `docker ... inspect [-f FMT]` prints for the raw API bodies of the objects
    found, and the template errors (docker prints them after, and exits 1)."""
    if not fmt:
        if not raws:
            return b"[]\n", []
        return indent_json(b"[" + b",".join(raws) + b"]") + b"\n", []
    if fmt == "json":
        if not raws:
            return b"[]\n", []
        return compact_json(b"[" + b",".join(raws) + b"]") + b"\n", []
    import json

    try:
        template = Template(fmt)
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}", status=64) from None
    out, errors = [], []
    for raw in raws:
        try:
            out.append(template.execute(json.loads(raw)) + "\n")
        except TemplateError as exc:
            errors.append(f"template parsing error: {exc}")
    text = "".join(out) or "\n"
    return text.encode(), errors


# -- column helpers -----------------------------------------------------------------


def truncate_id(ident: str) -> str:
    """stringid.TruncateID: without an algorithm prefix, 12 characters."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:12]


def ellipsis(text: str, max_width: int) -> str:
    """formatter.Ellipsis: at most max_width columns, the last one `…` if cut."""
    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if text.isascii():
        return text if len(text) <= max_width else text[:max_width - 1] + "…"
    widths, total = [], 0
    for ch in text:
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        widths.append(total)
    if total <= max_width:
        return text
    for i in range(len(widths) - 1):
        if widths[i] <= max_width - 1 < widths[i + 1]:
            return text[:i + 1] + "…"
    return text


def human_duration(seconds: float) -> str:
    """go-units HumanDuration."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = secs // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int((seconds + 1800) // 3600)  # d.Round(time.Hour)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def since(epoch: float, now: float | None = None) -> str:
    """A listing's CREATED column: `<HumanDuration> ago`."""
    return human_duration((time.time() if now is None else now) - epoch) + " ago"


_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def go_time(stamp: str) -> str:
    """Go's Time.String() of an RFC 3339 time from the API: `2006-01-02 15:04:05.999 +0000 UTC`."""
    match = _RFC3339.match(stamp)
    if not match:
        return stamp
    day, clock, fraction, zone = match.groups()
    fraction = (fraction or "").rstrip("0")
    text = f"{day} {clock}" + (f".{fraction}" if fraction else "")
    if zone == "Z":
        return text + " +0000 UTC"
    offset = zone.replace(":", "")
    return f"{text} {offset} {offset}"


def go_unix_time(epoch: int) -> str:
    """Go's time.Unix(epoch, 0).String(), in the local time zone."""
    local = datetime.fromtimestamp(epoch, UTC).astimezone()
    zone = local.strftime("%Z")
    offset = local.strftime("%z")
    if not zone or zone[0] in "+-":
        zone = offset
    return local.strftime("%Y-%m-%d %H:%M:%S ") + f"{offset} {zone}"


def _natural_less(a: str, b: str) -> bool:
    """sortorder.NaturalLess: digit runs compare as numbers, digits before the rest."""
    x, y = a.encode(), b.encode()
    i = j = 0
    while i < len(x) and j < len(y):
        dx, dy = x[i:i + 1].isdigit(), y[j:j + 1].isdigit()
        if dx != dy:
            return dx
        if not dx:
            if x[i] != y[j]:
                return x[i] < y[j]
            i += 1
            j += 1
            continue
        while i < len(x) and x[i:i + 1] == b"0":
            i += 1
        while j < len(y) and y[j:j + 1] == b"0":
            j += 1
        nz_x, nz_y = i, j
        while i < len(x) and x[i:i + 1].isdigit():
            i += 1
        while j < len(y) and y[j:j + 1].isdigit():
            j += 1
        if i - nz_x != j - nz_y:
            return i - nz_x < j - nz_y
        if x[nz_x:i] != y[nz_y:j]:
            return x[nz_x:i] < y[nz_y:j]
        if nz_x != nz_y:
            return nz_x < nz_y
    return len(x) < len(y)


def natural_sorted(items: Iterable, key=lambda item: item) -> list:
    def compare(a, b) -> int:
        ka, kb = key(a), key(b)
        if _natural_less(ka, kb):
            return -1
        return 1 if _natural_less(kb, ka) else 0

    return sorted(items, key=functools.cmp_to_key(compare))


def familiar_image(image: str) -> str:
    """reference.FamiliarString of the normalized name, digest dropped, tag kept."""
    name = image.partition("@")[0]
    for domain in ("docker.io/", "index.docker.io/"):
        if name.startswith(domain):
            name = name[len(domain):]
            path = name.split(":")[0]
            if path.startswith("library/") and path.count("/") == 1:
                name = name[len("library/"):]
            break
    return name


def normalized_image(image: str) -> tuple[str, str]:
    """(repository as docker pulls it, tag): `alpine` -> (`docker.io/library/alpine`, `latest`)."""
    name, at, digest = image.partition("@")
    first, slash, rest = name.partition("/")
    if not slash:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if at:
        return name, "@" + digest
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        repo, _, tag = name.rpartition(":")
        return repo, tag
    return name, "latest"


def displayable_ports(ports: list[dict]) -> str:
    """formatter.DisplayablePorts: `0.0.0.0:80->80/tcp, 9000-9001/tcp`."""
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def join(ip: str, port: str) -> str:
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"

    def form(key: str, first: int, last: int) -> str:
        ip, _, kind = key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            group = f"{join(ip, group)}->{group}"
        return f"{group}/{kind}"

    def sort_key(p: dict) -> tuple:
        return (p.get("PrivatePort", 0), p.get("IP", ""), p.get("PublicPort", 0),
                p.get("Type", ""))

    for port in sorted(ports, key=sort_key):
        current = port.get("PrivatePort", 0)
        key = port.get("Type", "")
        ip = port.get("IP", "")
        if ip:
            if port.get("PublicPort", 0) != current:
                mappings.append(f"{join(ip, str(port.get('PublicPort', 0)))}->{current}/"
                                f"{port.get('Type', '')}")
                continue
            key = f"{ip}/{key}"
        group = groups.get(key)
        if group is None:
            groups[key] = [current, current]
            order.append(key)
        elif current == group[1] + 1:
            group[1] = current
        else:
            result.append(form(key, group[0], group[1]))
            groups[key] = [current, current]
    result += [form(key, *groups[key]) for key in order]
    return ", ".join(result + mappings)
