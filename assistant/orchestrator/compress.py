"""Less, better text in front of a small model: the sentences of the retrieved chunks nearest the
question.

A small model reads every prompt token before its first (time to first token) and is easily led
by nearby numbers. Each chunk is cut to its ``keep`` sentences that share the most question
words, weighted by how rare each word is among all the candidate sentences (so "London" counts
for more than the product name every sentence repeats); the kept sentences stay in document
order. Words are compared by their Snowball stems ("desks" and "desk", "charging" and "charge").

A sentence is read with what it is about: the words of the headings above it and of its
document's title count as its own ("The removable battery stores 540 watt-hours", under
"Harbor E-Bike 2" and "Motor and battery"), so the document's one sentence that names the
product does not win every question about it. Headings themselves are labels, not answers,
unless one holds more of the question than any sentence (a title that alone says "27 Harcourt
Road", for "Which street is Flat 4B on?"). A Markdown table's rows are read as sentences that
name their columns ("item: standing desk; quantity: 4; unit price: 640 euros."): a small model
does not line up a row with its header.

A question's word that no sentence holds, by its own words or by what it is about, is matched
to the sentences' words nearest it in meaning, when an embedder is given ("price" stands in for
"cost": "What does the Harbor E-Bike 2 cost?" had kept the one sentence that names the bike).
Between sentences of equal score, the one saying the question's words in its order wins; the
kept sentences give their counts in digits ("2 bedrooms"), which the small model copies.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from assistant.media.documents import HEADINGS_SEPARATOR, headings_after
from assistant.retrieval.keywords import stem, stems_in_order
from assistant.retrieval.keywords import terms as _terms
from assistant.retrieval.keywords import words as _words

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
# clauses a semicolon joins are statements of their own ("the frame carries a 7-year warranty;
# the motor and the battery a 2-year one"): a small model reads the one asked about best alone
_CLAUSE = re.compile(r"(?<=;)\s+")
# a clause opening with a pronoun names its subject in the clause before it
_REFERRING = re.compile(
    r"(it|its|they|their|them|this|these|that|those|he|his|she|her)\b", re.IGNORECASE
)
# "The nightly hotel limit is 180 euros in most cities and 250 euros in London": two values of
# one subject, the second one's words left out. Read apart, each with the subject's words
# ("... is 250 euros in London"), a question about London keeps the value that answers it, and
# the model does not answer the first value it reads. Each value must come with two words or
# more: "between 10 and 20 euros" is one statement.
_GAPPED = re.compile(
    r"^(?P<head>[^\d]*[^\d\s]\s)(?P<first>\d[\d.,]*(?:\s+[^\d\s]\S*){2,}?)"
    r",?\s+and\s+(?P<second>\d[\d.,]*(?:\s+\S+){2,})$"
)
# a line of its own: a Markdown heading, table row, list item or quote, or after a blank line;
# other line breaks are a document's wrapping inside one sentence
_OWN_LINE = re.compile(r"^\s*(#{1,6}\s|\||[-*+]\s|\d+[.)]\s|>)")
_HEADING = re.compile(r"^#{1,6}\s")
_TABLE_RULE = re.compile(r"^:?-+:?$")
# how near a sentence's word must be to a question's word no sentence holds to stand in for it
# (all-MiniLM-L6-v2 cosine of the lone words: price / cost 0.74, euros / cost 0.48)
STAND_IN_SIMILARITY = 0.6
_COUNTS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
}  # fmt: skip
# a count: the word, then the (lower-case) word it counts
_COUNT_WORD = re.compile(rf"\b((?i:{'|'.join(_COUNTS)}))\s+([a-z][\w'-]*)")
_NOT_A_COUNT = frozenset({"of", "another", "or", "and", "who", "that", "which", "is", "was"})
_ONE_AFTER = re.compile(r"\b(no|any|every|some|each|the|this|that|which|a)\s+$", re.IGNORECASE)
PAIR_WINDOW = 3  # words between a question's word pair in a sentence that still says it
Similarity = Callable[[str, Sequence[str]], Sequence[float]]


def _unwrapped(text: str) -> list[str]:
    """The text's lines with wrapped prose joined back into one line per paragraph."""
    lines: list[str] = []
    joining = False
    for line in text.splitlines():
        if not line.strip():
            joining = False
        elif _OWN_LINE.match(line):
            lines.append(line.strip())
            joining = False
        elif joining:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
            joining = True
    return lines


@dataclass(frozen=True)
class _Unit:
    """A sentence, heading or table row as the model reads it, with what it is about."""

    text: str
    heading: bool
    about: frozenset[str]  # the terms of its title and of the headings above it
    own_line: bool = False  # a heading or table row: rendered on a line of its own


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _units(text: str, title: str = "") -> list[_Unit]:
    units: list[_Unit] = []
    # level -> the heading in force; ``title`` is the path the chunk starts under ("Sheet /
    # Price"), its parts taken as levels 1, 2, ... so the chunk's own headings replace them
    headings = {
        n: part for n, part in enumerate(title.split(HEADINGS_SEPARATOR), 1) if part.strip()
    }
    about = frozenset().union(*(_terms(h) for h in headings.values()))
    columns: list[str] = []  # the current table's header, once its rule line is seen
    for line in _unwrapped(text):
        if _HEADING.match(line):
            headings = headings_after(line, headings)
            about = frozenset().union(*(_terms(h) for h in headings.values()))
            units.append(_Unit(line, True, about, own_line=True))
            columns = []
        elif line.startswith("|"):
            cells = _cells(line)
            if all(_TABLE_RULE.match(c) for c in cells) and units and units[-1].text[:1] == "|":
                # the line before the rule is the header: its cells name the columns
                columns = _cells(units.pop().text)
            elif columns and len(cells) == len(columns):
                row = "; ".join(
                    f"{name}: {cell}" for name, cell in zip(columns, cells, strict=True)
                )
                units.append(_Unit(row + ".", False, about, own_line=True))
            else:
                units.append(_Unit(line, False, about, own_line=True))
        else:
            columns = []
            own = bool(_OWN_LINE.match(line))
            units.extend(
                _Unit(statement, False, about, own_line=own)
                for sentence in _SENTENCE.split(line)
                for part in _clauses(sentence)
                for statement in _statements(part)
            )
    return units


def _clauses(sentence: str) -> list[str]:
    """A sentence's clauses, read apart, but for one that names its subject only by a pronoun
    ("a new setting, max_concurrent_jobs, limits how many jobs run; its default is 8"): alone
    it says nothing of what was asked, so it stays with the clause before it."""
    clauses: list[str] = []
    for part in _CLAUSE.split(sentence):
        part = part.strip()
        if not part:
            continue
        if clauses and _REFERRING.match(part):
            clauses[-1] += " " + part
        else:
            clauses.append(part)
    return clauses


def _statements(clause: str) -> list[str]:
    """A clause, or the statements of its values when it gives one subject two (``_GAPPED``)."""
    gapped = _GAPPED.match(clause)
    if gapped is None:
        return [clause]
    head, first, second = gapped.group("head", "first", "second")
    return [f"{head}{first}.", f"{head}{second}"]


def _render(units: Sequence[_Unit]) -> str:
    out = ""
    for i, unit in enumerate(units):
        if i:
            out += "\n" if unit.own_line or units[i - 1].own_line else " "
        out += _shown(unit)
    return in_digits(out)


def _shown(unit: _Unit) -> str:
    """A unit as the model reads it: a heading by its title alone, as the chunker reads it
    ("## Price and warranty ##" is "Price and warranty")."""
    if not unit.heading:
        return unit.text
    return next(iter(headings_after(unit.text, {}).values()), unit.text)


def in_digits(text: str) -> str:
    """Counts written as words, in digits ("two bedrooms" as "2 bedrooms"): the small model
    copies digits, and a word count lost to a digit nearby ("How many bedrooms does Flat 4B
    have?" was answered 4). Not "one" as a pronoun ("no one else", "one of them")."""

    def digits(match: re.Match[str]) -> str:
        word = match.group(1)
        if word.lower() == "one" and (
            match.group(2).lower() in _NOT_A_COUNT
            or _ONE_AFTER.search(text[max(0, match.start() - 8) : match.start()])
        ):
            return match.group()
        return _COUNTS[word.lower()] + match.group()[len(word) :]

    return _COUNT_WORD.sub(digits, text)


def sentences(text: str) -> list[str]:
    """The text's sentences, headings and table rows (read as sentences), in order."""
    return [unit.text for unit in _units(text)]


def _score(terms: frozenset[str], weight: dict[str, float]) -> float:
    # fsum: the same total in any order a set iterates in (string hashes vary by process), so
    # two sentences of equal words tie exactly and the tie-breaks decide, not rounding
    return math.fsum(weight[t] for t in terms)


def nearest_sentences(
    question: str,
    chunks: Sequence[str],
    keep: int,
    titles: Sequence[str] = (),
    relative: float = 0.0,
    similarity: Similarity | None = None,
) -> list[str]:
    """Each chunk cut to its ``keep`` sentences nearest the question (all of them when it has
    no more than that; ``titles``: each chunk's document title, what its sentences are about).
    A chunk that shares no word with the question while another does comes back empty, as does
    one whose nearest sentence scores under ``relative`` times the best chunk's: beside the
    sources that name what was asked they only mislead a small model (the invoice's total
    offered as the answer to a question about mileage). When none shares a word, every chunk
    comes back whole."""
    order = stems_in_order(question)
    asked = frozenset(order)
    named = list(titles) + [""] * (len(chunks) - len(titles))
    split = [_units(c, t) for c, t in zip(chunks, named, strict=True)]
    # each sentence's stems read once, in order (the pairs' tie-break) and as a set
    said_order = [[stems_in_order(u.text) for u in units] for units in split]
    said_terms = [[frozenset(said) for said in per_chunk] for per_chunk in said_order]
    stand_ins = _stand_ins(question, asked, split, said_terms, similarity)
    # the question's terms each sentence has, its own (or a stand-in's) or from what it is about
    own = [
        [(held & asked) | {stand_ins[t] for t in held & stand_ins.keys()} for held in per_chunk]
        for per_chunk in said_terms
    ]
    found = [
        [mine | (u.about & asked) for u, mine in zip(units, per_chunk, strict=True)]
        for units, per_chunk in zip(split, own, strict=True)
    ]
    # the words' weights are the sentences' (a heading repeats what its sentences are about)
    sentence_found = [
        shared
        for units, per_chunk in zip(split, found, strict=True)
        for u, shared in zip(units, per_chunk, strict=True)
        if not u.heading
    ]
    pool = len(sentence_found)
    seen_in = Counter(t for shared in sentence_found for t in shared)
    if not seen_in:
        return list(chunks)
    anywhere = Counter(t for per_chunk in found for shared in per_chunk for t in shared)
    weight = {t: math.log(1 + pool / (seen_in[t] or n)) for t, n in anywhere.items()}
    scored = [[_score(shared, weight) for shared in per_chunk] for per_chunk in found]
    top = max(max(scores, default=0.0) for scores in scored)
    out = []
    for units, scores, mine, in_order in zip(split, scored, own, said_order, strict=True):
        if not any(scores) or max(scores) < relative * top:
            out.append("")
            continue
        # between equals, the sentence that says the words itself over one only about them,
        # then the one that says them as the question does ("the battery alone weighs" for
        # "How much does the battery weigh on its own?", not "the bike weighs, battery
        # included")
        said = [_score(words, weight) for words in mine]
        paired = [_pairs_kept(order, said) for said in in_order]
        # a heading only when it holds more of the question than any sentence ("Which street
        # is Flat 4B on?": only the title says "Road")
        best = sorted(
            range(len(units)),
            key=lambda i: (-scores[i], units[i].heading, -paired[i], -said[i], i),
        )
        best = best[:keep]
        out.append(_render([units[i] for i in sorted(best)]))
    return out


def _pairs_kept(asked: Sequence[str], said: Sequence[str]) -> int:
    """How many of the question's neighbouring word pairs (stems in order) a sentence's stems
    ``said`` hold in the same order, ``PAIR_WINDOW`` words apart at most."""
    where: dict[str, list[int]] = {}
    for i, term in enumerate(said):
        where.setdefault(term, []).append(i)
    return sum(
        any(0 < j - i <= PAIR_WINDOW for i in where.get(a, ()) for j in where.get(b, ()))
        for a, b in set(pairwise(asked))
        if a != b
    )


def _stand_ins(
    question: str,
    asked: frozenset[str],
    split: Sequence[Sequence[_Unit]],
    said_terms: Sequence[Sequence[frozenset[str]]],
    similarity: Similarity | None,
) -> dict[str, str]:
    """The stems of the sentences' words that stand in for a question's word no sentence holds
    (by its own words, ``said_terms``, or by what it is about), each mapped to the question's
    term: the words at least ``STAND_IN_SIMILARITY`` near it. A number has no stand-in."""
    if similarity is None:
        return {}
    units = [u for per_chunk in split for u in per_chunk]
    held = frozenset().union(
        *(u.about for u in units), *(t for per_chunk in said_terms for t in per_chunk)
    )
    lacking = sorted(w for w in _words(question) if not w.isdigit() and stem(w) in asked - held)
    if not lacking:
        return {}
    # the best chunks' words first: the similarity may embed only so many new ones per call
    vocabulary = [
        w for w in dict.fromkeys(w for u in units for w in sorted(_words(u.text))) if w[0].isalpha()
    ]
    stand_ins: dict[str, str] = {}
    for word in lacking:
        for other, near in zip(vocabulary, similarity(word, vocabulary), strict=True):
            if near >= STAND_IN_SIMILARITY:
                stand_ins.setdefault(stem(other), stem(word))
    return stand_ins
