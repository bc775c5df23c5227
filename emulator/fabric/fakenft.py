"""The host firewall's nftables table as the fake fabric keeps it.

It holds what the kernel would hold after each full load and each transaction,
in the statement form the host firewall writes (a table block, then `add set`,
`add rule` and `add element` statements; `flush chain`, `delete set` and
`delete element` in transactions), and refuses what nft would refuse of them:
a change to a table that is not loaded, a rule in a chain or an element in a
set that does not exist, deleting what is not there. Rendered back, the state
takes the form of the firewall's full rendering (sets and elements in name
order, rules chain by chain), so that the two can be compared as text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ELEMENTS = re.compile(r"(add|delete) element inet cnm (\S+) \{ (.+) \}")
_ADD_SET = re.compile(r"add set inet cnm (\S+) \{ .+ \}")
_DELETE_SET = re.compile(r"delete set inet cnm (\S+)")
_RULE = re.compile(r"add rule inet cnm (\S+) .+")
_FLUSH = re.compile(r"flush chain inet cnm (\S+)")
_BLOCK_SET = re.compile(r" {2}(?:set|map) (\S+) \{")
_BLOCK_CHAIN = re.compile(r" {2}chain (\S+) \{")


class NftRefused(RuntimeError):
    pass


@dataclass
class FakeTable:
    skeleton: str = ""
    """The table block as loaded; empty when no table is loaded."""
    declarations: dict[str, str] = field(default_factory=dict)
    """Sets added by statement: name -> the statement."""
    rules: dict[str, list[str]] = field(default_factory=dict)
    """Chain -> the rules added by statement, in order."""
    elements: dict[str, set[str]] = field(default_factory=dict)

    def load(self, ruleset: str) -> None:
        """Replace the table with a whole ruleset (empty: remove it), all or nothing."""
        fresh = FakeTable()
        lines = ruleset.splitlines()
        if lines:
            end = lines.index("}") + 1
            fresh.skeleton = "\n".join(lines[:end]) + "\n"
            for line in lines[:end]:
                if (match := _BLOCK_SET.fullmatch(line)) is not None:
                    fresh.elements[match.group(1)] = set()
                elif (match := _BLOCK_CHAIN.fullmatch(line)) is not None:
                    fresh.rules[match.group(1)] = []
            fresh._run(lines[end:])
        self.__dict__.update(fresh.__dict__)

    def apply(self, transaction: str) -> None:
        """Apply one transaction to the loaded table, all or nothing."""
        if not self.skeleton:
            raise NftRefused("No such file or directory: table inet cnm is not loaded")
        changed = FakeTable(self.skeleton, dict(self.declarations),
                            {chain: list(rules) for chain, rules in self.rules.items()},
                            dict(self.elements))  # a set is replaced, never changed in place
        changed._run(transaction.splitlines())
        self.__dict__.update(changed.__dict__)

    def _run(self, lines: list[str]) -> None:
        for line in filter(None, lines):
            if (match := _ELEMENTS.fullmatch(line)) is not None:
                self._elements(match.group(1), match.group(2), set(match.group(3).split(", ")))
            elif (match := _ADD_SET.fullmatch(line)) is not None:
                self.declarations.setdefault(match.group(1), line)
                self.elements.setdefault(match.group(1), set())
            elif (match := _DELETE_SET.fullmatch(line)) is not None:
                self._set(match.group(1))
                if match.group(1) not in self.declarations:
                    raise NftRefused(f"set {match.group(1)} belongs to the table's block")
                del self.declarations[match.group(1)], self.elements[match.group(1)]
            elif (match := _RULE.fullmatch(line)) is not None:
                self._chain(match.group(1)).append(line)
            elif (match := _FLUSH.fullmatch(line)) is not None:
                self._chain(match.group(1)).clear()
            else:
                raise ValueError(f"the fake fabric does not know this nft statement: {line}")

    def _set(self, name: str) -> set[str]:
        if name not in self.elements:
            raise NftRefused(f"No such file or directory: set {name} does not exist")
        return self.elements[name]

    def _chain(self, name: str) -> list[str]:
        if name not in self.rules:
            raise NftRefused(f"No such file or directory: chain {name} does not exist")
        return self.rules[name]

    def _elements(self, verb: str, name: str, items: set[str]) -> None:
        present = self._set(name)
        if verb == "add":
            self.elements[name] = present | items
            return
        if not items <= present:
            raise NftRefused(f"element does not exist: {sorted(items - present)[0]}")
        self.elements[name] = present - items

    def render(self) -> str:
        if not self.skeleton:
            return ""
        lines = [self.declarations[name] for name in sorted(self.declarations)]
        lines += [rule for rules in self.rules.values() for rule in rules]
        lines += [f"add element inet cnm {name} {{ {', '.join(sorted(items))} }}"
                  for name, items in sorted(self.elements.items()) if items]
        return self.skeleton + "".join(line + "\n" for line in lines)
