"""Split a generation into reasoning and answer, across the variants teachers produce.

- `<think>R</think>A`            -> (R, A)
- `R</think>A` (template prefilled `<think>`, so the output lacks the opening tag) -> (R, A)
- `<think>R` with no closing tag (truncated)      -> (R, None): no answer
- no tags at all                                   -> (None, text)

Other tag pairs are configurable (`open_tag`, `close_tag`). The last closing tag wins, since
reasoning can quote the tag itself.
"""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_reasoning(
    text: str | None, *, open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE,
    prefilled: bool = False,
) -> tuple[str | None, str | None]:
    """Return (reasoning, answer); either may be None.

    >>> split_reasoning("<think>\\n2+2=4\\n</think>\\n\\nThe answer is 4.")
    ('2+2=4', 'The answer is 4.')
    >>> split_reasoning("<think>still thinking")
    ('still thinking', None)
    """
    if text is None:
        return None, None
    end = text.rfind(close_tag)
    if end >= 0:
        head, answer = text[:end], text[end + len(close_tag):]
        start = head.find(open_tag)
        reasoning = head[start + len(open_tag):] if start >= 0 else head
        return reasoning.strip(), answer.strip()
    start = text.find(open_tag)
    if start >= 0 or prefilled:
        reasoning = text[start + len(open_tag):] if start >= 0 else text
        return reasoning.strip(), None
    return None, text.strip()


def join_reasoning(reasoning: str | None, answer: str | None) -> str:
    """The assistant turn of the training view: `<think>\\n…\\n</think>\\n\\n` + answer."""
    if reasoning is None:
        return answer or ""
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{answer or ''}"
