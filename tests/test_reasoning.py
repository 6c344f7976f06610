"""The reasoning splitter on a table of real-world output variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from curate.schema import join_reasoning, split_reasoning, split_response

OT = "<|begin_of_thought|>"
CT = "<|end_of_thought|>"

# (case, text, options, expected (reasoning, answer))
TABLE = [
    ("plain R1 output", "<think>\n2+2=4\n</think>\n\nThe answer is 4.", {}, ("2+2=4", "The answer is 4.")),
    ("template prefilled <think>", "2+2=4\n</think>\n\n**4**", {}, ("2+2=4", "**4**")),
    ("truncated inside reasoning", "<think>\nLet me see, 2+", {}, ("Let me see, 2+", None)),
    ("truncated, prefilled, no tags", "Let me see, 2+", {"prefilled": True}, ("Let me see, 2+", None)),
    ("no reasoning at all", "The answer is 4.", {}, (None, "The answer is 4.")),
    ("empty think block", "<think>\n\n</think>\n\n4", {}, ("", "4")),
    ("closing tag only", "</think>4", {}, ("", "4")),
    ("reasoning quotes the tag", "<think>I must close with </think> later.</think>4", {},
     ("I must close with </think> later.", "4")),
    ("preamble before <think>", "Sure.\n<think>2+2=4</think>4", {}, ("Sure.\n2+2=4", "4")),
    ("leading whitespace", "\n\n<think>r</think>\n a \n", {}, ("r", "a")),
    ("CRLF line ends", "<think>\r\nr\r\n</think>\r\n\r\na", {}, ("r", "a")),
    ("answer empty after reasoning", "<think>r</think>", {}, ("r", "")),
    ("OpenThoughts tags", f"{OT}\nr\n{CT}\n\n<|begin_of_solution|>4<|end_of_solution|>",
     {"open_tag": OT, "close_tag": CT}, ("r", "<|begin_of_solution|>4<|end_of_solution|>")),
    ("other tags ignore <think>", "<think>r</think>a", {"open_tag": "<r>", "close_tag": "</r>"},
     (None, "<think>r</think>a")),
    ("None", None, {}, (None, None)),
]


@pytest.mark.parametrize("case,text,options,expected", TABLE, ids=[row[0] for row in TABLE])
def test_split_reasoning_table(case, text, options, expected):
    assert split_reasoning(text, **options) == expected


# (case, content, reasoning field, expected)
SERVER = [
    ("vLLM reasoning field", "4", "2+2=4", ("2+2=4", "4")),
    ("cut off while reasoning: content null", None, "2+2=", ("2+2=", None)),
    ("cut off: content empty", "", "2+2=", ("2+2=", None)),
    ("no parser on the server", "<think>r</think>a", None, ("r", "a")),
    ("empty reasoning field", "<think>r</think>a", "", ("r", "a")),
    ("parser left a closing tag", "more</think>a", "r", ("r\nmore", "a")),
    ("reasoning field, answer has whitespace", "\n\n4\n", "r\n", ("r", "4")),
]


@pytest.mark.parametrize("case,content,field,expected", SERVER, ids=[row[0] for row in SERVER])
def test_split_response_table(case, content, field, expected):
    assert split_response(content, field) == expected


def test_join_then_split_round_trips():
    assert split_reasoning(join_reasoning("step 1\nstep 2", "42")) == ("step 1\nstep 2", "42")
    assert join_reasoning(None, "42") == "42"


text = st.text(st.characters(blacklist_characters="<>"), max_size=40).map(str.strip)


@given(text, text)
def test_round_trip_property(reasoning, answer):
    assert split_reasoning(join_reasoning(reasoning, answer)) == (reasoning, answer)


pieces = st.lists(st.sampled_from(["a", "b", " ", "\n", "<think>", "</think>", "<", "/"]), max_size=30)


@given(pieces.map("".join))
def test_only_one_tag_pair_and_whitespace_are_dropped(raw):
    reasoning, answer = split_reasoning(raw)
    kept = "".join((reasoning or "") + (answer or "")).split()
    end = raw.rfind("</think>")
    head = raw[:end] if end >= 0 else raw
    removed = 8 * (end >= 0) + 7 * ("<think>" in head)
    assert len("".join(kept)) == len("".join(raw.split())) - removed


@given(st.text(st.characters(blacklist_characters="<"), max_size=40))
def test_text_without_tags_is_all_answer(raw):
    assert split_reasoning(raw) == (None, raw.strip())
