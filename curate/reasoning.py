"""Split a generation into reasoning and answer, across the variants teachers produce.

- `<think>R</think>A`            -> (R, A)
- `R</think>A` (the chat template prefilled `<think>`, so the output lacks the opening tag) -> (R, A)
- `<think>R` with no closing tag (truncated)      -> (R, None): no answer
- `R` with no tags, but the prompt prefilled `<think>` (truncated) -> (R, None)
- no tags at all                                   -> (None, text)
- `<think></think>A` (the model chose not to think) -> ("", A)
- text before `<think>` (a preamble)               -> kept, in front of the reasoning
- a separate reasoning field from the server (`reasoning_content`, or `reasoning` since vLLM
  0.10): `split_response` uses it, and still splits the content if the server's parser was off

Other tag pairs are configurable (`open_tag`, `close_tag`, e.g. `<|begin_of_thought|>`).
The LAST closing tag wins, since reasoning can quote the tag itself; surrounding whitespace is
stripped. Nothing is ever dropped: every character of the input ends in reasoning or answer,
except the tags and the whitespace around them.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_reasoning(
    text: str | None, *, open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE,
    prefilled: bool = False,
) -> tuple[str | None, str | None]:
    """Return (reasoning, answer); either may be None.

    `prefilled` says the prompt ended with `open_tag`, so text without any tag is unfinished
    reasoning rather than an answer.

    >>> split_reasoning("<think>\\n2+2=4\\n</think>\\n\\nThe answer is 4.")
    ('2+2=4', 'The answer is 4.')
    >>> split_reasoning("<think>still thinking")
    ('still thinking', None)
    >>> split_reasoning("2+2=4</think>4")
    ('2+2=4', '4')
    """
    if text is None:
        return None, None
    end = text.rfind(close_tag)
    if end >= 0:
        head, answer = text[:end], text[end + len(close_tag):]
        return _strip_open(head, open_tag).strip(), answer.strip()
    start = text.find(open_tag)
    if start >= 0 or prefilled:
        return _strip_open(text, open_tag).strip(), None
    return None, text.strip()


def _strip_open(head: str, open_tag: str) -> str:
    """Remove the first opening tag; a non-blank preamble before it stays in front."""
    start = head.find(open_tag)
    if start < 0:
        return head
    preamble, rest = head[:start].strip(), head[start + len(open_tag):]
    return f"{preamble}\n{rest.strip()}" if preamble else rest


def split_response(
    content: str | None, reasoning_field: str | None, *, open_tag: str = THINK_OPEN,
    close_tag: str = THINK_CLOSE, prefilled: bool = False,
) -> tuple[str | None, str | None]:
    """(reasoning, answer) from a server message with an optional separate reasoning field.

    With a non-empty reasoning field the content is the answer (None when the model was cut
    off while reasoning); tags left in the content (a parser that only strips some) are split
    off and their reasoning appended. Without the field, `split_reasoning` handles the content.

    >>> split_response("4", "2+2=4")
    ('2+2=4', '4')
    >>> split_response(None, "2+2=")
    ('2+2=', None)
    """
    if not reasoning_field:
        return split_reasoning(content, open_tag=open_tag, close_tag=close_tag, prefilled=prefilled)
    reasoning = reasoning_field.strip()
    if content is None:
        return reasoning, None
    if open_tag in content or close_tag in content:
        more, answer = split_reasoning(content, open_tag=open_tag, close_tag=close_tag)
        reasoning = "\n".join(part for part in (reasoning, more) if part)
        return reasoning, answer
    answer = content.strip()
    return reasoning, answer if answer else None


def join_reasoning(reasoning: str | None, answer: str | None) -> str:
    """The assistant turn of the training view: `<think>\\n…\\n</think>\\n\\n` + answer."""
    if reasoning is None:
        return answer or ""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer or ''}"
