"""FilterPattern: CloudWatch Logs' text filter syntax, as a user writes it."""

from __future__ import annotations

import pytest

from lambdalite.logs.filter_pattern import FilterPattern, FilterPatternError, parse

LINES = [
    "START RequestId: 8f5 Version: $LATEST\n",
    "[ERROR] MainThread failed to connect\n",
    "[WARN] retrying in 2 s\n",
    "[ERROR] Debug dump follows\n",
    "Task timed out after 3.00 seconds\n",
    "error in lower case\n",
]


def matching(pattern: str) -> list[str]:
    parsed = parse(pattern)
    return [line for line in LINES if parsed.matches(line)]


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_an_empty_pattern_matches_every_event(blank: str | None) -> None:
    assert parse(blank) == FilterPattern()
    assert matching(blank or "") == LINES


def test_a_term_matches_case_sensitively_anywhere_in_the_event() -> None:
    assert matching("ERROR") == [LINES[1], LINES[3]]
    assert matching("error") == [LINES[5]]


def test_every_plain_term_must_match() -> None:
    assert matching("ERROR MainThread") == [LINES[1]]


def test_a_quoted_phrase_matches_as_written() -> None:
    assert matching('"Task timed out"') == [LINES[4]]
    assert matching('"timed Task"') == []
    assert parse(r'"say \"hi\" \\ bye"').all_of == ('say "hi" \\ bye',)


def test_question_mark_terms_are_alternatives() -> None:
    assert matching("?ERROR ?WARN") == LINES[1:4]
    assert matching('?WARN ?"timed out"') == [LINES[2], LINES[4]]


def test_minus_terms_exclude() -> None:
    assert matching("ERROR -Debug") == [LINES[1]]
    assert matching('-"RequestId"') == LINES[1:]


def test_kinds_combine_as_and_or_and_not() -> None:
    # Brackets start a space-delimited pattern on AWS, so a literal "[ERROR]" is quoted.
    pattern = parse('"[ERROR]" ?MainThread ?Debug -dump')
    assert pattern == FilterPattern(("[ERROR]",), ("MainThread", "Debug"), ("dump",))
    assert matching('"[ERROR]" ?MainThread ?Debug -dump') == [LINES[1]]


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        ('"unclosed', "unclosed quote"),
        ("ERROR ?", "empty term"),
        ('{ $.level = "ERROR" }', "JSON filter patterns"),
        ("[ip, user]", "space-delimited"),
        ("%ERR.*%", "regular-expression"),
    ],
)
def test_what_cannot_be_read_is_refused_with_a_reason(pattern: str, says: str) -> None:
    with pytest.raises(FilterPatternError, match=says):
        parse(pattern)
