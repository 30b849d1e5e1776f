"""What a grounded answer says that its prompt did not: numbers and names the model invented.

A small model answers a question its sources cannot with a plausible invention ("The chief
executive of Lumen Cycles is Elena Kravitscheva."), or mixes a computed number into a right one.
Numbers and proper names are the claims a reader acts on and the ones a model cannot paraphrase,
so each one the answer holds is looked up in everything the model was given (the whole
retrieved chunks, attachments' findings, the client's system message, the person's turns and
question, tool results; not the prompt's own instructions and markup, and of the model's own
earlier answers not what their note named); what is found nowhere is reported, and the
orchestrator says so under the answer. Ordinary words are not checked: a
model rewords them ("price" for "cost"), and a note on every paraphrase would be noise. The
items of an enumeration are, whatever their case: "comes in three colours: blue, white, and
red" lists what the bike is sold in, and an item none of whose words the sources hold (by
stem: "desks" is "desk") is an invention as much as a name is; so are the short items of a
bulleted or numbered list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from assistant.retrieval.keywords import terms

# 9,168 / 0.30 / 21.4 / 2025 / 6061; a decimal comma too (9.168 in German). Digits with one
# capital after them name something ("Flat 4B", "12A", "4K"): no count ("the flat has 4
# bedrooms" is not in "Flat 4B")
_NUMBER = re.compile(r"(?<![\w.,])(?>\d+(?:[.,]\d+)*)(?![A-Z]\b)")
_NUMBERED_NAME = re.compile(r"(?<![\w.,])\d+[A-Z]\b")
# a word: letters first, then letters, digits, apostrophes, hyphens (E-Bike, O'Neill)
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_TAG = re.compile(r"<[^<>]{1,200}>")  # the prompt's own markup (<source id="1" ...>)
_CITATION = re.compile(r"\[\d+(?:\s*[,-]\s*\d+)*\]")
_LIST_NUMBER = re.compile(r"^\s*\d+[.)]\s", re.MULTILINE)
# code is not prose: its numbers and identifiers (range(10), os.Path) are no claims of fact
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]+`", re.DOTALL)
# what may stand between a sentence's end (or a list item's bullet) and its first word
_OPENING = " \t*_#>\"'\u201c("
_LIST_MARK = r"(?:[-*+\u2022]|\d+[.)])"  # a list item's bullet or number
_BULLET = re.compile(rf"(?:^|\n)[ \t]*{_LIST_MARK}$")
# an enumeration: three items or more, each one to three words, commas between them and "and"
# or "or" before the last, within one stretch of text between punctuation. Found by splitting,
# not by one pattern: a pattern of repeated items backtracks for seconds over a long answer of
# commas without an "and"
_STRETCH = re.compile(r"[^.;:!?()\n]+")
_ITEM = re.compile(r"[^\W\d_][\w'\u2019-]*(?:[ \t]+[^\W\d_][\w'\u2019-]*){0,2}")
_CONJUNCTION = re.compile(r"(?:^|[ \t])(?:and|or)[ \t]+")
# a list item on a line of its own ("- Blue", "2. Red"), its emphasis and end mark aside
_BULLETED = re.compile(rf"[ \t]*{_LIST_MARK}[ \t]+[*_]*(.+?)[*_]*[.,;]?[ \t]*")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "forty": "40", "forty-five": "45",
    "fifty": "50", "hundred": "100",
}  # fmt: skip
# capitalised at any place without naming anything (words of the sentence, titles, units)
_NOT_NAMES = frozenset(
    {
        "i", "i'm", "i've", "i'd", "i'll", "ok", "yes", "no", "note", "the", "a", "an", "this",
        "that", "these", "those", "it", "its", "there", "here", "source", "sources", "document",
        "documents", "attachment", "attachments", "answer", "question",
    }
)  # fmt: skip


def normalise_number(text: str) -> str:
    """One spelling per value: 9,168 and 9168 alike, 0.30 and 0.3 alike."""
    if re.fullmatch(r"\d{1,3}(,\d{3})+", text):
        text = text.replace(",", "")
    text = text.replace(",", ".")
    if re.fullmatch(r"\d+\.\d+", text):
        text = text.rstrip("0").rstrip(".")
    whole, point, fraction = text.partition(".")
    return (whole.lstrip("0") or "0") + point + fraction


def _numbers(text: str) -> set[str]:
    found = {normalise_number(m) for m in _NUMBER.findall(text)}
    for word in _WORD.findall(text.lower()):
        if word in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[word])
    # 9.168 may be nine thousand (a decimal point as thousands separator) or nine point one
    found.update(n.replace(".", "") for n in list(found) if re.fullmatch(r"\d{1,3}(\.\d{3})+", n))
    return found


def _key(word: str) -> str:
    """A word as looked up: case and a possessive do not matter (Lumen's is Lumen)."""
    word = word.lower().replace("\u2019", "'")
    return word.removesuffix("'s").rstrip("'")


def _starts_sentence(text: str, start: int) -> bool:
    """Whether the word at ``start`` opens the text, a sentence or a list item (its capital
    says nothing then). Only the few characters before it are read: answers may be long."""
    before = text[max(0, start - 16) : start].rstrip(_OPENING)
    if not before:
        return True
    return before[-1] in ".!?:;\n" or bool(_BULLET.search(before))


def _names(text: str) -> list[str]:
    """Capitalised words that are not a sentence's first, runs of them joined."""
    names: list[str] = []
    run: list[str] = []
    last_end = 0
    for match in _WORD.finditer(text):
        word = match.group()
        if run and text[last_end : match.start()].strip():  # "Porto, Portugal": two names
            names.append(" ".join(run))
            run = []
        last_end = match.end()
        capitalised = word[0].isupper() and _key(word) not in _NOT_NAMES
        if capitalised and not _starts_sentence(text, match.start()):
            run.append(word)
        elif run:
            names.append(" ".join(run))
            run = []
    if run:
        names.append(" ".join(run))
    return names


def unsupported(answer: str, given: Iterable[str]) -> list[str]:
    """The numbers, then the names, then the listed items, in ``answer`` found nowhere in
    ``given`` (the prompt's texts). Citation marks ([1]), list numbering, code and the
    prompt's markup (which a model may echo) are not claims."""
    prose = _CITATION.sub(" ", _CODE.sub(" ", answer))
    answer = _TAG.sub(" ", _LIST_NUMBER.sub(" ", prose))
    evidence = _TAG.sub(" ", "\n".join(given))
    numbers = _numbers(evidence)
    words = {_key(w) for w in _WORD.findall(evidence)}
    missing: list[str] = []
    for match in _NUMBER.finditer(answer):
        value = match.group()
        if normalise_number(value) not in numbers and value not in missing:
            missing.append(value)
    numbered = set(_NUMBERED_NAME.findall(evidence))
    for value in _NUMBERED_NAME.findall(answer):
        if value not in numbered and value not in missing:
            missing.append(value)
    for name in _names(answer):
        if any(_key(w) not in words for w in _WORD.findall(name)) and name not in missing:
            missing.append(name)
    stems = terms(evidence)
    for item in _listed(answer) + _bulleted(prose):
        said = terms(item)
        if said and not said & stems and item not in missing:
            missing.append(item)
    return missing


def _listed(text: str) -> list[str]:
    """The items of the text's enumerations. The first item's stretch may hold the words
    before it ("comes in blue, white and red"): it keeps as many words as the longest of the
    others, as the items of a list are alike."""
    items: list[str] = []
    for stretch in _STRETCH.findall(text):
        first, *rest = [part.strip() for part in stretch.split(",")]
        if not rest:
            continue
        joined = _CONJUNCTION.search(rest[-1])
        if joined is None:
            continue
        others = [*rest[:-1], rest[-1][: joined.start()].strip(), rest[-1][joined.end() :]]
        others = [item for item in others if item]
        if len(others) < 2 or not all(_ITEM.fullmatch(item) for item in others):
            continue
        longest = max(len(item.split()) for item in others)
        lead = " ".join(first.split()[-longest:])
        if _ITEM.fullmatch(lead):
            items.extend([lead, *others])
    return items


def _bulleted(text: str) -> list[str]:
    """The items of the text's bulleted or numbered lists of three lines or more, each line
    an item of one to three words ("- Blue\\n- White\\n- Red"); longer lines are prose."""
    items: list[str] = []
    run: list[str] = []
    for line in [*text.splitlines(), ""]:
        bullet = _BULLETED.fullmatch(line)
        if bullet and _ITEM.fullmatch(bullet.group(1).strip()):
            run.append(bullet.group(1).strip())
            continue
        if len(run) >= 3:
            items.extend(run)
        run = []
    return items


NOTE_NAMES_AT_MOST = 8
_NOTE = re.compile(
    r"\s*\(The sources do not mention (?P<named>.+?)(?: and \d+ more)?: check this answer\.\)"
)


def note(claims: list[str]) -> str:
    """The line put under an answer whose claims are not in its sources (the first few)."""
    named = ", ".join(claims[:NOTE_NAMES_AT_MOST])
    if len(claims) > NOTE_NAMES_AT_MOST:
        named += f" and {len(claims) - NOTE_NAMES_AT_MOST} more"
    return f"\n\n(The sources do not mention {named}: check this answer.)"


def without_note(answer: str) -> str:
    """An earlier answer as the model reads it again: the note was for the person."""
    return _NOTE.sub("", answer)


def disowned(answer: str) -> str:
    """An earlier answer as evidence for a later one: without its note and without what the
    note named, so an invention the model repeats (a client sends its earlier answers back)
    is not supported by having been said once already. Its other claims stand: a follow-up
    may repeat what an earlier answer cited from sources no longer retrieved."""
    claims = [c for m in _NOTE.finditer(answer) for c in m.group("named").split(", ")]
    text = without_note(answer)
    for claim in claims:
        text = re.sub(rf"(?<![\w.,]){re.escape(claim)}(?![\w]|[.,]\d)", " ", text)
    return text
