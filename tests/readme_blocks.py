"""The code blocks of README.md, and how the README's test runs a shell block.

A block is a fenced ```sh, ```python or ```yaml block at the start of a line. The
nearest non-blank line above its fence may be a directive for the test:

    <!-- readme-test: skip (why it cannot run in a test) -->
    <!-- readme-test: lab -->        run on a fresh default lab, removed afterwards
    <!-- readme-test: file NAME -->  the block is the file NAME the examples use

In a shell block, a command followed by `#=> TEXT` must print TEXT (on stdout or
stderr) as well as succeed; every command must succeed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
LANGUAGES = ("sh", "python", "yaml")
DIRECTIVES = ("skip", "lab", "file")
_FENCE = re.compile(r"^```(\S*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*readme-test:\s*(\S+)\s*(.*?)\s*-->\s*$")
_EXPECTED = re.compile(r"\s+#=>\s*(.*?)\s*$")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int
    """The line of the opening fence (1-based); the block's first line is line + 1."""
    directive: str | None = None
    argument: str = ""

    @property
    def name(self) -> str:
        return f"README.md:{self.line} {self.language}"


def read_blocks(path: Path = README) -> list[Block]:
    """Every fenced block of the file, in order, with its directive."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end] != "```":
            end += 1
        directive, argument = _directive_above(lines, index)
        found.append(Block(opening.group(1), "\n".join(lines[index + 1:end]) + "\n",
                           index + 1, directive, argument))
        index = end + 1
    return found


def _directive_above(lines: list[str], fence: int) -> tuple[str | None, str]:
    above = fence - 1
    while above >= 0 and not lines[above].strip():
        above -= 1
    match = _DIRECTIVE.match(lines[above]) if above >= 0 else None
    return (match.group(1), match.group(2)) if match else (None, "")


def skip_reason(block: Block) -> str | None:
    """The reason of a skip directive: the text in its parentheses."""
    match = re.fullmatch(r"\((.+)\)", block.argument)
    return match.group(1).strip() if match else None


def expectations(block: Block) -> list[tuple[int, str]]:
    """(README line, text) of each `#=> TEXT` in a shell block."""
    return [(block.line + number, found.group(1))
            for number, line in enumerate(block.text.splitlines(), start=1)
            if (found := _EXPECTED.search(line))]


def shell_script(block: Block) -> str:
    """The block as a bash script that stops at the first failing command, saying at
    which README line, and checks each `#=> TEXT`. Every line of the block stays one
    line of the script, so bash's LINENO maps to the README's line."""
    header = [
        "set -eE -o pipefail",
        f"__first={block.line + 1}; __offset=$(( __first - {len(_HEADER) + 3} ))",
        *_HEADER,
    ]
    body: list[str] = []
    command_start = 0  # the first line of the command a line belongs to (`\` continues)
    for line in block.text.splitlines():
        if not body or not body[-1].endswith("\\"):
            command_start = len(body)
        found = _EXPECTED.search(line)
        if found is None:
            body.append(line)
            continue
        command = line[:found.start()].rstrip().rstrip(";")
        text = shlex.quote(found.group(1))
        closing = (f' ; }} >"$__out" 2>&1 || __failed $? $LINENO; cat "$__out"; '
                   f"__expect {text} $LINENO")
        if command_start == len(body):
            body.append(f"{{ {command}{closing}")
        else:
            body[command_start] = "{ " + body[command_start]
            body.append(command + closing)
    return "\n".join([*header, *body]) + "\n"


_HEADER = [
    "__out=$(mktemp); trap 'rm -f \"$__out\"' EXIT",
    'PS4=\'+ README.md:$(( LINENO + __offset )): \'',
    "__failed() { echo \"README.md:$(( $2 + __offset )): exit status $1\" >&2; "
    "[ -f \"$__out\" ] && cat \"$__out\" >&2; exit 1; }",
    "trap '__failed $? $LINENO' ERR",
    "__expect() { grep -qF -- \"$1\" \"$__out\" || { echo \"README.md:$(( $2 + __offset )): "
    "the output does not contain: $1\" >&2; exit 1; }; }",
    "exec 3>&2; BASH_XTRACEFD=3; set -x",  # the trace stays out of captured output
]
