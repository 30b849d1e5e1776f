"""The numbers and names of an answer that nothing the model was given holds."""

from __future__ import annotations

import pytest

from assistant.orchestrator.grounding import (
    disowned,
    normalise_number,
    note,
    unsupported,
    without_note,
)

pytestmark = pytest.mark.unit

SHEET = (
    '<source id="1" name="harbor-bike.md">The Harbor E-Bike 2 is a city bike made by Lumen '
    "Cycles in Porto, Portugal. Its motor is rated at 250 W; the battery holds 540 Wh and "
    "charges in four hours. It costs 2,390 euros; mileage is paid at 0.30 euros a kilometre."
    "</source>"
)
QUESTION = "Who is the chief executive of Lumen Cycles?"


def test_an_invented_name_is_reported_and_names_the_sources_hold_are_not() -> None:
    answer = "The chief executive of Lumen Cycles is Elena Kravitscheva."
    assert unsupported(answer, [SHEET, QUESTION]) == ["Elena Kravitscheva"]
    assert unsupported("The Harbor E-Bike 2 is made by Lumen Cycles in Porto.", [SHEET]) == []


def test_numbers_count_whatever_their_spelling() -> None:
    assert unsupported("It costs 2390 euros, 0.3 euros a kilometre [1].", [SHEET]) == []
    assert unsupported("It charges in 4 hours.", [SHEET]) == []  # "four" in the source
    assert normalise_number("9,168") == normalise_number("9168") == "9168"
    assert normalise_number("0.30") == normalise_number("0,3") == "0.3"


def test_a_computed_or_invented_number_is_reported_beside_a_right_one() -> None:
    answer = "The motor is rated at 250 watts, which is 250 * 100 = 2500 watts."
    assert unsupported(answer, [SHEET]) == ["100", "2500"]
    assert unsupported("The battery holds 2.5 kWh.", [SHEET]) == ["2.5"]


def test_the_digits_of_a_flat_or_unit_name_are_no_count() -> None:
    lease = "Flat 4B has two bedrooms and parking space 17."
    assert unsupported("Flat 4B has 4 bedrooms.", [lease]) == ["4"]
    assert unsupported("Flat 4B has 2 bedrooms and space 17 [1].", [lease]) == []
    assert unsupported("It is Flat 12A.", [lease]) == ["12A"]


def test_citation_marks_list_numbers_and_the_prompts_markup_are_not_claims() -> None:
    answer = "1. The Harbor E-Bike 2 costs 2,390 euros [1].\n2. It is made in Portugal [1, 2]."
    assert unsupported(answer, [SHEET]) == []
    # the source's number in its tag is markup, not something the source says
    assert unsupported("The answer is: 1", [SHEET]) == ["1"]
    assert unsupported('It reads <source id="3" name="harbor-bike.md"> 250 W.', [SHEET]) == []


def test_ordinary_words_are_not_checked_so_a_paraphrase_is_not_reported() -> None:
    """Only digits and capitalised names are claims: "price" for "costs" is no news, and
    neither (a known limit) is "three colours"."""
    answer = "The Harbor E-Bike 2 has a price of 2,390 euros and comes in three colours."
    assert unsupported(answer, [SHEET]) == []


def test_a_capital_after_a_bullet_or_emphasis_is_no_name_and_a_possessive_is_the_name() -> None:
    answer = "- Weighs little.\n* **Rated** at 250 W.\n> Sold by Lumen's shop in Porto."
    assert unsupported(answer, [SHEET]) == []
    assert unsupported("Sold in Lisbon's shops.", [SHEET]) == ["Lisbon's"]


def test_the_note_names_the_first_claims_and_counts_the_rest() -> None:
    assert note(["Elena Kravitscheva"]) == (
        "\n\n(The sources do not mention Elena Kravitscheva: check this answer.)"
    )
    assert "1, 2, 3, 4, 5, 6, 7, 8 and 4 more:" in note([str(n) for n in range(1, 13)])


def test_an_earlier_answer_is_evidence_without_what_its_note_named() -> None:
    earlier = (
        "Lumen Cycles is run by Elena Kravitscheva since 2019; it costs 2390 euros [1]."
        + note(["Elena Kravitscheva", "2019"])
    )
    assert without_note(earlier) == earlier.split("\n\n")[0]
    kept = disowned(earlier)
    assert "Kravitscheva" not in kept and "2019" not in kept and "mention" not in kept
    assert unsupported("It costs 2390 euros, since 2019.", [kept]) == ["2019"]
    assert unsupported("It is run by Elena Kravitscheva.", [kept]) == ["Elena Kravitscheva"]
    # a note cut short ("and 2 more") is still read, and a number is removed as a number only
    capped = "Sold 12 in 2019 and 120 in 2020." + note([str(n) for n in range(12, 22)])
    assert disowned(capped).split() == ["Sold", "in", "2019", "and", "120", "in", "2020."]


def test_code_is_not_checked() -> None:
    answer = (
        "Use `sorted(items)[:10]` or:\n\n```python\nfor n in range(3):\n    print(Path.cwd())\n```"
        "\n\nIt costs 2,390 euros, not 2,990 [1]."
    )
    assert unsupported(answer, [SHEET]) == ["2,990"]


def test_an_enumerations_items_the_sources_do_not_hold_are_reported() -> None:
    sizes = '<source id="1">The frame comes in three sizes: small, medium and large.</source>'
    answer = "The Harbor E-Bike 2 comes in three colours: blue, white, and red."
    assert unsupported(answer, [SHEET, sizes]) == ["blue", "white", "red"]
    assert unsupported("It comes in blue, white or red [1].", [SHEET]) == ["blue", "white", "red"]
    assert unsupported("It comes in small, medium and large sizes.", [SHEET, sizes]) == []
    # items are matched by their words' stems; one held word holds the item
    invoice = "ergonomic office chair, standing desk, monitor arm"
    assert unsupported("It lists chairs, standing desks and the arms.", [invoice]) == []
    assert unsupported("It lists chairs, lamps and monitor arms.", [invoice]) == ["lamps"]
    # two things joined by "and" are prose, not a list
    assert unsupported("It carries the rider and luggage.", [SHEET]) == []


def test_a_bulleted_lists_items_are_checked_like_an_enumerations() -> None:
    sizes = '<source id="1">The frame comes in three sizes: small, medium and large.</source>'
    answer = "It comes in:\n- **Blue**\n- white\n- Red.\n\nEnjoy [1]."
    assert unsupported(answer, [SHEET, sizes]) == ["Blue", "white", "Red"]
    assert unsupported("Sizes:\n1. Small\n2. Medium\n3. Large", [SHEET, sizes]) == []
    # lines of prose are not items, and two lines are no list
    prose = (
        "- It is light and quick to charge.\n- It is sold in Porto.\n- It has a 5-year warranty."
    )
    assert unsupported(prose, [SHEET]) == ["5"]
    assert unsupported("- Blue\n- White", [SHEET]) == []
