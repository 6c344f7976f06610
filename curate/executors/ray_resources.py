"""What one task or engine replica asks of a Ray cluster, from a stage's `resources()`.

A stage describes one part task (or one engine replica) with a plain dict:

- Ray's own keys: `num_cpus`, `num_gpus`, `memory`, `accelerator_type`; any other numeric key is a
  custom resource (`{"num_gpus": 4}` holds a tensor-parallel-4 engine on one node);
- or a placement group, for an engine that spans GPUs the executor does not hand out itself
  (vLLM's Ray backend, pipeline parallel across nodes): `{"bundles": [{"GPU": 1, "CPU": 1}] * 16,
  "strategy": "PACK"}`. The replica's actor then reserves nothing itself, runs in bundle 0 and
  captures its child tasks, so the engine's own Ray workers land in the same group; the group is
  removed when the actor is.

`fit` answers how many replicas the cluster's total resources hold: one per fitting group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RAY_OPTIONS = ("num_cpus", "num_gpus", "memory", "accelerator_type")
STRATEGIES = ("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD")


@dataclass(frozen=True)
class Request:
    """Ray options of one task or actor, and the placement group of one replica (if any)."""

    options: dict[str, Any]
    bundles: tuple[dict[str, float], ...] = ()
    strategy: str = "PACK"
    need: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, resources: dict[str, Any]) -> Request:
        from curate.errors import CurateError

        custom = dict(resources)
        bundles = tuple(dict(b) for b in custom.pop("bundles", None) or ())
        strategy = str(custom.pop("strategy", "PACK")).upper()
        if strategy not in STRATEGIES:
            raise CurateError(f"placement strategy '{strategy}' is not one of {STRATEGIES}",
                              "Fix the stage's resources() 'strategy'.")
        options = {key: custom.pop(key) for key in RAY_OPTIONS if key in custom}
        if bundles:
            need: dict[str, float] = {}
            for bundle in bundles:
                for key, amount in bundle.items():
                    need[key] = need.get(key, 0) + amount
            return cls({"num_cpus": 0}, bundles, strategy, need)
        options.setdefault("num_cpus", 1)
        if custom:
            options["resources"] = custom
        need = {"CPU": options["num_cpus"], "GPU": options.get("num_gpus", 0),
                "memory": options.get("memory", 0), **custom}
        return cls(options, (), strategy, {k: v for k, v in need.items() if v})

    @property
    def gpus(self) -> float:
        return self.need.get("GPU", 0)

    def actor_options(self, ray) -> tuple[dict[str, Any], Any]:
        """Options for one replica's actor, and the placement group it owns (or None)."""
        if not self.bundles:
            return dict(self.options), None
        from ray.util.placement_group import placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        group = placement_group(list(self.bundles), strategy=self.strategy)
        strategy = PlacementGroupSchedulingStrategy(
            placement_group=group, placement_group_bundle_index=0,
            placement_group_capture_child_tasks=True)
        return {**self.options, "scheduling_strategy": strategy}, group


def fit(cluster: dict[str, float], request: Request) -> int | None:
    """How many tasks or replicas the cluster's total resources hold at once (None: no limit)."""
    counts = [int(cluster.get(key, 0) // amount) for key, amount in request.need.items()]
    return min(counts) if counts else None
