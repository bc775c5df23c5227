"""One colour-blind-safe palette for the experiments' plots, so a colour means the same
thing in every figure and stays distinguishable with any colour-vision deficiency.

The colours are Okabe and Ito's (2008), the palette matplotlib's colour-blind guides
point to. Reachability cells (heatmaps of who reaches whom) get fixed colours and one
shared legend; series get colours, markers and line styles from SERIES in order, so
two series never differ by colour alone.
"""

from __future__ import annotations

from dataclasses import dataclass

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#999999"
LIGHT_GREY = "#DDDDDD"
WHITE = "#FFFFFF"

# Series colours in order of use, the theory/reference lines in BLACK.
SERIES = (BLUE, ORANGE, BLUISH_GREEN, VERMILLION, SKY_BLUE, REDDISH_PURPLE, YELLOW)
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
LINESTYLES = ("-", "--", ":", "-.")


@dataclass(frozen=True)
class Category:
    """A cell value of a categorical heatmap: its code in the grid, legend label, colour."""

    code: int
    label: str
    color: str


# Reachability heatmaps: what a cell shows. "differs" splits by what was observed, so
# the reader sees which way the emulator is wrong.
NOT_APPLICABLE = Category(0, "not applicable (not probed)", WHITE)
BLOCKED = Category(1, "blocked", LIGHT_GREY)
REACHED = Category(2, "reached", BLUE)
DIFFERS_REACHED = Category(3, "differs: reached, Docker blocks", VERMILLION)
DIFFERS_BLOCKED = Category(4, "differs: blocked, Docker reaches", ORANGE)
REACH_CATEGORIES = (NOT_APPLICABLE, BLOCKED, REACHED, DIFFERS_REACHED, DIFFERS_BLOCKED)


def reach_code(observed_reached: bool, wrong: bool) -> int:
    """The heatmap code of a probed cell."""
    if wrong:
        return (DIFFERS_REACHED if observed_reached else DIFFERS_BLOCKED).code
    return (REACHED if observed_reached else BLOCKED).code


def categorical_map(categories: tuple[Category, ...] = REACH_CATEGORIES):
    """(colormap, norm) drawing each category's code in its colour."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    ordered = sorted(categories, key=lambda c: c.code)
    codes = [c.code for c in ordered]
    bounds = [codes[0] - 0.5, *[code + 0.5 for code in codes]]
    return ListedColormap([c.color for c in ordered]), BoundaryNorm(bounds, len(ordered))


def legend_handles(categories: tuple[Category, ...] = REACH_CATEGORIES) -> list:
    """Legend patches, edged in grey so white and light grey read on a white page."""
    from matplotlib.patches import Patch

    return [Patch(facecolor=c.color, edgecolor=GREY, label=c.label) for c in categories]


# DNS heatmaps (source x name asked): the same colours, in DNS's words.
DNS_CATEGORIES = (
    NOT_APPLICABLE,
    Category(BLOCKED.code, "no address (as Docker)", BLOCKED.color),
    Category(REACHED.code, "resolves (as Docker)", REACHED.color),
    Category(DIFFERS_REACHED.code, "differs: answered, not as Docker", DIFFERS_REACHED.color),
    Category(DIFFERS_BLOCKED.code, "differs: no address, Docker answers",
             DIFFERS_BLOCKED.color),
)
