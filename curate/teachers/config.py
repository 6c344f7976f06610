"""The `generate` stage config: prompt rendering, sampling, and each teacher's options.

Flat on purpose: every field is one `curate generate --<field>` option and one recipe key.
Fields for the other teacher are ignored (`base_url` means nothing to the in-process engine).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from curate.recipe import StageConfig


class GenerateConfig(StageConfig):
    # ---- teacher
    teacher: Literal["vllm", "openai"] = Field(
        "vllm", description="vllm: the in-process vLLM engine; openai: any OpenAI-compatible "
        "server (vllm serve, SGLang, hosted APIs).")
    model: str = Field(description="Model path or Hub id (vllm), or the model name the server expects (openai).")
    revision: str | None = Field(None, description="Model revision (commit, tag, branch), recorded in `teacher`.")
    teacher_name: str | None = Field(
        None, description="Name recorded in the `teacher` column (default: model@revision).")
    # ---- prompt
    system_prompt: str | None = Field(
        None, description="System message; a row's own `system` value takes precedence.")
    user_template: str = Field(
        "{problem}", description="User message; {column} is replaced by that column of the row or key "
        "of its extra JSON. Other braces are literal (\\boxed{} needs no escaping).")
    prefill: str | None = Field(
        None, description="Start of the assistant turn, e.g. '<think>\\n' (continued by the model).")
    # ---- sampling (one request with n samples per problem)
    n: int = Field(1, ge=1, description="Samples per problem; every one is kept.")
    max_tokens: int = Field(4096, ge=1, description="Maximum new tokens per sample.")
    temperature: float = Field(0.6, ge=0, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling probability mass.")
    top_k: int | None = Field(None, description="Sample from the k most likely tokens (None: all).")
    min_p: float | None = Field(None, ge=0, le=1, description="Minimum probability relative to the top token.")
    seed: int | None = Field(
        0, description="Base seed; each request gets a seed derived from it and the problem id, so "
        "a resumed run reproduces the same samples. None: unseeded.")
    stop: list[str] | None = Field(None, description="Stop strings.")
    repetition_penalty: float | None = Field(None, gt=0, description="Repetition penalty (1.0: none).")
    presence_penalty: float | None = Field(None, description="Presence penalty.")
    frequency_penalty: float | None = Field(None, description="Frequency penalty.")
    logprobs: int | None = Field(
        None, ge=0, le=20, description="vllm: record each sampled token's id, its log-probability under "
        "the sampling model and the model's top-K alternatives (K = this; 0: the sampled token only) "
        "in token_ids, token_logprobs, top_ids, top_logprobs, with the tokenizer's identity.")
    # ---- reasoning split
    think_open: str = Field("<think>", description="Tag that opens the reasoning.")
    think_close: str = Field("</think>", description="Tag that closes the reasoning.")
    # ---- vllm teacher
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per engine replica.")
    data_parallel_size: int = Field(
        1, ge=1, description="vllm: engine replicas on this machine (run with --workers >= this).")
    max_model_len: int | None = Field(None, ge=16, description="vllm: context length (prompt + output).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="vllm: share of GPU memory to use.")
    enable_prefix_caching: bool = Field(True, description="vllm: reuse KV cache of shared prompt prefixes.")
    chat_template: str | None = Field(
        None, description="Chat template (Jinja text or a file path) overriding the tokenizer's.")
    dtype: str = Field("auto", description="vllm: weight dtype (auto, bfloat16, float16, float32).")
    quantization: str | None = Field(None, description="vllm: quantization method (awq, gptq, fp8, ...).")
    enforce_eager: bool = Field(False, description="vllm: disable CUDA graphs (needed on CPU).")
    trust_remote_code: bool = Field(False, description="Allow model code from the Hub.")
    cpu_kv_cache_gb: int | None = Field(
        None, ge=1, description="vllm CPU build only: KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE).")
    max_inflight: int = Field(
        2048, ge=1, description="vllm: requests handed to the engine at once and topped up as they "
        "finish; above the engine's max_num_seqs keeps it saturated, and a crash loses at most these.")
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="vllm: further vllm.LLM arguments, passed through.")
    build_tiny_model: bool = Field(
        False, description="vllm: build the tiny random test model at `model` when that folder is absent "
        "(CPU quickstart and tests; its output is noise).")
    tiny_model_seed: int = Field(
        0, description="vllm: seed of the tiny model's random weights when build_tiny_model builds it "
        "(another seed gives another model with the same tokenizer: a CPU teacher for score).")
    # ---- openai teacher
    base_url: str = Field("http://127.0.0.1:8000/v1", description="openai: server URL up to /v1.")
    api_key_env: str | None = Field(
        None, description="openai: NAME of the environment variable holding the API key (the key "
        "itself is never written anywhere).")
    endpoint: Literal["chat", "completions"] = Field(
        "chat", description="openai: /chat/completions (server renders) or /completions (rendered here "
        "with the model's tokenizer; needs `tokenizer`).")
    tokenizer: str | None = Field(
        None, description="Tokenizer path or Hub id for rendering prompts locally (default: model).")
    split_n: bool = Field(
        False, description="openai: send n requests with n=1 instead of one with n (APIs without n).")
    max_concurrency: int = Field(64, ge=1, description="openai: requests in flight at once.")
    max_retries: int = Field(8, ge=0, description="openai: retries on 429, 5xx, timeouts, connection errors.")
    backoff_base: float = Field(1.0, gt=0, description="openai: first retry delay in seconds (doubles).")
    backoff_max: float = Field(60.0, gt=0, description="openai: longest retry delay in seconds.")
    request_timeout: float = Field(600.0, gt=0, description="openai: seconds before a request times out.")
    extra_body: dict[str, Any] = Field(
        default_factory=dict, description="openai: extra JSON fields for every request.")

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters as recorded in the `sampling` column (nulls dropped)."""
        keys = ("n", "max_tokens", "temperature", "top_p", "top_k", "min_p", "seed", "stop",
                "repetition_penalty", "presence_penalty", "frequency_penalty", "logprobs")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
