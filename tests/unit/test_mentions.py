"""Keywords are found as whole words, once per mention; text splits into sentences."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from agentfund.oracles.mentions import (
    Keyword,
    count_mentions,
    mentioning_sentences,
    split_sentences,
)

TRUMP = Keyword("Trump", ("Donald Trump", "President Trump"))
BIDEN = Keyword("Biden", ("Joe Biden", "President Biden"))
COVID = Keyword("Covid", ("COVID-19",))


@pytest.mark.parametrize(("text", "expected"), [
    ("Trump speaks", 1),
    ("Trumpet player", 0),
    ("The trumpeter played", 0),
    ("Trump's rally", 1),
    ("Trump’s rally", 1),  # a typographic apostrophe
    ("says Trump, then Trump.", 2),
    ("(Trump) and 'Trump' and \"Trump\"", 3),
    ("an anti-Trump protest", 1),
    ("Trump_2024", 0),
    ("TRUMP and trump and tRuMp", 3),
    ("Trumps", 0),
    ("", 0),
])
def test_a_keyword_is_a_whole_word_in_any_case(text: str, expected: int) -> None:
    assert count_mentions(text, Keyword("Trump")) == expected


def test_a_longer_alias_counts_once_not_also_as_the_name() -> None:
    text = "Donald Trump met Trump fans; President Trump spoke. Former President Donald Trump"

    assert count_mentions(text, TRUMP) == 4


def test_overlapping_aliases_count_once() -> None:
    assert count_mentions("President Joe Biden signed it", BIDEN) == 1
    assert count_mentions("COVID-19 and covid and Covid-19s", COVID) == 3


def test_the_words_of_an_alias_may_be_split_by_any_whitespace() -> None:
    assert count_mentions("Donald  Trump and Donald\tTrump", Keyword("Donald Trump")) == 2
    assert count_mentions("Donald-Trump", Keyword("Donald Trump")) == 0


def test_the_name_is_always_an_alias_and_repeats_are_dropped() -> None:
    keyword = Keyword("Biden", ("Joe Biden", "biden", "joe  BIDEN"))

    assert keyword.aliases == ("Biden", "Joe Biden")


@pytest.mark.parametrize("aliases", [("",), ("  ",)])
def test_an_empty_alias_is_refused(aliases: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="empty alias"):
        Keyword("Trump", aliases)
    with pytest.raises(ValueError, match="non-empty name"):
        Keyword(" ")


def test_the_pattern_does_not_depend_on_the_order_of_aliases() -> None:
    one = Keyword("Biden", ("Joe Biden", "President Biden")).compile()
    other = Keyword("Biden", ("President Biden", "Joe Biden")).compile()

    assert one.pattern == other.pattern


def test_regex_metacharacters_in_aliases_are_literal() -> None:
    keyword = Keyword("S&P 500", ("S.P.",))

    assert count_mentions("The S&P 500 fell; S.P. rose; SxP 500 and SaPa", keyword) == 2


@pytest.mark.parametrize(("keyword", "text", "expected"), [
    (Keyword("Zürich"), "ZÜRICH and zürich", 2),
    (Keyword("Zürich"), "the Zürichsee", 0),  # ü and e are word characters: no boundary
    (Keyword("Zelensky", ("Зеленский",)), "Зеленский said, then ЗЕЛЕНСКИЙ", 2),
    (Keyword("Zelensky", ("Зеленский",)), "Зеленского", 0),
    (Keyword("Macron"), "Macroné", 0),
    (Keyword("Macron"), "«Macron» — Macron…", 2),
    (Keyword("東京"), "東京 で", 1),
])
def test_boundaries_and_case_are_unicode_aware(keyword: Keyword, text: str, expected: int
                                               ) -> None:
    assert count_mentions(text, keyword) == expected


def test_a_headline_without_a_full_stop_is_one_sentence() -> None:
    headline = "Republicans Won't Be Elected If Democrats Pass Voting Bill: Trump"

    assert split_sentences(headline) == [headline]
    assert split_sentences("  Trump wins  ") == ["Trump wins"]


def test_abbreviations_and_initials_do_not_end_a_sentence() -> None:
    text = ("Mr. Smith met Dr. J. Jones in the U.S. on Jan. 6 at St. Mary's, e.g. near "
            "the U.K. embassy. Mrs. Smith left, i.e. went home vs. staying. Ms. Lee "
            "arrived in Feb. Then came Sen. Rand Paul and Gov. Glenn Youngkin.")

    assert split_sentences(text) == [
        "Mr. Smith met Dr. J. Jones in the U.S. on Jan. 6 at St. Mary's, e.g. near the "
        "U.K. embassy.",
        "Mrs. Smith left, i.e. went home vs. staying.",
        "Ms. Lee arrived in Feb. Then came Sen. Rand Paul and Gov. Glenn Youngkin.",
    ]


def test_sentences_end_at_stops_before_a_capital_digit_or_quote() -> None:
    text = ('He said "stop." Then he left! Why? 2022 was hard… "No," she said. '
            "It costs $3.50 vs. $4. see the e.g. list. (Also) this")

    assert split_sentences(text) == [
        'He said "stop."', "Then he left!", "Why?", "2022 was hard…",
        '"No," she said.', "It costs $3.50 vs. $4. see the e.g. list.", "(Also) this",
    ]


def test_line_breaks_and_blank_lines_end_sentences() -> None:
    text = "Ukraine crisis deepens\n\nRussia masses troops\r\n  near the border. NATO warns\n\n\n"

    assert split_sentences(text) == ["Ukraine crisis deepens", "Russia masses troops",
                                     "near the border.", "NATO warns"]
    assert split_sentences("") == []
    assert split_sentences(" \n\t\n ") == []


def test_mentioning_sentences_keeps_only_those_with_the_keyword() -> None:
    text = ("Russia moved troops. Ukraine asked for help. The Kremlin said Russia "
            "would not invade. Russians were told nothing.")

    assert mentioning_sentences(text, Keyword("Russia")) == [
        "Russia moved troops.", "The Kremlin said Russia would not invade."]


WORDS = ["Trump", "Donald Trump", "Biden", "Joe Biden", "President Biden", "COVID-19",
         "covid", "Trumpet", "Mr.", "Dr.", "U.S.", "J.", "e.g.", "the", "said", "It", "rally",
         "Trump's", "«Biden»", "Зеленский", "2022", "\"Why", "Hi…", "no!", "(Biden)", "Biden.",
         "Trump?", "word.", "and", "Donald", "Joe", "President", "…"]
SEPARATORS = [" ", "  ", ". ", "! ", "? ", "\n", "\n\n", ", ", " - ", "\t", ".\n", "… "]


@given(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=40))
def test_counts_over_sentences_add_up_to_the_count_over_the_text(
        pieces: list[tuple[str, str]]) -> None:
    text = "".join(word + separator for word, separator in pieces)
    # a name broken by a line break is one mention in the text but none in any sentence
    assume(not re.search(r"(Donald|Joe|President)\s*[\r\n]\s*(Trump|Biden)", text))

    for keyword in (TRUMP, BIDEN, COVID, Keyword("Зеленский")):
        per_sentence = [count_mentions(s, keyword) for s in split_sentences(text)]
        assert sum(per_sentence) == count_mentions(text, keyword)
