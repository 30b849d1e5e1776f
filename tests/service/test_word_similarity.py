"""The compression's stand-in words, with the real embedder: "price" stands in for "cost"."""

from __future__ import annotations

import pytest

from assistant.embeddings import TextEmbedder
from assistant.orchestrator.compress import STAND_IN_SIMILARITY, nearest_sentences
from assistant.orchestrator.similarity import WordSimilarity

pytestmark = [pytest.mark.models]

SHEET = (
    "The complete bike weighs 21.4 kilograms, battery included. The recommended retail price "
    "is 2,390 euros. The frame carries a 7-year warranty."
)


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    return TextEmbedder()


def test_a_word_is_nearest_its_synonym_and_only_that_stands_in(embedder: TextEmbedder) -> None:
    near = WordSimilarity(embedder)
    price, weighs, euros = near("cost", ["price", "weighs", "euros"])
    assert price >= STAND_IN_SIMILARITY > max(weighs, euros)
    question = "What does the Harbor E-Bike 2 cost?"
    [cut] = nearest_sentences(question, [SHEET], 1, ["Harbor E-Bike 2"], similarity=near)
    assert cut == "The recommended retail price is 2,390 euros."


def test_vectors_are_kept_once_and_bounded(embedder: TextEmbedder) -> None:
    near = WordSimilarity(embedder, cached=3)
    first = near("cost", ["price", "price"])
    assert first[0] == first[1]
    assert list(near._vectors) == ["cost", "price"]
    near("weight", ["mass", "price"])
    assert set(near._vectors) == {"weight", "mass", "price"}  # "cost" was the oldest
    assert near("cost", ["price"]) == pytest.approx(first[:1])


def test_each_call_embeds_a_bounded_number_of_new_words(embedder: TextEmbedder) -> None:
    near = WordSimilarity(embedder, fresh=2)
    # "cost" and "price" are embedded; "weighs" is over the budget: not near, this time
    price, weighs = near("cost", ["price", "weighs"])
    assert price >= STAND_IN_SIMILARITY and weighs == 0.0
    assert list(near._vectors) == ["cost", "price"]
    price_again, weighs = near("cost", ["price", "weighs"])
    assert price_again == pytest.approx(price) and 0.0 < weighs < STAND_IN_SIMILARITY
