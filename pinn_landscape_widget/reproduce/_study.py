"""What a study is: the published numbers it compares with, each with its citation, and the interface it
implements.

A study is a subclass of ``Study``: class attributes ``name`` (the key of ``plw.reproduce``), ``title``
and ``published`` (key -> ``Published``: a number, or a finding in words, with the paper and the table or
figure it is printed in), and a method ``run(*, quick, progress, **options) -> StudyResult``. Its keyword
options are its ``run``'s own parameters (``options()`` reads them from the signature), and its rows are
made by ``row(key, ...)``, which copies the published number and its source from ``published[key]``, so
a table can only show a number that is committed here, next to its citation.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ._report import Row, StudyResult, fmt


@dataclass(frozen=True)
class Citation:
    """A paper (or a page) published numbers come from.

    short: how a table names it ("Krishnapriyan et al. (2021)"); authors, year, title; venue: where it
    was published (journal or conference, volume, pages; for a preprint its arXiv number); url. year is None
    for an undated web page."""

    short: str
    authors: str
    year: int | None
    title: str
    venue: str
    url: str = ""

    def __str__(self) -> str:
        year = "undated" if self.year is None else self.year
        return f"{self.authors} ({year}). {self.title}. {self.venue}." + (f" {self.url}" if self.url else "")


@dataclass(frozen=True)
class Published:
    """One published number and where it is printed.

    value: the number (the denominator of ``ours / published``), None for a finding stated in words;
    citation: the paper; where: its table, figure or section ("Table 1", "Fig. 3, Sec. 5.1"); text: how the
    tables show it when that is not the number alone ("> 1.00e+04 (outliers)", "smooth")."""

    value: float | None
    citation: Citation
    where: str
    text: str = ""

    def __post_init__(self):
        if self.value is None and not self.text:
            raise ValueError("a Published entry without a value needs its text (the finding in words)")

    @property
    def shown(self) -> str:
        """The published cell of a table: ``text``, else the number with 3 significant digits."""
        return self.text or fmt(self.value)

    @property
    def source(self) -> str:
        """The source cell of a table: the paper's short name and where in it."""
        return f"{self.citation.short}, {self.where}"

    def to_dict(self) -> dict:
        """As the result JSON records it."""
        return dict(value=self.value, shown=self.shown, source=self.source, citation=str(self.citation))


class Study(abc.ABC):
    """A published study rerun: what ``plw.reproduce(name)`` runs.

    Subclasses set ``name``, ``title`` and ``published`` and implement ``run``; ``variant`` names a run
    whose options change what is computed (its results file is ``NAME_VARIANT.json``)."""

    name: ClassVar[str]
    title: ClassVar[str]
    published: ClassVar[Mapping[str, Published]]

    @abc.abstractmethod
    def run(self, *args: Any, **kwargs: Any) -> StudyResult:
        """Run the study. A subclass declares ``run(self, *, quick: bool = False, progress: bool = False,
        OPTION=DEFAULT, ...)``: ``quick`` a few-minute version in the same regime, ``progress`` print what it
        does, and its own options, keyword-only with defaults (``options()`` reads them; ``plw.reproduce``
        rejects any other). It checks their values (errors name the argument, the value and what is
        allowed) and returns ``self.result(...)``."""

    def options(self) -> dict[str, Any]:
        """The options ``run`` accepts besides ``quick`` and ``progress``, with their defaults."""
        params = inspect.signature(self.run).parameters
        return {
            k: p.default
            for k, p in params.items()
            if k not in ("quick", "progress") and p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def variant(self, **options) -> str:
        """The file-name variant of a run with these options ("" for the paper's setup)."""
        return ""

    @property
    def citations(self) -> list[Citation]:
        """The papers the published numbers come from, in the order ``published`` first cites them."""
        out: list[Citation] = []
        for p in self.published.values():
            if p.citation not in out:
                out.append(p.citation)
        return out

    def number(self, key: str) -> float:
        """The published number ``published[key].value`` (a ValueError for a finding in words)."""
        value = self.published[key].value
        if value is None:
            raise ValueError(f"{self.name}: published {key!r} is a finding in words, not a number")
        return value

    def row(
        self,
        key: str,
        *,
        case: str,
        quantity: str,
        ours: float | None,
        criterion: str,
        verdict: str,
        ours_text: str = "",
        detail: dict | None = None,
    ) -> Row:
        """A table row comparing ``ours`` with ``published[key]``: the published cell, its value and source
        are the committed entry's."""
        if key not in self.published:
            raise KeyError(f"{self.name}: no published number {key!r}; committed: {list(self.published)}")
        p = self.published[key]
        return Row(
            case=case,
            quantity=quantity,
            published=p.shown,
            published_value=p.value,
            source=p.source,
            published_key=key,
            ours=ours,
            ours_text=ours_text,
            criterion=criterion,
            verdict=verdict,
            detail=detail or {},
        )

    def result(
        self,
        *,
        quick: bool,
        rows: list[Row],
        setup: dict,
        notes: list[str],
        runs=None,
        extra: dict | None = None,
        cited: tuple[str, ...] = (),
    ) -> StudyResult:
        """The ``StudyResult`` of a run: the rows, and the published entries they (and ``cited``: keys a note
        quotes) compare with, with the references of those entries."""
        keys = list(dict.fromkeys([r.published_key for r in rows if r.published_key] + list(cited)))
        entries = {k: self.published[k] for k in keys}
        references: list[str] = []
        for p in entries.values():
            if str(p.citation) not in references:
                references.append(str(p.citation))
        return StudyResult(
            study=self.name,
            title=self.title,
            quick=quick,
            rows=rows,
            published={k: p.to_dict() for k, p in entries.items()},
            references=references,
            setup=setup,
            notes=notes,
            runs=runs if runs is not None else {},
            extra=extra or {},
        )
