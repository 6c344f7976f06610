"""A tiny random Llama model for tests, benchmarks and the CPU quickstart.

There is no network in CI to fetch weights, and vLLM's CPU build needs a real Hugging Face model
folder, so we build one: a byte-level BPE tokenizer trained with `tokenizers` on a few sentences
(a chat template included, so prompts render exactly like a real teacher's), and a
`LlamaForCausalLM` with hidden size 128, 2 attention heads of size 64 (the CPU attention backend
rejects head size 16), 1 KV head and 2 layers, with seeded random weights. Its output is noise;
it exercises the mechanics (batching, n samples, token counts, finish reasons), not quality.

    curate tiny-model ./tiny-llama
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from curate.errors import CurateError, require

CORPUS = [
    "Let me think step by step about the problem.",
    "The answer is 42, so the final answer is \\boxed{42}.",
    "First, add the two numbers: 2 + 2 = 4. Then multiply by 3 to get 12.",
    "def solve(n):\n    return sum(range(n + 1))\n",
    "We check every case; the triangle has sides 3, 4 and 5.",
    "Wait, that is not right. Let me reconsider the equation x^2 - 5x + 6 = 0.",
    "Hence x = 2 or x = 3, and the product of the roots is 6.",
    "import sys\nprint(int(sys.stdin.readline()) * 2)\n",
]
SPECIAL = ["<|bos|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>", "<think>", "</think>"]
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
#: marker file that says a folder was built by this module (safe to rebuild or reuse)
MARKER = "curate_tiny_model.json"


def build_tiny_model(path: str | Path, *, seed: int = 0, vocab_size: int = 512,
                     max_position_embeddings: int = 4096) -> Path:
    """Write a tiny random LlamaForCausalLM and its tokenizer to `path`; return the path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(vocab_size)
    tokenizer.save_pretrained(path)
    _save_model(path, vocab_size=len(tokenizer), eos_id=tokenizer.eos_token_id,
                bos_id=tokenizer.bos_token_id, seed=seed, max_pos=max_position_embeddings)
    (path / MARKER).write_text(json.dumps({"seed": seed, "vocab_size": vocab_size}) + "\n")
    return path


def ensure_tiny_model(path: str | Path, *, seed: int = 0) -> Path:
    """Build the tiny model at `path` unless a complete one is already there."""
    path = Path(path)
    if (path / MARKER).exists() and (path / "config.json").exists():
        return path
    if path.exists() and any(path.iterdir()) and not (path / MARKER).exists():
        raise CurateError(f"{path} exists and is not a curate tiny model; refusing to overwrite it.",
                          "Point `model` at an empty or missing folder, or turn build_tiny_model off.")
    return build_tiny_model(path, seed=seed)


def _train_tokenizer(vocab_size: int):
    tokenizers = require("tokenizers", "vllm", "building the tiny test model")
    transformers = require("transformers", "vllm", "building the tiny test model")
    model = tokenizers.models.BPE()
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL, show_progress=False,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|bos|>", eos_token="<|end|>", pad_token="<|end|>",
        unk_token=None, model_max_length=4096,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _save_model(path: Path, *, vocab_size: int, eos_id: int, bos_id: int, seed: int,
                max_pos: int) -> None:
    torch = require("torch", "vllm", "building the tiny test model")
    transformers = require("transformers", "vllm", "building the tiny test model")
    config = transformers.LlamaConfig(
        vocab_size=vocab_size, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=64,
        max_position_embeddings=max_pos, bos_token_id=bos_id, eos_token_id=eos_id,
        pad_token_id=eos_id, tie_word_embeddings=False, torch_dtype="float32",
    )
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(config)
    model.generation_config.eos_token_id = eos_id
    model.save_pretrained(path, safe_serialization=True)


@click.command("tiny-model")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random weights.")
def tiny_model_command(directory: str, seed: int) -> None:
    """Build a tiny random Llama model in DIRECTORY (for CPU tests and the quickstart).

    Its output is noise; it lets the vLLM CPU engine run the generate stage for real.
    """
    path = build_tiny_model(directory, seed=seed)
    click.echo(f"Built the tiny model in {path} (LlamaForCausalLM, hidden 128, 2 layers).")
