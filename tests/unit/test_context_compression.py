"""Less, better text for a small model: each retrieved chunk cut to the sentences nearest the
question (the answer-bearing one stays), and a follow-up searched with the question before it."""

from __future__ import annotations

from collections.abc import Sequence

from assistant.orchestrator.compress import nearest_sentences, sentences
from assistant.orchestrator.followup import retrieval_query, standalone
from assistant.orchestrator.prompt import build_messages
from assistant.orchestrator.types import ChatTurn
from assistant.retrieval.store import Hit

POLICY = (
    "This policy applies to every employee travelling on company business. Trips must be booked "
    "through the company portal at least 14 days before departure. The nightly hotel limit is "
    "180 euros in most cities and 250 euros in London, Paris and New York. The daily meal "
    "allowance is 55 euros. Alcohol is not reimbursed."
)
BIKE = (
    "The Harbor E-Bike 2 is a city bicycle. The Harbor E-Bike 2 battery stores 540 watt-hours. "
    "The Harbor E-Bike 2 battery charges in 4.5 hours. The Harbor E-Bike 2 frame is aluminium."
)


def test_the_sentence_that_answers_is_kept_and_the_rest_cut() -> None:
    [cut] = nearest_sentences("How many days before departure are trips booked?", [POLICY], keep=1)
    assert cut == (
        "Trips must be booked through the company portal at least 14 days before departure."
    )


def test_rare_question_words_outweigh_the_ones_every_sentence_repeats() -> None:
    # every sentence names the bike; only one says how long charging takes
    [cut] = nearest_sentences("How long does the Harbor E-Bike 2 take to charge?", [BIKE], keep=1)
    assert cut == "The Harbor E-Bike 2 battery charges in 4.5 hours."


def test_kept_sentences_stay_in_document_order() -> None:
    [cut] = nearest_sentences("meal allowance and booking days before departure", [POLICY], 2)
    assert cut.index("14 days") < cut.index("55 euros")
    assert "hotel" not in cut


def test_short_or_unrelated_chunks_are_kept_whole() -> None:
    short = "Alcohol is not reimbursed. Meals are."
    assert nearest_sentences("Is alcohol paid?", [short], keep=3) == [short]
    assert nearest_sentences("Who painted the Mona Lisa?", [POLICY], keep=1) == [POLICY]


def test_a_chunk_that_shares_no_question_word_is_left_out_beside_one_that_does() -> None:
    invoice = "Subtotal: 7,640 euros. Total due: 9,168 euros."
    cut = nearest_sentences("How much is the meal allowance?", [POLICY, invoice], keep=1)
    assert cut == ["The daily meal allowance is 55 euros.", ""]
    # when none shares a word, none is singled out
    assert nearest_sentences("Who painted it?", [POLICY, invoice], 1) == [POLICY, invoice]


def test_the_left_out_source_gets_no_number_and_the_others_stay_in_sequence() -> None:
    def hit(n: int, text: str) -> Hit:
        return Hit(id=f"d{n}#0", text=text, metadata={"source": f"doc{n}.md"}, distance=0.3)

    invoice = "Subtotal: 7,640 euros. Total due: 9,168 euros."
    turns = [ChatTurn("user", "Is alcohol reimbursed on trips?")]
    messages, citations = build_messages(
        turns, [hit(1, invoice), hit(2, POLICY)], [], context_sentences=2
    )
    assert [(c.index, c.source) for c in citations] == [(1, "doc2.md")]
    prompt = str(messages[-1].content)
    assert "9,168" not in prompt and '<source id="1" name="doc2.md">' in prompt


def test_wrapped_lines_are_one_sentence_and_markdown_lines_their_own() -> None:
    text = (
        "The removable battery stores 540 watt-hours and charges in 4.5 hours with\n"
        "the supplied charger.\n## Price\n- a list item\n| a | b |\nThe price is\n2,390 euros."
    )
    assert sentences(text) == [
        "The removable battery stores 540 watt-hours and charges in 4.5 hours with the "
        "supplied charger.",
        "## Price",
        "- a list item",
        "| a | b |",
        "The price is 2,390 euros.",
    ]


def test_lines_and_sentences_split() -> None:
    assert sentences("# Title\n\nOne. Two 4.5 kg.\n| a | b |") == [
        "# Title",
        "One.",
        "Two 4.5 kg.",
        "| a | b |",
    ]


def test_the_prompt_reads_the_cut_chunk_and_the_citation_keeps_the_whole() -> None:
    hit = Hit(
        id="d#0", text=POLICY, metadata={"source": "policy.md", "document_id": "d"}, distance=0.2
    )
    turns = [ChatTurn("user", "What is the daily meal allowance?")]
    messages, citations = build_messages(turns, [hit], [], context_sentences=1)
    prompt = str(messages[-1].content)
    assert "The daily meal allowance is 55 euros." in prompt and "portal" not in prompt
    assert citations[0].snippet == POLICY[:240]
    whole, _ = build_messages(turns, [hit], [], context_sentences=0)
    assert "portal" in str(whole[-1].content)


def test_a_follow_up_is_searched_with_the_question_before_it() -> None:
    def turns(*asked: str) -> list[ChatTurn]:
        out = []
        for q in asked:
            out += [ChatTurn("user", q), ChatTurn("assistant", "An answer.")]
        return out[:-1]

    first = "How much does the Harbor E-Bike 2 cost?"
    assert retrieval_query(turns(first, "And how much does it weigh?")) == (
        f"{first} And how much does it weigh?"
    )
    assert retrieval_query(turns(first, "What about the warranty?")).startswith(first)
    # a question that stands alone is searched as it is, as is the first one
    assert (
        retrieval_query(turns(first, "Who owns the travel policy?"))
        == "Who owns the travel policy?"
    )
    assert retrieval_query(turns(first, "Is there a warranty?")) == "Is there a warranty?"
    assert retrieval_query(turns(first)) == first
    # an attachment sent alone asks nothing in words
    assert retrieval_query(turns(first, "")) == ""


SHEET = """# Harbor E-Bike 2 — product sheet

The Harbor E-Bike 2 is a city electric bicycle made by Lumen Cycles.

## Motor and battery

The rear hub motor has a rated power of 250 watts.
The removable battery stores 540 watt-hours.
"""
INVOICE = """# Invoice 7731

| item | quantity | unit price |
|---|---|---|
| ergonomic office chair | 12 | 310 euros |
| standing desk | 4 | 640 euros |
"""


def test_a_sentence_counts_the_headings_above_it_so_the_one_naming_the_product_does_not_win() -> (
    None
):
    # every word of the question but "capacity" is in the intro sentence; the battery sentence
    # says "battery" itself and is about the Harbor E-Bike 2 through the sheet's title
    [cut] = nearest_sentences("What is the battery capacity of the Harbor E-Bike 2?", [SHEET], 1)
    assert cut == "The removable battery stores 540 watt-hours."


def test_a_heading_is_a_label_never_the_sentence_kept() -> None:
    [cut] = nearest_sentences("What does the invoice 7731 say?", [INVOICE], 1)
    assert not cut.startswith("#")


def test_a_table_row_is_read_as_a_sentence_naming_its_columns() -> None:
    assert sentences(INVOICE)[1:] == [
        "item: ergonomic office chair; quantity: 12; unit price: 310 euros.",
        "item: standing desk; quantity: 4; unit price: 640 euros.",
    ]
    # "desks" finds "desk" (stems, not word forms)
    [cut] = nearest_sentences("How many standing desks are on invoice 7731?", [INVOICE], 1)
    assert cut == "item: standing desk; quantity: 4; unit price: 640 euros."


def test_a_chunk_is_about_its_title_when_its_own_headings_are_elsewhere() -> None:
    tail = "The frame carries a 7-year warranty. Delivery takes two weeks."
    other = "The Harbor Ferry leaves at 9 o'clock."
    cut = nearest_sentences(
        "How long is the Harbor E-Bike 2 warranty?",
        [tail, other],
        1,
        titles=["Harbor E-Bike 2 — product sheet / Price and warranty", "ferry timetable"],
    )
    assert cut[0] == "The frame carries a 7-year warranty."


def test_a_chunk_far_weaker_than_the_best_is_left_out() -> None:
    hotels = "The nightly hotel limit is 250 euros in London."
    meals = "The daily meal limit is 55 euros."
    question = "What is the nightly hotel limit in London?"
    # "limit" is the meals chunk's only word of the question: a fraction of the hotels chunk's
    assert nearest_sentences(question, [hotels, meals], 1, relative=0.6) == [hotels, ""]
    assert nearest_sentences(question, [hotels, meals], 1) == [hotels, meals]


def test_the_local_model_reads_one_sentence_per_chunk_and_an_upstream_one_whole_chunks() -> None:
    from typing import cast

    from langchain_core.language_models.chat_models import BaseChatModel

    from assistant.config import LLMSettings, RetrievalSettings
    from assistant.orchestrator import Orchestrator
    from assistant.retrieval.store import VectorStore

    def reads(provider: str, retrieval: dict[str, int], **llm: bool) -> tuple[int, bool]:
        orchestrator = Orchestrator(
            cast(BaseChatModel, None),
            cast(VectorStore, None),
            RetrievalSettings.model_validate(retrieval),
            llm_settings=LLMSettings(provider=provider, base_url="http://127.0.0.1:9/v1", **llm),
        )
        return orchestrator.context_sentences, orchestrator.history_beside_sources

    # sentences per chunk, and the earlier turns beside the sources
    assert reads("local", {}) == (1, False)
    assert reads("openai", {}) == (0, True)
    assert reads("openai", {"context_sentences": 3}, history_beside_sources=False) == (3, False)
    assert reads("local", {}, history_beside_sources=True) == (1, True)


def test_a_heading_in_the_chunk_replaces_the_one_it_started_under() -> None:
    chunk = (
        "The frame is made of aluminium.\n\n## Price and warranty\n\n"
        "The frame carries a 7-year warranty; the motor and the battery carry a 2-year warranty."
    )
    question = "How long is the frame warranty of the Harbor E-Bike 2?"
    title = "Harbor E-Bike 2 — product sheet / Frame and weight"
    # the motor's clause is about warranties, no longer about the frame: the frame's wins
    assert nearest_sentences(question, [chunk], 1, [title]) == [
        "The frame carries a 7-year warranty;"
    ]


def test_a_table_without_a_heading_above_it_is_read_too() -> None:
    assert sentences("| a | b |\n|---|---|\n| 1 | 2 |") == ["a: 1; b: 2."]


def test_words_stemmed_on_many_threads_at_once_get_their_own_stems() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from assistant.retrieval import keywords

    words = [f"{w}{n}ing" for n in range(400) for w in ("charg", "stand", "assist")]
    with ThreadPoolExecutor(4) as pool:
        stems = list(pool.map(keywords.stem, words))
    assert stems == [w[: -len("ing")] for w in words]


def test_without_history_beside_sources_the_small_model_reads_the_sources_not_its_answers() -> None:
    hit = Hit(id="d#0", text=POLICY, metadata={"source": "policy.md"}, distance=0.2)
    turns = [
        ChatTurn("user", "What is the daily meal allowance?"),
        ChatTurn("assistant", "The daily meal allowance is 55 euros."),
        ChatTurn("user", "And what is the hotel limit in Paris?"),
    ]
    kept, _ = build_messages(turns, [hit], [], 1)
    assert [m.type for m in kept] == ["system", "human", "ai", "human"]
    cut, _ = build_messages(turns, [hit], [], 1, history_beside_sources=False)
    assert [m.type for m in cut] == ["system", "human"]
    assert "Paris" in str(cut[-1].content) and "55 euros" not in str(cut[-1].content)
    # with no source the conversation is all there is to answer from: it stays
    alone, _ = build_messages(turns, [], [], 1, history_beside_sources=False)
    assert [m.type for m in alone] == ["system", "human", "ai", "human"]


def test_a_follow_up_read_without_the_turns_names_what_its_it_was() -> None:
    earlier = "What is the battery capacity of the Harbor E-Bike 2?"
    assert standalone("How long does it take to charge?", earlier) == (
        "How long does the Harbor E-Bike 2 take to charge?"
    )
    bike = "How long is the frame warranty of the Harbor E-Bike 2?"
    assert standalone("What is its maximum load?", bike) == (
        "What is the Harbor E-Bike 2's maximum load?"
    )
    assert standalone("What is the unit price on it?", "Who issued invoice 7731?") == (
        "What is the unit price on invoice 7731?"
    )
    assert standalone("Where is it based?", "What does Lumen Cycles make?") == (
        "Where is Lumen Cycles based?"
    )
    # nothing named before, no "it", or two of them: the question as it was
    assert standalone("When is it due?", "who are you?") == "When is it due?"
    assert standalone("And in Paris?", earlier) == "And in Paris?"
    assert standalone("Is it as heavy as it looks?", earlier) == "Is it as heavy as it looks?"
    assert standalone("Is it allowed?", "Can I bring my dog? Asking for Lumen Cycles.") == (
        "Is Lumen Cycles allowed?"  # not "I", nor "Asking", which opens a sentence
    )
    pasted = "Please read this. " + "The Harbor E-Bike 2 is sold by Lumen Cycles. " * 10
    assert standalone("Where is it sold?", pasted) == "Where is it sold?"
    hit = Hit(id="d#0", text=SHEET, metadata={"source": "sheet.md"}, distance=0.2)
    turns = [
        ChatTurn("user", earlier),
        ChatTurn("assistant", "It stores 540 watt-hours."),
        ChatTurn("user", "How long does it take to charge?"),
    ]
    cut, _ = build_messages(turns, [hit], [], 1, history_beside_sources=False)
    assert str(cut[-1].content).endswith(
        "Question: How long does the Harbor E-Bike 2 take to charge?"
    )
    # with the turns beside the sources the model reads the question as the person asked it
    kept, _ = build_messages(turns, [hit], [], 1)
    assert str(kept[-1].content).endswith("Question: How long does it take to charge?")


def test_two_values_of_one_subject_are_read_apart_each_with_the_subject() -> None:
    limits = (
        "The nightly hotel limit is 180 euros in most cities and 250 euros in London, Paris and "
        "New York. Meals are paid at 55 euros a day."
    )
    [cut] = nearest_sentences("What is the nightly hotel limit in London?", [limits], 1)
    assert cut == "The nightly hotel limit is 250 euros in London, Paris and New York."
    [cut] = nearest_sentences("What is the nightly hotel limit in most cities?", [limits], 1)
    assert cut == "The nightly hotel limit is 180 euros in most cities."
    # both kept: they read as the one sentence did
    [cut] = nearest_sentences("What are the nightly hotel limits?", [limits], 2)
    assert cut.startswith("The nightly hotel limit is 180 euros in most cities. The nightly")


def test_a_range_or_a_second_statement_is_not_read_as_two_values() -> None:
    for text in (
        "The fee is between 10 and 20 euros a night.",
        "The motor has a rated power of 250 watts and a peak torque of 45 newton metres.",
        "Trips are booked 14 days ahead and receipts submitted within 30 days.",
    ):
        assert sentences(text) == [text]


PRICED = (
    "The bike weighs 21.4 kilograms. The recommended retail price is 2,390 euros. "
    "The frame carries a 7-year warranty."
)


class _Nearness:
    """Word similarities as a table (the real embedder's are in tests/service), and the calls."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, word: str, others: Sequence[str]) -> list[float]:
        self.asked.append(word)
        return [self.table.get((word, other), 0.0) for other in others]


def test_a_question_word_no_sentence_holds_is_stood_in_for_by_the_nearest_in_meaning() -> None:
    question = "What does the bike cost?"
    # by words alone only "bike" is shared, by every sentence of the bike's sheet: the one
    # that says it itself wins
    [cut] = nearest_sentences(question, [PRICED], keep=1, titles=["Bike sheet"])
    assert cut == "The bike weighs 21.4 kilograms."
    near = _Nearness({("cost", "price"): 0.74, ("cost", "euros"): 0.48})
    [cut] = nearest_sentences(question, [PRICED], 1, ["Bike sheet"], similarity=near)
    assert cut == "The recommended retail price is 2,390 euros."
    assert near.asked == ["cost"]  # "euros" at 0.48 is too far to stand in


def test_stand_ins_are_looked_for_only_when_a_question_word_is_held_nowhere() -> None:
    near = _Nearness({})
    [cut] = nearest_sentences("What is the warranty of the frame?", [PRICED], 1, similarity=near)
    assert cut == "The frame carries a 7-year warranty."
    # a number has no stand-in either
    nearest_sentences("What is the 7731 bike?", [PRICED], 1, similarity=near)
    assert near.asked == []


LEASE = """# Tenancy agreement — Flat 4B, 27 Harcourt Road, Bristol

The tenancy starts on 1 February 2027. The flat has two bedrooms.
"""


def test_a_title_holding_more_of_the_question_than_any_sentence_is_kept_without_its_markup() -> (
    None
):
    near = _Nearness({("street", "road"): 0.81})
    # every sentence is about the title's words, but only the title says "Road" itself
    [cut] = nearest_sentences("Which street is Flat 4B on?", [LEASE], 1, similarity=near)
    assert cut == "Tenancy agreement — Flat 4B, 27 Harcourt Road, Bristol"
    # a closing run of hashes is markup too, as the chunker reads the heading
    closed = LEASE.replace("Bristol\n", "Bristol ##\n", 1)
    [cut] = nearest_sentences("Which street is Flat 4B on?", [closed], 1, similarity=near)
    assert cut == "Tenancy agreement — Flat 4B, 27 Harcourt Road, Bristol"
    # where a sentence holds as much, the sentence: the title is only what it is about
    [cut] = nearest_sentences("When does the tenancy of Flat 4B start?", [LEASE], 1)
    assert cut == "The tenancy starts on 1 February 2027."


def test_how_a_person_asks_is_no_subject_of_the_question() -> None:
    invoice = "Please quote the invoice number 7731. The total due is 9,168 euros."
    # "please" and "tell" are no words of the sentence that answers, nor of the other one's
    # subject: they would tie "due" and put the first sentence first
    polite = nearest_sentences("Can you tell me what is due, please?", [invoice], 1)
    assert polite == ["The total due is 9,168 euros."]


def test_a_clause_that_names_its_subject_by_a_pronoun_stays_with_the_clause_before_it() -> None:
    notes = (
        "- A new setting, `max_concurrent_jobs`, limits how many jobs run at once; its default "
        "is 8.\n- The dashboard listens on port 8420 by default."
    )
    [cut] = nearest_sentences("What is the default of max_concurrent_jobs?", [notes], 1)
    assert cut.endswith("its default is 8.")
    # a clause with a subject of its own is still read apart
    warranty = "The frame carries a 7-year warranty; the motor carries a 2-year warranty."
    assert sentences(warranty) == [
        "The frame carries a 7-year warranty;",
        "the motor carries a 2-year warranty.",
    ]


def test_between_equals_the_sentence_saying_the_question_words_in_its_order_is_kept() -> None:
    weights = (
        "The complete bike weighs 21.4 kilograms, battery included; the battery alone weighs "
        "2.9 kilograms."
    )
    [cut] = nearest_sentences("How much does the battery weigh on its own?", [weights], 1)
    assert cut == "the battery alone weighs 2.9 kilograms."
    [cut] = nearest_sentences("How much does the bike weigh with its battery?", [weights], 1)
    assert cut == "The complete bike weighs 21.4 kilograms, battery included;"


def test_counts_in_words_reach_the_model_in_digits_and_one_as_a_pronoun_stays() -> None:
    flat = (
        "The flat has two bedrooms, one bathroom and a kitchen. No one else may live there. "
        "One of the rooms faces the garden. It is let by Two Rivers Lettings."
    )
    [cut] = nearest_sentences("How many bedrooms does Flat 4B have?", [flat], 1)
    assert cut == "The flat has 2 bedrooms, 1 bathroom and a kitchen."
    [cut] = nearest_sentences("Who may live there else?", [flat], 1)
    assert cut == "No one else may live there."
    [cut] = nearest_sentences("Which of the rooms faces the garden?", [flat], 1)
    assert cut == "One of the rooms faces the garden."
    [cut] = nearest_sentences("Who lets it, which lettings agent?", [flat], 1)
    assert cut == "It is let by Two Rivers Lettings."  # a name, not a count
