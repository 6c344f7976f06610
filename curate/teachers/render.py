"""Prompt rendering: problem rows -> chat messages -> template text and token ids.

The messages come from the config (system prompt, user template with `{column}` fields) and the
row (its own `system` wins). The tokenizer's chat template (or the config's override) turns them
into text with the generation prompt, the prefill (e.g. `<think>\\n`) is appended, and the text
is tokenized without adding special tokens again (the template already has them). Counting
prompt tokens here is what lets a too-long prompt be recorded per row instead of failing the
engine's whole batch.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from curate.errors import CurateError, require
from curate.teachers.base import Request, fill_template


def build_messages(row: dict[str, Any], *, system_prompt: str | None, user_template: str) -> list[dict]:
    """The chat for one problem row."""
    extra = json.loads(row["extra"]) if row.get("extra") else {}
    system = row.get("system") or system_prompt
    messages = [{"role": "system", "content": system}] if system else []
    history = extra.get("history") if isinstance(extra.get("history"), list) else []
    messages += [m for m in history if isinstance(m, dict) and "role" in m and "content" in m]
    messages.append({"role": "user", "content": fill_template(user_template, row, extra)})
    return messages


@lru_cache(maxsize=4)
def load_tokenizer(name: str, revision: str | None = None, chat_template: str | None = None,
                   trust_remote_code: bool = False):
    """The model's tokenizer (cached per process), with the chat template override applied."""
    transformers = require("transformers", "vllm", "rendering prompts with the chat template")
    check_model_path(name)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise CurateError(f"cannot load the tokenizer of '{name}': {exc}",
                          "Check the model path or Hub id (and network or HF_HUB_OFFLINE).") from exc
    if chat_template:
        path = Path(chat_template).expanduser()
        tokenizer.chat_template = path.read_text() if len(chat_template) < 4096 and path.is_file() \
            else chat_template
    if not getattr(tokenizer, "chat_template", None):
        raise CurateError(f"the tokenizer of '{name}' has no chat template.",
                          "Set `chat_template:` in the generate stage (Jinja text or a file path).")
    return tokenizer


def check_model_path(name: str) -> None:
    """A name that looks like a local path must exist (not be sent to the Hub as an id)."""
    looks_local = name.startswith(("/", "./", "../", "~")) or Path(name).expanduser().exists()
    if looks_local and not Path(name).expanduser().exists():
        raise CurateError(f"model path '{name}' does not exist.",
                          "Fix `model:` (a local folder or a Hub id such as Qwen/Qwen3-8B); for the "
                          "CPU quickstart set `build_tiny_model: true` or run `curate tiny-model DIR`.")


def render(tokenizer, requests: list[Request], *, with_ids: bool = True) -> None:
    """Fill each request's `prompt_text` (template + prefill) and, if asked, its token ids."""
    texts = []
    for request in requests:
        text = tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        texts.append(text + (request.prefill or ""))
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if with_ids and texts else [None] * len(texts)
    for request, text, token_ids in zip(requests, texts, ids):
        request.prompt_text = text
        request.prompt_token_ids = list(token_ids) if token_ids is not None else None
