"""Two runs' figures side by side: each figure's change, and whether it is beyond noise.

Which direction is worse, by the figure's name (the page states the same rules):
- higher is worse: times (`_s`, `_seconds`, `_ms`, `_us`), CPU (`_percent`), and counts
  of bad outcomes (`wrong`, `failed`, `failures`, `misses`, `false_positives`, `flips`,
  `unclassified`, `differs`, `errors`);
- lower is worse: rates (`_gbps`, `_mbps`, `_kpps`, `_pps`), `speedup`, `ratio`,
  `agreement`/`agree`, `passed`, `detected`, `found`;
- anything else (sizes, counts of what was asked for) is shown but not judged.

Whether a change is beyond run-to-run noise:
- both runs recorded a 95 % CI: the intervals do not overlap;
- correctness figures (`wrong`, `failed`, `misses`, `false_positives`, `unclassified`,
  `differs`, `errors`, agreements): deterministic, so any change is beyond noise;
- other whole-number counts (ARP flips, TCP failures): a Poisson test, beyond noise when
  |after − before| > 1.96 · √(before + after), the 95 % bound of a difference of counts;
- any other figure: the relative change is beyond a tolerance (default 20 %).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emulator.report.runs import Figure, Run, format_number

DEFAULT_TOLERANCE = 0.20

HIGHER_IS_WORSE_SUFFIXES = ("_s", "_seconds", "_ms", "_us", "_percent")
HIGHER_IS_WORSE_WORDS = ("wrong", "failed", "failures", "misses", "false_positives", "flips",
                         "unclassified", "differs", "errors")
LOWER_IS_WORSE_SUFFIXES = ("_gbps", "_mbps", "_kpps", "_pps")
LOWER_IS_WORSE_WORDS = ("speedup", "ratio", "agreement", "agree", "passed", "detected", "found")
EXACT_WORDS = ("wrong", "failed", "misses", "false_positives", "unclassified", "differs",
               "errors", "agreement", "agree")

WORSE = "WORSE"
BETTER = "better"
NOISE = "within noise"
SAME = "same"
CHANGED = "changed (not judged)"


def _words(name: str) -> list[str]:
    return name.lower().replace(":", "_").replace(" ", "_").replace("-", "_").split("_")


def _has_word(name: str, words: tuple[str, ...]) -> bool:
    low = name.lower()
    return any(w in _words(name) or ("_" in w and w in low) for w in words)


def worse_direction(name: str) -> int:
    """+1: a higher value is worse; -1: a lower one is; 0: not judged."""
    low = name.lower()
    if _has_word(name, HIGHER_IS_WORSE_WORDS) or low.endswith(HIGHER_IS_WORSE_SUFFIXES):
        return 1
    if _has_word(name, LOWER_IS_WORSE_WORDS) or low.endswith(LOWER_IS_WORSE_SUFFIXES):
        return -1
    return 0


@dataclass(frozen=True)
class Change:
    """One figure in two runs and the verdict on its change."""

    experiment: str
    name: str
    unit: str
    before: Figure | None
    after: Figure | None
    rule: str
    beyond_noise: bool
    verdict: str

    @property
    def regressed(self) -> bool:
        return self.verdict == WORSE

    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after.value - self.before.value

    def relative(self) -> float | None:
        delta = self.delta()
        if delta is None or self.before is None or self.before.value == 0:
            return None
        return delta / abs(self.before.value)

    def row(self) -> dict[str, str]:
        delta, relative = self.delta(), self.relative()
        return {
            "experiment": self.experiment,
            "figure": self.name,
            "unit": self.unit,
            "before": self.before.text() if self.before else "—",
            "after": self.after.text() if self.after else "—",
            "change": "—" if delta is None else f"{'+' if delta >= 0 else ''}"
                                                f"{format_number(delta)}",
            "change %": "—" if relative is None else f"{relative * 100:+.1f} %",
            "noise rule": self.rule,
            "verdict": self.verdict,
        }


def _beyond_noise(name: str, before: Figure, after: Figure, tolerance: float) -> tuple[str, bool]:
    a, b = before.value, after.value
    if before.ci is not None and after.ci is not None:
        apart = after.ci.low > before.ci.high or after.ci.high < before.ci.low
        return "95 % CIs apart", apart
    if _has_word(name, EXACT_WORDS):
        return "exact (correctness)", not math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
    if a.is_integer() and b.is_integer() and a >= 0 and b >= 0 and not before.unit:
        bound = 1.96 * math.sqrt(a + b)
        return "Poisson 95 %", abs(b - a) > bound
    if a == 0:
        return f"±{tolerance:.0%}", b != 0
    return f"±{tolerance:.0%}", abs(b - a) / abs(a) > tolerance


def compare_figures(experiment: str, before: list[Figure], after: list[Figure],
                    tolerance: float = DEFAULT_TOLERANCE) -> list[Change]:
    old = {f.name: f for f in before}
    new = {f.name: f for f in after}
    changes: list[Change] = []
    for name in list(new) + [n for n in old if n not in new]:
        a, b = old.get(name), new.get(name)
        unit = (b or a).unit  # type: ignore[union-attr]
        if a is None or b is None:
            verdict = "new" if a is None else "gone"
            changes.append(Change(experiment, name, unit, a, b, "—", False, verdict))
            continue
        rule, beyond = _beyond_noise(name, a, b, tolerance)
        direction = worse_direction(name)
        if a.value == b.value:
            verdict = SAME
        elif not beyond:
            verdict = NOISE
        elif direction == 0:
            verdict = CHANGED
        else:
            verdict = WORSE if (b.value - a.value) * direction > 0 else BETTER
        changes.append(Change(experiment, name, unit, a, b, rule, beyond, verdict))
    return changes


@dataclass(frozen=True)
class RunPair:
    """The run of one experiment compared (after) with its baseline (before)."""

    experiment: str
    before: Run | None
    after: Run | None
    changes: list[Change]


def compare_runs(baseline: list[Run], current: list[Run],
                 tolerance: float = DEFAULT_TOLERANCE) -> list[RunPair]:
    """Each experiment of `current` with the same experiment's run in `baseline`."""
    old = {r.experiment: r for r in baseline}
    new = {r.experiment: r for r in current}
    pairs = []
    for experiment in list(new) + [e for e in old if e not in new]:
        a, b = old.get(experiment), new.get(experiment)
        changes = compare_figures(experiment, a.figures if a else [], b.figures if b else [],
                                  tolerance)
        pairs.append(RunPair(experiment, a, b, changes))
    return pairs
