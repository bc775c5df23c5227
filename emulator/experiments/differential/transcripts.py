"""Part (c) of the differential: a corpus of docker CLI transcripts, replayed on an
emulated Docker host and on a real dockerd and compared command by command.

The corpus (`corpus.yaml`) is sections of docker CLI commands: the README
walkthrough, a network's lifecycle, and the refusals the emulator implements.
Each section ends with cleanup commands that leave the host as the section found
it. Every command runs through the installed docker CLI (28, which negotiates the
API version down to what the daemon speaks) with DOCKER_HOST pointing at one
host; its exit code, stdout and stderr are kept, normalised (`normalise.py`), and
each difference between the two hosts is classified (`classify.py`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from emulator.experiments.differential.classify import Classifier, Difference
from emulator.experiments.differential.normalise import Normaliser

CORPUS = "corpus.yaml"
DOCKER_CLI = "/usr/local/bin/docker"
COMPARED_FIELDS = ("exit_code", "stdout", "stderr")
LEFTOVER = "leftover"
"""The field of a row saying a section did not leave the host as it found it."""
SECTION_PREFIX = "transcripts/"
"""How the corpus' sections are named to the classifier, beside the other parts'."""
ROW_COLUMNS = ("section", "index", "command", "field", "emulated", "real", "agree", "class",
               "reason", "source")


@dataclass(frozen=True)
class Command:
    text: str
    timeout: float = 60.0

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)[1:]


@dataclass(frozen=True)
class Section:
    name: str
    title: str
    commands: tuple[Command, ...]
    cleanup: tuple[Command, ...] = ()


class CorpusError(ValueError):
    """corpus.yaml is malformed: every problem, one a line."""


def load_corpus(path: str | Path | None = None) -> list[Section]:
    if path is None:
        text, where = resources.files(__package__).joinpath(CORPUS).read_text(), CORPUS
    else:
        text, where = Path(path).read_text(), str(path)
    return parse_corpus(yaml.safe_load(text), where)


def parse_corpus(data: Any, where: str = CORPUS) -> list[Section]:
    problems: list[str] = []
    raw_sections = data.get("sections") if isinstance(data, dict) else None
    if not isinstance(raw_sections, list) or not raw_sections:
        raise CorpusError(f"{where}: `sections:` must be a non-empty list")
    sections, names = [], set()
    for number, raw in enumerate(raw_sections, 1):
        if not isinstance(raw, dict) or not raw.get("name"):
            problems.append(f"{where}: section {number}: a mapping with a name expected")
            continue
        name = str(raw["name"])
        if name in names:
            problems.append(f"{where}: section {name}: name used twice")
        names.add(name)
        commands = _commands(raw.get("commands"), f"{where}: {name}: commands", problems)
        if not commands:
            problems.append(f"{where}: {name}: no commands")
        cleanup = _commands(raw.get("cleanup") or [], f"{where}: {name}: cleanup", problems)
        sections.append(Section(name, str(raw.get("title") or name), commands, cleanup))
    if problems:
        raise CorpusError("\n".join(problems))
    return sections


def _commands(raw: Any, where: str, problems: list[str]) -> tuple[Command, ...]:
    if not isinstance(raw, list):
        problems.append(f"{where}: a list expected")
        return ()
    commands = []
    for number, item in enumerate(raw, 1):
        spec = item if isinstance(item, dict) else {"run": item}
        text = str(spec.get("run") or "")
        try:
            words = shlex.split(text)
        except ValueError as exc:
            problems.append(f"{where} {number}: {exc}: {text}")
            continue
        if not words or words[0] != "docker":
            problems.append(f"{where} {number}: not a docker command: {text!r}")
            continue
        commands.append(Command(text, float(spec.get("timeout", 60))))
    return tuple(commands)


@dataclass(frozen=True)
class Record:
    """One command as one host answered it; the texts normalised."""

    section: str
    index: int
    command: str
    exit_code: int | None
    stdout: str
    stderr: str

    def value(self, name: str) -> str:
        return str(getattr(self, name))


@dataclass
class Transcript:
    host: str
    records: list[Record] = field(default_factory=list)
    leftovers: dict[str, str] = field(default_factory=dict)
    """Per section: what its cleanup did not remove (empty when clean)."""


class DockerCli:
    """The docker CLI pointed at one Engine API, with a private, empty config."""

    def __init__(self, docker_host: str, binary: str | None = None) -> None:
        self.docker_host = docker_host
        self.binary = binary or (DOCKER_CLI if os.access(DOCKER_CLI, os.X_OK)
                                 else shutil.which("docker") or "docker")
        self._config = tempfile.mkdtemp(prefix="cnm-docker-config-")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.env.update(DOCKER_HOST=docker_host, DOCKER_CONFIG=self._config,
                        DOCKER_CLI_HINTS="false")

    def run(self, argv: Sequence[str], timeout: float = 60.0) -> tuple[int | None, str, str]:
        try:
            done = subprocess.run([self.binary, *argv], env=self.env, capture_output=True,
                                  text=True, errors="replace", timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            note = f"\n[timed out after {timeout:g} s]"
            return None, _decoded(exc.stdout), _decoded(exc.stderr) + note
        return done.returncode, done.stdout, done.stderr

    def state(self) -> tuple[list[str], list[str]]:
        """Every container (by name) and network (by name) of the host."""
        containers = self.run(["ps", "-a", "--format", "{{.Names}}"])[1].split()
        networks = self.run(["network", "ls", "--format", "{{.Name}}"])[1].split()
        return sorted(containers), sorted(networks)

    def close(self) -> None:
        shutil.rmtree(self._config, ignore_errors=True)


def _decoded(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def run_section(cli: DockerCli, section: Section,
                literals: Mapping[str, str] | None = None) -> tuple[list[Record], str]:
    """The section's records, and what its cleanup left ("" when the host is as found).
    `literals` are texts of the host itself (its address) and their placeholders."""
    before = cli.state()
    normaliser = Normaliser(literals)
    records = []
    try:
        for index, command in enumerate(section.commands):
            code, out, err = cli.run(command.argv, command.timeout)
            records.append(Record(section.name, index, command.text, code,
                                  normaliser.text(out), normaliser.text(err)))
    finally:
        for command in section.cleanup:
            cli.run(command.argv, command.timeout)
    after = cli.state()
    return records, _state_change(before, after)


def _state_change(before: tuple[list[str], list[str]], after: tuple[list[str], list[str]]) -> str:
    changes = []
    for kind, was, now in zip(("containers", "networks"), before, after, strict=True):
        added, gone = sorted(set(now) - set(was)), sorted(set(was) - set(now))
        if added:
            changes.append(f"{kind} left: {' '.join(added)}")
        if gone:
            changes.append(f"{kind} gone: {' '.join(gone)}")
    return "; ".join(changes)


def run_corpus(docker_host: str, sections: Iterable[Section] | None = None,
               host: str = "", binary: str | None = None,
               literals: Mapping[str, str] | None = None) -> Transcript:
    """Every section on the Engine API at `docker_host` (unix://...), in order."""
    cli = DockerCli(docker_host, binary)
    transcript = Transcript(host or docker_host)
    try:
        for section in load_corpus() if sections is None else sections:
            records, left = run_section(cli, section, literals)
            transcript.records += records
            if left:
                transcript.leftovers[section.name] = left
    finally:
        cli.close()
    return transcript


def host_literals(address: object) -> dict[str, str]:
    """The placeholder for a Docker host's own (underlay) address."""
    return {str(address): "<HOST_ADDRESS>"}


def run_corpora(docker_hosts: Mapping[str, str], sections: Sequence[Section] | None = None,
                binary: str | None = None,
                literals: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, Transcript]:
    """The corpus on several hosts at once (label -> DOCKER_HOST), one thread each;
    `literals` per label (see `host_literals`)."""
    chosen = load_corpus() if sections is None else list(sections)
    literals = literals or {}
    with ThreadPoolExecutor(max_workers=max(1, len(docker_hosts))) as pool:
        futures = {label: pool.submit(run_corpus, url, chosen, label, binary,
                                      literals.get(label))
                   for label, url in docker_hosts.items()}
        return {label: future.result() for label, future in futures.items()}


def compare(emulated: Transcript, real: Transcript,
            classifier: Classifier | None = None) -> list[dict[str, Any]]:
    """Tidy rows, one per command and compared field (and one per section whose
    cleanup left something behind), each difference classified."""
    classifier = classifier or Classifier.load()
    real_by_key = {(r.section, r.index): r for r in real.records}
    emulated_keys = {(r.section, r.index) for r in emulated.records}
    if real_by_key.keys() != emulated_keys:
        raise ValueError("the two transcripts are not of the same corpus")
    rows = []
    for mine in emulated.records:
        theirs = real_by_key[(mine.section, mine.index)]
        if theirs.command != mine.command:
            raise ValueError(f"{mine.section} {mine.index}: {mine.command!r} vs {theirs.command!r}")
        for name in COMPARED_FIELDS:
            rows.append(_row(classifier, mine.section, mine.index, mine.command, name,
                             mine.value(name), theirs.value(name)))
    for section in sorted(set(emulated.leftovers) | set(real.leftovers)):
        rows.append(_row(classifier, section, -1, "(cleanup)", LEFTOVER,
                         emulated.leftovers.get(section, ""), real.leftovers.get(section, "")))
    return rows


def _row(classifier: Classifier, section: str, index: int, command: str, name: str,
         emulated: str, real: str) -> dict[str, Any]:
    agree = emulated == real and not (name == LEFTOVER and emulated)
    verdict = None if agree else classifier.classify(
        Difference(f"{SECTION_PREFIX}{section}", command, name, emulated, real))
    return {"section": section, "index": index, "command": command, "field": name,
            "emulated": emulated, "real": real, "agree": agree,
            "class": verdict.cls if verdict else "", "reason": verdict.reason if verdict else "",
            "source": verdict.source if verdict else ""}


def agreement(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per section: commands, commands on which the hosts agree in every field, and
    differing fields by class."""
    sections: dict[str, dict[str, Any]] = {}
    agreeing: dict[str, dict[int, bool]] = {}
    classes: dict[str, Counter[str]] = {}
    for row in rows:
        name = row["section"]
        sections.setdefault(name, {"section": name})
        agreeing.setdefault(name, {})
        classes.setdefault(name, Counter())
        if row["index"] >= 0:
            agreeing[name][row["index"]] = agreeing[name].get(row["index"], True) and row["agree"]
        if not row["agree"]:
            classes[name][row["class"]] += 1
    summary = []
    for name, entry in sections.items():
        commands = len(agreeing[name])
        agreed = sum(agreeing[name].values())
        entry.update(commands=commands, agree=agreed,
                     agreement=round(agreed / commands, 4) if commands else 1.0,
                     **{f"differ_{cls}": classes[name][cls]
                        for cls in ("version", "kernel", "defect", "unclassified")})
        summary.append(entry)
    return summary


def unclassified(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in rows if not row["agree"] and row["class"] == "unclassified"]
