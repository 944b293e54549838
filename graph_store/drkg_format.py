"""Streaming parser for DRKG triple files (``head<TAB>relation<TAB>tail``).

Entities are ``Type::id`` and relations ``source::name::HeadType:TailType`` (a few bioarx
relations have two ``::`` parts only: ``bioarx::DrugHumGen:Compound:Gene``). The full DRKG is
5.87M lines, so triples are yielded one at a time; a malformed line is recorded in a
:class:`ParseReport` with its line number and reason, never silently dropped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kedrec.errors import DataFormatError

MAX_ERRORS_KEPT = 50
"""Malformed lines kept verbatim in a report; all of them are counted."""


class Relation(NamedTuple):
    """A parsed DRKG relation name."""

    full: str
    source: str
    name: str
    head_type: str
    tail_type: str


class Triple(NamedTuple):
    """One DRKG edge, with the parsed relation and entity types."""

    head: str
    relation: Relation
    tail: str
    head_type: str
    tail_type: str


@dataclass(frozen=True, slots=True)
class MalformedLine:
    """A line the parser refused, with why."""

    path: str
    line_number: int
    reason: str
    text: str


@dataclass(slots=True)
class ParseReport:
    """Counts of what a parse kept and refused, across one or more files."""

    lines: int = 0
    triples: int = 0
    blank: int = 0
    reversed_direction: int = 0
    malformed: int = 0
    errors: list[MalformedLine] = field(default_factory=list)
    relations: Counter[str] = field(default_factory=Counter)

    def record_error(self, path: Path, line_number: int, reason: str, text: str) -> None:
        """Count a malformed line and keep the first few for the user to see."""
        self.malformed += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(MalformedLine(str(path), line_number, reason, text[:200]))

    def summary(self) -> str:
        """One line for logs and the CLI."""
        text = f"{self.triples:,} triples from {self.lines:,} lines; {self.malformed:,} malformed"
        if self.reversed_direction:
            text += f"; {self.reversed_direction:,} with head/tail types reversed"
        return text


_relation_cache: dict[str, Relation] = {}


def parse_relation(text: str) -> Relation:
    """Parse ``source::name::HeadType:TailType`` (or bioarx's ``source::Name:Head:Tail``)."""
    cached = _relation_cache.get(text)
    if cached is not None:
        return cached
    parts = text.split("::")
    if len(parts) == 3:
        source, name, types = parts
        head_type, sep, tail_type = types.partition(":")
    elif len(parts) == 2:
        source, rest = parts
        name, sep, types = rest.partition(":")
        head_type, sep2, tail_type = types.partition(":")
        sep = sep and sep2
    else:
        raise ValueError(f"relation {text!r} is not 'source::name::HeadType:TailType'")
    if not (source and name and sep and head_type and tail_type) or ":" in tail_type:
        raise ValueError(f"relation {text!r} is not 'source::name::HeadType:TailType'")
    relation = Relation(text, source, name, head_type, tail_type)
    if len(_relation_cache) < 10_000:
        _relation_cache[text] = relation
    return relation


def _entity_type(entity: str) -> str:
    entity_type, sep, _ = entity.partition("::")
    if not sep or not entity_type:
        raise ValueError(f"entity {entity!r} is not 'Type::id'")
    return entity_type


def parse_line(line: str) -> Triple:
    """Parse one line; raise ValueError with the reason when it is malformed."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 3:
        raise ValueError(f"expected 3 tab-separated fields, found {len(fields)}")
    head, relation_text, tail = fields
    relation = parse_relation(relation_text)
    return Triple(head, relation, tail, _entity_type(head), _entity_type(tail))


def iter_triples(paths: Iterable[Path], report: ParseReport | None = None) -> Iterator[Triple]:
    """Yield every well-formed triple of ``paths`` in order, recording the rest in ``report``.

    A triple whose head/tail types are the relation's types swapped is kept (and counted), since
    DRKG's glossary lists some pairs in either order; any other type mismatch is malformed.
    """
    report = report if report is not None else ParseReport()
    for path in paths:
        if not path.is_file():
            raise DataFormatError(f"triple file {path} does not exist: check the path or --input")
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line_number, line in enumerate(handle, start=1):
                report.lines += 1
                if not line.strip():
                    report.blank += 1
                    continue
                try:
                    triple = parse_line(line)
                except ValueError as error:
                    report.record_error(path, line_number, str(error), line.rstrip("\n"))
                    continue
                relation = triple.relation
                if (triple.head_type, triple.tail_type) != (relation.head_type, relation.tail_type):
                    if (triple.tail_type, triple.head_type) == (
                        relation.head_type,
                        relation.tail_type,
                    ):
                        report.reversed_direction += 1
                    else:
                        report.record_error(
                            path,
                            line_number,
                            f"entity types {triple.head_type}->{triple.tail_type} do not match "
                            f"relation types {relation.head_type}:{relation.tail_type}",
                            line.rstrip("\n"),
                        )
                        continue
                report.triples += 1
                report.relations[relation.full] += 1
                yield triple


def fingerprint(paths: Iterable[Path]) -> str:
    """Content hash of the input files (name, size, sha256), to version what was loaded."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        file_digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_digest.update(block)
        digest.update(f"{path.name}\t{path.stat().st_size}\t{file_digest.hexdigest()}\n".encode())
    return digest.hexdigest()[:16]
