"""`cnm run differential`: the same scenarios on an emulated lab and on a real one.

Two labs of the isolation topology (plus an empty Docker host `cli` for the CLI
transcripts) come up side by side, one emulated, one whose Docker hosts each run a
real dockerd 20.10 (`engine: docker`). Four parts run on
both, and every item is compared: (a) the isolation truth table, cell by cell
(expected from each lab's Engine API state, observed on the wire), with its dns
section (each container's answer from 127.0.0.11 for each name of the lab) and its
published section (published ports reached from the host, containers, another
host, outside; and `docker port`'s bindings); (b) per
container facts from the kernel and inspect (facts.py); (c) a corpus of docker CLI
transcripts (transcripts.py); (d) a two-host swarm's overlay on the wire
(overlay.py). Each difference is classified (classify.py, known_differences.yaml):
a Docker 20.10-vs-28 difference with its source, a kernel limit, or a known
emulator defect. The run fails on any unclassified difference, and on isolation
agreement under 99 %.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from emulator.experiments.differential import facts, overlay, transcripts
from emulator.experiments.differential.classify import Classifier
from emulator.experiments.isolation import (
    PublishedCell,
    default_topology_path,
    has_overlay_section,
    has_published_section,
    measure,
    measure_dns,
    measure_overlays,
    measure_published,
)
from emulator.experiments.registry import register
from emulator.experiments.results import Check, Outcome, RunContext, could_not_run
from emulator.lab import Lab, realdocker
from emulator.probes.apistate import read_lab
from emulator.probes.dnstable import DnsCell
from emulator.probes.matrix import Cell
from emulator.topology import HostSpec, Topology, read_topology

ISOLATION_TARGET = 0.99
TRANSCRIPT_HOST = "cli"
SECTIONS = ("isolation", "dns", "published", "facts", "transcripts", "overlay")


def isolation_rows(emulated: Iterable[Cell], real: Iterable[Cell], classifier: Classifier,
                   part: str = "main") -> list[dict[str, Any]]:
    """A row per cell probed on both labs: expected (each lab's model), emulated and
    real observations; a disagreement between the observations is classified. `part`
    names the matrix (the main one, or the overlay section's)."""
    theirs = {(c.source, c.target, c.protocol, c.family): c for c in real}
    rows = []
    for mine in emulated:
        key = (mine.source, mine.target, mine.protocol, mine.family)
        other = theirs.pop(key, None)
        rows.append(_isolation_row(classifier, part, mine, other))
    for other in theirs.values():
        rows.append(_isolation_row(classifier, part, None, other))
    return rows


def _isolation_row(classifier: Classifier, part: str, mine: Cell | None,
                   other: Cell | None) -> dict[str, Any]:
    cell = mine or other
    assert cell is not None
    emulated = mine.observed.value if mine else "absent"
    real = other.observed.value if other else "absent"
    expected = mine.expected.value if mine else "absent"
    expected_real = other.expected.value if other else "absent"
    agree = emulated == real
    key = f"{cell.source} -> {cell.target}"
    verdict = None if agree else classifier("isolation", key, cell.label, emulated, real,
                                            expected)
    return {"part": part, "source": cell.source, "target": cell.target,
            "protocol": cell.protocol, "family": cell.family,
            "expected": expected, "expected_real": expected_real, "emulated": emulated,
            "real": real, "agree": agree, "class": verdict.cls if verdict else "",
            "reason": verdict.reason if verdict else "",
            "source_of_change": verdict.source if verdict else "",
            "evidence_emulated": mine.evidence if mine else "",
            "evidence_real": other.evidence if other else ""}


def dns_rows(emulated: Iterable[DnsCell], real: Iterable[DnsCell],
             classifier: Classifier) -> list[dict[str, Any]]:
    """A row per (source, name asked) on both labs: each lab's expected answer and
    observed one, as endpoints (`h1/f1@front`). Names that differ from lab to lab (short
    ids, default hostnames) are matched by what they are (`<short id of h1/f1>`)."""
    theirs = {(c.source, c.asked): c for c in real}
    rows = []
    for mine in emulated:
        rows.append(_dns_row(classifier, mine, theirs.pop((mine.source, mine.asked), None)))
    rows += [_dns_row(classifier, None, other) for other in theirs.values()]
    return rows


def _dns_row(classifier: Classifier, mine: DnsCell | None,
             other: DnsCell | None) -> dict[str, Any]:
    cell = mine or other
    assert cell is not None
    emulated = _answer(mine.observed) if mine else "absent"
    real = _answer(other.observed) if other else "absent"
    expected = _answer(mine.expected) if mine else "absent"
    agree = emulated == real
    key = f"{cell.source} asks {cell.asked}"
    verdict = None if agree else classifier("dns", key, "answer", emulated, real, expected)
    return {"source": cell.source, "asked": cell.asked, "expected": expected,
            "expected_real": _answer(other.expected) if other else "absent",
            "emulated": emulated, "real": real, "agree": agree,
            "as_expected_emulated": mine.ok if mine else None,
            "as_expected_real": other.ok if other else None,
            "class": verdict.cls if verdict else "", "reason": verdict.reason if verdict else "",
            "source_of_change": verdict.source if verdict else "",
            "evidence_emulated": mine.evidence if mine else "",
            "evidence_real": other.evidence if other else ""}


def _answer(endpoints: str) -> str:
    return endpoints or "no address"


def published_rows(emulated: Iterable[PublishedCell], real: Iterable[PublishedCell],
                   classifier: Classifier) -> list[dict[str, Any]]:
    """A row per (source, target, binding) probed on both labs, and per binding as
    `docker port` shows it; a disagreement is classified."""
    theirs = {(c.source, c.target, c.binding): c for c in real}
    rows = []
    for mine in emulated:
        rows.append(_published_row(classifier, mine,
                                   theirs.pop((mine.source, mine.target, mine.binding), None)))
    rows += [_published_row(classifier, None, other) for other in theirs.values()]
    return rows


def _published_row(classifier: Classifier, mine: PublishedCell | None,
                   other: PublishedCell | None) -> dict[str, Any]:
    cell = mine or other
    assert cell is not None
    emulated = mine.observed if mine else "absent"
    real = other.observed if other else "absent"
    expected = mine.expected if mine else (other.expected if other else "absent")
    agree = emulated == real
    key = f"{cell.source} -> {cell.target}"
    verdict = None if agree else classifier("published", key, cell.binding, emulated, real,
                                            expected)
    return {"source": cell.source, "relation": cell.relation, "target": cell.target,
            "binding": cell.binding, "expected": expected, "emulated": emulated, "real": real,
            "agree": agree, "as_expected_emulated": not mine.wrong if mine else None,
            "as_expected_real": not other.wrong if other else None,
            "class": verdict.cls if verdict else "",
            "reason": verdict.reason if verdict else "",
            "source_of_change": verdict.source if verdict else "",
            "evidence_emulated": mine.evidence if mine else "",
            "evidence_real": other.evidence if other else ""}


def compare_macs_by_kind(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A random MAC differs on every host, and Docker 20.10's are derived from the IP:
    a raw MAC row agrees when its `... kind` row does (the kind row carries the
    difference); the values stay in the table."""
    kinds = {(r["scenario"], r["container"], r["fact"]): r["agree"] for r in rows}
    out = []
    for row in rows:
        kind = kinds.get((row["scenario"], row["container"], f"{row['fact']} kind"))
        out.append({**row, "agree": kind} if kind is not None else row)
    return out


def classified_rows(section: str, rows: Iterable[dict[str, Any]], key: str, field: str,
                    classifier: Classifier) -> list[dict[str, Any]]:
    """Rows of facts or overlay metrics, each disagreement classified (`key` and
    `field` name the columns that identify the item to the classifier)."""
    out = []
    for row in rows:
        item = key.format(**row) if "{" in key else str(row[key])
        verdict = None if row["agree"] else classifier(
            section, item, str(row[field]), row["emulated"], row["real"])
        out.append({**row, "class": verdict.cls if verdict else "",
                    "reason": verdict.reason if verdict else "",
                    "source_of_change": verdict.source if verdict else ""})
    return out


def section_agreement(section: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    differ = [r for r in rows if not r["agree"]]
    by_class = {cls: sum(1 for r in differ if r["class"] == cls)
                for cls in ("version", "kernel", "defect", "unclassified")}
    agreed = len(rows) - len(differ)
    return {"section": section, "items": len(rows), "agree": agreed,
            "agreement": round(agreed / len(rows), 4) if rows else 1.0,
            **{f"differ_{cls}": n for cls, n in by_class.items()}}


def with_transcript_host(topology: Topology) -> Topology:
    """The topology plus an empty Docker host for the CLI transcripts: the corpus lists
    containers and networks, which must be its own on both labs."""
    if any(h.name == TRANSCRIPT_HOST for h in topology.hosts):
        raise ValueError(f"the differential adds a Docker host named {TRANSCRIPT_HOST!r}; "
                         "the topology has one already")
    taken = {h.address for h in topology.hosts} | {topology.outside.address}
    subnet = topology.underlay.subnet
    address = next(a for a in subnet.hosts() if a not in taken and int(a) - int(
        subnet.network_address) > 10)
    return replace(topology, hosts=(*topology.hosts, HostSpec(TRANSCRIPT_HOST, address)))


def _lab_names(run_id: str) -> tuple[str, str]:
    suffix = run_id[-4:]
    return f"de{suffix}", f"dr{suffix}"


@register("differential", "an emulated lab and a real Docker Engine lab, compared item by "
          "item (isolation cells, DNS answers, published ports, container facts, CLI "
          "transcripts, overlay wire)", params=("topology", "lab"))
def run(ctx: RunContext) -> Outcome:
    missing = realdocker.available()
    if missing:
        outcome = could_not_run(f"no real Docker Engine: {missing}")
        ctx.finish(outcome, f"# differential\n\nNot run: {missing}.\n")
        return outcome
    topology = ctx.params.get("topology")
    path = topology if topology and topology != "<default>" else default_topology_path()
    ctx.params["topology"] = str(path)
    classifier = Classifier.load()
    prefix = ctx.params.get("lab")  # names the two labs PREFIXe and PREFIXr
    emulated_name, real_name = (f"{prefix}e", f"{prefix}r") if prefix else _lab_names(
        ctx.run_id)
    lab_topology = with_transcript_host(read_topology(path).topology)
    timings: dict[str, float] = {}
    with ExitStack() as stack:
        ctx.progress(f"starting lab {emulated_name} (emulated) and {real_name} (real dockerd "
                     "on every host)")
        started = time.monotonic()
        emulated = stack.enter_context(Lab(lab_topology, emulated_name))
        real = stack.enter_context(Lab(lab_topology, real_name, engine="docker"))
        timings["labs up"] = time.monotonic() - started

        ctx.progress("(a) isolation: probing both labs")
        started = time.monotonic()
        iso = isolation_rows(measure(emulated)[0], measure(real)[0], classifier)
        timings["isolation"] = time.monotonic() - started

        # Before the overlay section: a real dockerd 20.10's embedded DNS stops
        # answering its containers once its host has been in a swarm and left it.
        ctx.progress("(a) isolation: the dns section on both labs")
        started = time.monotonic()
        states = {"emulated": read_lab(emulated), "real": read_lab(real)}
        dns = dns_rows(measure_dns(states["emulated"])[0], measure_dns(states["real"])[0],
                       classifier)
        timings["dns"] = time.monotonic() - started
        published: list[dict[str, Any]] = []
        if has_published_section(states["emulated"]):
            ctx.progress("(a) isolation: the published section on both labs")
            started = time.monotonic()
            published = published_rows(measure_published(emulated, states["emulated"]),
                                       measure_published(real, states["real"]), classifier)
            timings["published"] = time.monotonic() - started

        if has_overlay_section(emulated):
            ctx.progress("(a) isolation: the overlay section (a swarm of h1 and h2) on both")
            started = time.monotonic()
            iso += isolation_rows(measure_overlays(emulated)[0], measure_overlays(real)[0],
                                  classifier, part="overlay section")
            timings["isolation"] += time.monotonic() - started

        ctx.progress("(b) per-container facts")
        started = time.monotonic()
        fact_rows = compare_macs_by_kind([r.as_dict() for r in facts.differential(
            facts.Side.of(emulated, "h2"), facts.Side.of(real, "h2"), prefix="fx",
            lan=facts.lan_of(emulated), progress=ctx.progress)])
        fact_rows = classified_rows("facts", fact_rows, "{scenario}/{container}", "fact",
                                    classifier)
        timings["facts"] = time.monotonic() - started

        ctx.progress("(c) docker CLI transcripts")
        started = time.monotonic()
        corpora = transcripts.run_corpora(
            {"emulated": emulated.docker_host_url(TRANSCRIPT_HOST),
             "real": real.docker_host_url(TRANSCRIPT_HOST)},
            literals={"emulated": transcripts.host_literals(emulated.host(TRANSCRIPT_HOST).address),
                      "real": transcripts.host_literals(real.host(TRANSCRIPT_HOST).address)})
        transcript_rows = transcripts.compare(corpora["emulated"], corpora["real"], classifier)
        timings["transcripts"] = time.monotonic() - started

        ctx.progress("(d) overlay: a two-host swarm on each lab")
        started = time.monotonic()
        wire_emulated = overlay.measure(overlay.SwarmHosts.of(emulated), progress=ctx.progress)
        wire_real = overlay.measure(overlay.SwarmHosts.of(real), progress=ctx.progress)
        overlay_rows = classified_rows(
            "overlay", [r.as_dict() for r in overlay.compare(wire_emulated, wire_real)],
            "metric", "metric", classifier)
        timings["overlay"] = time.monotonic() - started
        ctx.progress("removing both labs")

    ctx.write_rows("isolation.csv", iso)
    ctx.write_rows("dns.csv", dns)
    ctx.write_rows("published.csv", published)
    ctx.write_rows("facts.csv", fact_rows)
    ctx.write_rows("transcripts.csv", transcript_rows)
    ctx.write_rows("overlay.csv", overlay_rows)
    per_section = [section_agreement("isolation", iso), section_agreement("dns", dns),
                   section_agreement("published", published),
                   section_agreement("facts", fact_rows),
                   section_agreement("overlay", overlay_rows)]
    transcript_sections = transcripts.agreement(transcript_rows)
    per_section.insert(4, transcripts_total(transcript_rows))
    ctx.write_rows("agreement.csv", per_section)
    ctx.write_rows("transcript_sections.csv", transcript_sections)
    differences = (_differences(iso, fact_rows, transcript_rows, overlay_rows)
                   + dns_differences(dns) + published_differences(published))
    ctx.write_rows("differences.csv", differences)
    agreement_plot(per_section, ctx.path("agreement.png"))

    unexplained = [d for d in differences if d["class"] == "unclassified"]
    iso_agreement = per_section[0]["agreement"]
    commands = sum(s["commands"] for s in transcript_sections)
    checks = [
        Check("isolation", "cells on which emulated and real agree", f">= {ISOLATION_TARGET:.0%}",
              f"{iso_agreement:.2%}", iso_agreement >= ISOLATION_TARGET),
        Check("transcripts", "commands in the corpus", ">= 60", str(commands), commands >= 60),
        *model_checks("dns", dns), *model_checks("published", published),
        Check("all", "unclassified differences", "0", str(len(unexplained)), not unexplained,
              "; ".join(f"{d['section']} {d['item']} {d['field']}" for d in unexplained[:10])),
    ]
    ok = all(c.ok for c in checks)
    headline = (f"isolation {iso_agreement:.1%} of {len(iso)} cells agree; "
                + ", ".join(f"{s['section']} {s['agreement']:.1%}" for s in per_section[1:])
                + f"; {len(differences)} differences, {len(unexplained)} unclassified")
    summary = _summary(headline, per_section, transcript_sections, differences, timings,
                       str(path), emulated_name, real_name)
    ctx.detail(summary)  # already in summary.md
    figures: dict[str, float] = {f"{s['section']}_agreement": s["agreement"] for s in per_section}
    figures["unclassified"] = len(unexplained)
    figures["transcript_commands"] = commands
    outcome = Outcome(ok, headline, checks, figures)
    ctx.finish(outcome, summary)
    return outcome


SEVERITY = ("version", "kernel", "defect", "unclassified")


def transcripts_total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The corpus as one section, counted in commands: a command differs if any of its
    fields does, under the most severe class among them (so the counts add up)."""
    commands: dict[tuple[str, int], str | None] = {}
    for row in rows:
        key = (row["section"], row["index"])
        worst = commands.get(key)
        if not row["agree"]:
            cls = row["class"] if row["class"] in SEVERITY else "unclassified"
            if worst is None or SEVERITY.index(cls) > SEVERITY.index(worst):
                worst = cls
        commands[key] = worst
    agree = sum(1 for cls in commands.values() if cls is None)
    return {"section": "transcripts", "items": len(commands), "agree": agree,
            "agreement": round(agree / len(commands), 4) if commands else 1.0,
            **{f"differ_{cls}": sum(1 for c in commands.values() if c == cls)
               for cls in SEVERITY}}


def _differences(iso: list[dict[str, Any]], fact_rows: list[dict[str, Any]],
                 transcript_rows: list[dict[str, Any]],
                 overlay_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every disagreement of every part, in one table."""
    out: list[dict[str, Any]] = []
    for r in iso:
        if not r["agree"]:
            out.append({"section": f"isolation ({r['part']})",
                        "item": f"{r['source']} -> {r['target']}",
                        "field": r["protocol"], "expected": r["expected"],
                        "emulated": r["emulated"], "real": r["real"], "class": r["class"],
                        "reason": r["reason"], "source": r["source_of_change"]})
    for r in fact_rows:
        if not r["agree"]:
            out.append({"section": "facts", "item": f"{r['scenario']}/{r['container']}",
                        "field": r["fact"], "expected": "", "emulated": r["emulated"],
                        "real": r["real"], "class": r["class"], "reason": r["reason"],
                        "source": r["source_of_change"]})
    for r in transcript_rows:
        if not r["agree"]:
            out.append({"section": f"transcripts/{r['section']}", "item": r["command"],
                        "field": r["field"], "expected": "", "emulated": r["emulated"],
                        "real": r["real"], "class": r["class"], "reason": r["reason"],
                        "source": r["source"]})
    for r in overlay_rows:
        if not r["agree"]:
            out.append({"section": "overlay", "item": r["metric"], "field": "",
                        "expected": "", "emulated": r["emulated"], "real": r["real"],
                        "class": r["class"], "reason": r["reason"],
                        "source": r["source_of_change"]})
    return out


def model_checks(section: str, rows: list[dict[str, Any]]) -> list[Check]:
    """Each lab's observations against what its own Engine API state says Docker does:
    two labs agreeing on a wrong answer (both unanswered, say) is no agreement."""
    checks = []
    for lab in ("emulated", "real"):
        rows_ = [r for r in rows if r[f"as_expected_{lab}"] is not None]
        wrong = [r for r in rows_ if not r[f"as_expected_{lab}"]]
        share = 1 - len(wrong) / len(rows_) if rows_ else 1.0
        checks.append(Check(section, f"{lab} lab's cells as its state says Docker does",
                            f">= {ISOLATION_TARGET:.0%}", f"{share:.2%}",
                            share >= ISOLATION_TARGET, f"{len(wrong)} of {len(rows_)} differ"))
    return checks


def dns_differences(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"section": "dns", "item": f"{r['source']} asks {r['asked']}", "field": "answer",
             "expected": r["expected"], "emulated": r["emulated"], "real": r["real"],
             "class": r["class"], "reason": r["reason"], "source": r["source_of_change"]}
            for r in rows if not r["agree"]]


def published_differences(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"section": "published", "item": f"{r['source']} -> {r['target']}",
             "field": r["binding"], "expected": r["expected"], "emulated": r["emulated"],
             "real": r["real"], "class": r["class"], "reason": r["reason"],
             "source": r["source_of_change"]} for r in rows if not r["agree"]]


def agreement_plot(per_section: list[dict[str, Any]], path) -> None:
    """Per section, items that agree and differences by class, as stacked bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["section"] for s in per_section]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    left = [0.0] * len(names)
    parts = (("agree", "#4c9a2a"), ("differ_version", "#1f77b4"),
             ("differ_kernel", "#9467bd"), ("differ_defect", "#ff7f0e"),
             ("differ_unclassified", "#d62728"))
    for column, color in parts:
        shares = [s[column] / s["items"] if s["items"] else 0.0 for s in per_section]
        ax.barh(names, shares, left=left, color=color,
                label=column.removeprefix("differ_"))
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of compared items")
    ax.invert_yaxis()
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _summary(headline: str, per_section: list[dict[str, Any]],
             transcript_sections: list[dict[str, Any]], differences: list[dict[str, Any]],
             timings: dict[str, float], topology: str, emulated: str, real: str) -> str:
    lines = [f"# differential\n\n{headline}.\n",
             f"Topology `{topology}`: lab `{emulated}` emulated, lab `{real}` with a real "
             "dockerd 20.10 on every host. ![agreement](agreement.png)\n",
             "| section | items | agree | agreement | version | kernel | defect | unclassified |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for s in per_section:
        lines.append(f"| {s['section']} | {s['items']} | {s['agree']} | {s['agreement']:.1%} "
                     f"| {s['differ_version']} | {s['differ_kernel']} | {s['differ_defect']} "
                     f"| {s['differ_unclassified']} |")
    lines += ["", "## Transcript corpus by section", "",
              "| section | commands | agree | agreement |", "| --- | ---: | ---: | ---: |"]
    for s in transcript_sections:
        lines.append(f"| {s['section']} | {s['commands']} | {s['agree']} | "
                     f"{s['agreement']:.1%} |")
    lines += ["", "## Every difference", ""]
    if not differences:
        lines.append("None.")
    for d in differences:
        where = f" ({d['source']})" if d["source"] else ""
        lines.append(f"- **{d['class']}** {d['section']} `{d['item']}` {d['field']}: emulated "
                     f"`{_short(d['emulated'])}`, real `{_short(d['real'])}`. "
                     f"{d['reason']}{where}")
    lines += ["", "Time: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()) + "."]
    return "\n".join(lines) + "\n"


def _short(value: object, limit: int = 120) -> str:
    text = " ".join(str(value).split()).replace("`", "'")
    return text if len(text) <= limit else text[:limit - 1] + "…"
