"""Offline corpus of real, human-written English prose for the retrieval benchmarks.

The text is the ``<p>`` paragraphs of the HTML documentation that seven Debian 12
packages install under ``/usr/share/doc`` (see ``SOURCE``).  Paragraphs that do not
look like English prose (code, tables, numbers, translations) are dropped; the rest
are packed into sentence-aligned chunks of 200-600 characters, deduplicated, and
returned in a deterministic order (package, then file path, then position).
"""

from __future__ import annotations

import functools
import hashlib
import html
import random
import re
from collections.abc import Iterator
from pathlib import Path

_DOC = Path("/usr/share/doc")
# label, Debian package, version, licence, HTML root under /usr/share/doc
_TABLE = """
python     python3.11-doc        3.11.2-6+deb12u9   PSF-2.0       python3.11/html
postgresql postgresql-doc-15     15.20-0+deb12u1    PostgreSQL    postgresql-doc-15/html
sqlite     sqlite3-doc           3.40.1-2+deb12u2   public-domain sqlite3
sqlalchemy python-sqlalchemy-doc 1.4.46+ds1-1       MIT           python-sqlalchemy-doc/html
django     python-django-doc     3:3.2.25-0+deb12u7 BSD-3-Clause  python-django-doc/html
git        git-doc               1:2.39.5-0+deb12u3 GPL-2.0       git-doc
linux      linux-doc-6.1         6.1.192-2          GPL-2.0       linux-doc-6.1/html
"""
_SKIP = ("_", "genindex", "search")  # Sphinx assets, sources and index pages
_EXTRA_SKIP = {
    "python": ("whatsnew/changelog",),
    "git": ("RelNotes",),
    "linux": ("translations/", "ABI/"),
}
_SOURCES: tuple[tuple[str, str, str, str, Path, tuple[str, ...]], ...] = tuple(
    (label, pkg, ver, lic, _DOC / root, _EXTRA_SKIP.get(label, ()) + _SKIP)
    for label, pkg, ver, lic, root in (line.split() for line in _TABLE.strip().splitlines())
)
SOURCE = "Debian 12 (bookworm) HTML documentation packages: " + "; ".join(
    f"{pkg} {ver} ({lic})" for _, pkg, ver, lic, _, _ in _SOURCES
)
MIN_LEN, FLUSH_LEN, MAX_LEN = 200, 220, 600
_PARA = re.compile(r"<p\b[^>]*>(.*?)</p>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[\"'(A-Z])")
_FUNC = re.compile(r"\b(?:the|is|are|to|of|and|in|that|this|for|be)\b")
_WORD = re.compile(r"\w+(?:['\u2019-]\w+)*")


def install_hint() -> str:
    """The exact command that makes the corpus available on Debian 12."""
    pkgs = " ".join(pkg for _, pkg, _, _, _, _ in _SOURCES)
    return f"apt-get install -y --no-install-recommends {pkgs}"


def _is_prose(text: str) -> bool:
    if len(text) < 60 or len(_FUNC.findall(text.lower())) < 2:
        return False
    letters = sum(c.isalpha() or c == " " for c in text)
    return letters >= 0.85 * len(text) and sum(not c.isascii() for c in text) <= len(text) // 50


def _paragraphs(page: str) -> Iterator[str]:
    for match in _PARA.finditer(page):
        text = " ".join(html.unescape(_TAG.sub("", match.group(1))).split())
        if _is_prose(text):
            yield text


def _pieces(paragraph: str) -> Iterator[str]:
    """Split a paragraph longer than MAX_LEN at sentence (or, failing that, word) ends."""
    if len(paragraph) <= MAX_LEN:
        yield paragraph
        return
    buf = ""
    for sent in _SENT.split(paragraph):
        if buf and len(buf) + 1 + len(sent) > MAX_LEN:
            yield buf
            buf = ""
        buf = f"{buf} {sent}" if buf else sent
        while len(buf) > MAX_LEN:
            cut = buf.rfind(" ", MIN_LEN, MAX_LEN)
            cut = cut if cut > 0 else MAX_LEN
            yield buf[:cut]
            buf = buf[cut:].lstrip()
    if buf:
        yield buf


def _file_chunks(page: str) -> Iterator[str]:
    """Pack consecutive paragraph pieces of one page into MIN_LEN..MAX_LEN chunks."""
    buf = ""
    for para in _paragraphs(page):
        for piece in _pieces(para):
            if buf and len(buf) + 1 + len(piece) > MAX_LEN:
                if len(buf) >= MIN_LEN:
                    yield buf
                buf = ""
            buf = f"{buf} {piece}" if buf else piece
            if len(buf) >= FLUSH_LEN:
                yield buf
                buf = ""
    if len(buf) >= MIN_LEN:
        yield buf


def _iter_chunks() -> Iterator[tuple[str, str]]:
    missing = [f"{pkg} ({root})" for _, pkg, _, _, root, _ in _SOURCES if not root.is_dir()]
    if missing:
        raise FileNotFoundError(
            f"bench corpus not installed, missing {', '.join(missing)}; run: {install_hint()}"
            "  (on slim Docker images also drop the path-exclude=/usr/share/doc/* rule in "
            "/etc/dpkg/dpkg.cfg.d/ first, or the files are silently not installed)"
        )
    seen: set[bytes] = set()
    for label, _, _, _, root, excluded in _SOURCES:
        for path in sorted(root.rglob("*.html")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(excluded):
                continue
            for text in _file_chunks(path.read_text(encoding="utf-8", errors="replace")):
                digest = hashlib.blake2b(text.lower().encode(), digest_size=8).digest()
                if digest not in seen:
                    seen.add(digest)
                    yield f"{label}/{rel.removesuffix('.html')}#{digest.hex()}", text


@functools.lru_cache(maxsize=4)
def _load(n: int) -> tuple[tuple[str, str], ...]:
    chunks: list[tuple[str, str]] = []
    for chunk in _iter_chunks():
        chunks.append(chunk)
        if len(chunks) == n:
            return tuple(chunks)
    raise ValueError(f"corpus has only {len(chunks)} chunks, {n} requested ({SOURCE})")


def load_chunks(n: int = 100_000) -> list[tuple[str, str]]:
    """The first ``n`` (chunk_id, text) pairs; ids are ``label/page#content-hash``."""
    return list(_load(n))


def load_labelled_queries(
    n: int = 200, seed: int = 0, corpus_n: int = 100_000
) -> list[tuple[str, str]]:
    """(query, chunk_id) pairs: a lower-cased 6-12 word span of a sentence of a random chunk."""
    rng = random.Random(seed)
    chunks = _load(corpus_n)
    out: dict[str, str] = {}
    for idx in rng.sample(range(len(chunks)), min(len(chunks), 4 * n)):
        cid, text = chunks[idx]
        sents = [s for s in _SENT.split(text) if len(_WORD.findall(s)) >= 6]
        if not sents:
            continue
        words = _WORD.findall(rng.choice(sents))
        size = rng.randint(6, min(12, len(words)))
        start = rng.randint(0, len(words) - size)
        out.setdefault(" ".join(words[start : start + size]).lower(), cid)
        if len(out) == n:
            break
    return list(out.items())


def load_queries(n: int = 200, seed: int = 0) -> list[str]:
    """Realistic query texts for the recall benchmark (see load_labelled_queries)."""
    return [query for query, _ in load_labelled_queries(n, seed)]
