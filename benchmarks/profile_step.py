"""Where a CPU training step goes: torch.profiler over the kit's own Trainer steps (MiniLM, full fine-tuning and LoRA).

    python benchmarks/profile_step.py                        # full and LoRA, shipped configs: ~35 s on 2 cores
    python benchmarks/profile_step.py --strategies lora --steps 3 --out /tmp/profile.json

Each strategy is the shipped recipe (``recipes/configs/nlp/minilm_<strategy>.yaml``: batch 16, 128 tokens, the
kit's precision and attention choices) built by the benchmark's own ``arms.recipe_config`` and trained with
``trainer.train()`` -- data loading and collation, forward and backward under the Trainer's autocast, gradient
clipping, the AdamW step, the kit's callbacks: what users run. A TrainerCallback drives the profiler: ``--warmup``
steps unprofiled (timed: the step time without the profiler's cost), one profiler warm-up step, then ``--steps``
profiled steps. Intra-op threads: all usable cores (``--threads``).

Self CPU time is grouped by what the op does (``GROUPS``); a backward op counts where its forward op does (matched by
autograd's sequence number), so a dropout's backward is dropout and a cast's backward is a cast. Attention is the
eager attention's own ops (score scaling, mask, softmax, reshapes) inside ``*SelfAttention`` modules plus fused
``sdpa`` kernels -- its matmuls count as matmuls, its dropout as dropout. "Python / framework overhead" is the step's
wall time minus the time in ops: the Trainer loop, module calls, hooks, the autograd engine.

bf16 autocast runs where the CPU has native bf16 (AMX / AVX512-BF16: ``hardware.bf16_native``, what the kit's
``training.bf16: auto`` asks); elsewhere the kit trains in fp32 and so does this profile, saying so. Writes a table
to the console and ``benchmarks/results/profile_step.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile, record_function, schedule  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from benchmarks import arms, flops  # noqa: E402
from benchmarks.report import _write_atomic  # noqa: E402
from hf_transfer_kit.config import load_config  # noqa: E402
from hf_transfer_kit.dropout import PROFILER_RANGE as DROPOUT_RANGE  # noqa: E402
from hf_transfer_kit.hardware import bf16_native, describe_machine  # noqa: E402

OVERHEAD = "Python / framework overhead"
COLLATION, OPTIMIZER, CLIPPING = "data loading and collation", "optimizer step (AdamW)", "gradient clipping"
CASTS, ATTENTION, OTHER = "dtype casts (autocast, .to)", "attention (softmax, scale, mask, sdpa)", "other tensor ops"
DROPOUT = "dropout / RNG (bernoulli, native_dropout; the kit's CPU dropout)"
#: Group -> aten op names (without ``aten::``); an op belongs to the group of the outermost aten op it runs in.
GROUPS: dict[str, set[str]] = {
    "matmuls (mm / addmm / bmm / linear)": {"linear", "matmul", "mm", "addmm", "bmm", "baddbmm", "addbmm",
                                            "_addmm_activation", "einsum"},
    ATTENTION: {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
                "_scaled_dot_product_flash_attention_for_cpu_backward", "_scaled_dot_product_efficient_attention",
                "softmax", "_softmax", "_safe_softmax", "_softmax_backward_data"},
    DROPOUT: {"dropout", "native_dropout", "native_dropout_backward", "bernoulli", "bernoulli_", "feature_dropout"},
    "layer norm": {"layer_norm", "native_layer_norm", "native_layer_norm_backward"},
    "GELU / activations": {"gelu", "gelu_backward", "relu", "threshold_backward", "tanh", "tanh_backward", "silu",
                           "silu_backward"},
    "embedding": {"embedding", "embedding_backward", "embedding_dense_backward", "index_select"},
    "loss (cross-entropy)": {"cross_entropy_loss", "log_softmax", "_log_softmax", "_log_softmax_backward_data",
                             "nll_loss", "nll_loss_nd", "nll_loss_forward", "nll_loss_backward"},
}
CAST_OPS = {"aten::to", "aten::_to_copy"}
ORDER = [*GROUPS, CASTS, OPTIMIZER, CLIPPING, COLLATION, OTHER, OVERHEAD]
SCOPE = "profile_step::attention"


class StepProfiler(TrainerCallback):
    """Times every step; profiles steps ``warmup + 2 ..`` (after one profiler warm-up step)."""

    def __init__(self, warmup: int, steps: int) -> None:
        self.warmup, self.steps = warmup, steps
        self.profiler = profile(activities=[ProfilerActivity.CPU],
                                schedule=schedule(wait=warmup, warmup=1, active=steps, repeat=1),
                                on_trace_ready=self._ready)
        self.events: Any = None
        self.step_seconds: list[float] = []
        self.mark = 0.0

    def _ready(self, prof: Any) -> None:
        self.events = prof.events()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.profiler.start()
        self.mark = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.perf_counter()
        self.step_seconds.append(now - self.mark)
        self.mark = now
        self.profiler.step()

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.profiler.stop()

    def unprofiled(self) -> float:
        """Median step time before the profiler records anything (the first step, with its warm-up, left out)."""
        return statistics.median(self.step_seconds[1:self.warmup] or self.step_seconds[:1])


def mark_attention(model: torch.nn.Module) -> int:
    """Label every ``*SelfAttention`` module's forward as a profiler range (observation only: nothing else changes)."""
    count = 0
    for module in model.modules():
        if type(module).__name__.endswith("SelfAttention"):
            ranges: list[Any] = []
            module.register_forward_pre_hook(lambda m, a, r=ranges: r.append(record_function(SCOPE).__enter__()))
            module.register_forward_hook(lambda m, a, o, r=ranges: r.pop().__exit__(None, None, None))
            count += 1
    return count


def ancestors(event: Any) -> list[Any]:
    """The event, its parent range or op, and so on up to the profiled step."""
    chain = []
    while event is not None:
        chain.append(event)
        event = event.cpu_parent
    return chain


def _by_name(chain: list[Any]) -> Optional[str]:
    """The group of an op from the outermost aten op it runs in (and whether that runs inside attention)."""
    if any(e.name in CAST_OPS for e in chain):
        return CASTS
    outer = next((e for e in reversed(chain) if e.name.startswith("aten::")), None)
    if outer is None:
        return None
    if any(e.name == DROPOUT_RANGE for e in chain):  # model.fast_dropout: its draw, compare and scale
        return DROPOUT
    name = outer.name[len("aten::"):]
    for group, names in GROUPS.items():
        if name in names:
            return group
    return ATTENTION if any(e.name == SCOPE for e in chain) else OTHER


def classify(event: Any, chain: list[Any], forward: dict[int, str], windows: list[tuple[int, int]]) -> Optional[str]:
    """The group of one event's self time; None for a profiler range's own time outside ops (overhead)."""
    names = [e.name for e in chain]
    if any(n.startswith("enumerate(DataLoader)") for n in names):
        return COLLATION
    if any(n.startswith("Optimizer.") for n in names):
        return OPTIMIZER
    top = chain[-2] if len(chain) > 1 else event  # the step's direct child this event runs in
    if any(start <= top.time_range.start < end for start, end in windows):
        return CLIPPING
    if not event.name.startswith("aten::"):
        return None
    node = next((e for e in chain if e.name.startswith("autograd::engine")), None)
    if node is not None and not any(n in CAST_OPS for n in names):
        return forward.get(node.sequence_nr) or _by_name(chain)  # a backward op: where its forward op counts
    return _by_name(chain)


def attribute(events: Any) -> list[tuple[Any, Optional[str]]]:
    """Every event inside a profiled step with the group its self time counts in (None: overhead)."""
    # autograd sequence number -> the group of the forward op that made the node: ops that make no node carry the
    # number the next node will get, so it is the last outermost op with that number (its own children share it)
    forward: dict[int, str] = {}
    for event in sorted(events, key=lambda e: e.time_range.start):
        chain = ancestors(event)
        parent = event.cpu_parent
        if event.sequence_nr < 0 or (parent is not None and parent.sequence_nr == event.sequence_nr) or \
                any(e.name.startswith("autograd::engine") for e in chain):
            continue
        group = _by_name(chain)
        if group is not None:
            forward[event.sequence_nr] = group
    # gradient clipping runs between the last backward op and the optimizer step, without a profiler range of its own
    windows = []
    for step in (e for e in events if e.name.startswith("ProfilerStep")):
        children = step.cpu_children
        backward_end = max((c.time_range.end for c in children if c.name.startswith("autograd::engine")), default=None)
        step_start = min((c.time_range.start for c in children if c.name.startswith("Optimizer.step")), default=None)
        if backward_end is not None and step_start is not None:
            windows.append((backward_end, step_start))
    out = []
    for event in events:
        chain = ancestors(event)
        if chain[-1].name.startswith("ProfilerStep"):
            out.append((event, classify(event, chain, forward, windows)))
    return out


def breakdown(events: Any) -> dict[str, Any]:
    """Self CPU time per group (ms per step and % of the step), from the profiled steps' event tree; what no op
    accounts for is overhead."""
    steps = [e for e in events if e.name.startswith("ProfilerStep")]
    totals: dict[str, float] = defaultdict(float)
    ops: dict[str, float] = defaultdict(float)
    for event, group in attribute(events):
        if group is not None:
            totals[group] += event.self_cpu_time_total
            ops[event.name] += event.self_cpu_time_total
    wall = sum(s.cpu_time_total for s in steps)
    if not wall:
        raise ValueError("no profiled step in the trace")
    totals[OVERHEAD] = wall - sum(totals.values())
    n = len(steps)
    return {"profiled_steps": n, "step_ms_profiled": wall / n / 1e3,
            "groups": {g: {"ms_per_step": totals.get(g, 0.0) / n / 1e3, "percent": 100 * totals.get(g, 0.0) / wall}
                       for g in ORDER},
            "top_ops": [{"op": op, "ms_per_step": t / n / 1e3, "percent": 100 * t / wall}
                        for op, t in sorted(ops.items(), key=lambda kv: -kv[1])[:15]]}


@contextlib.contextmanager
def quiet(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors: C++ libraries write there too) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)


def profile_strategy(strategy: str, warmup: int, steps: int, precision_overrides: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hftk-profile-") as tmp:
        batch = load_config(arms.config_path("text", strategy)).training["per_device_train_batch_size"]
        total = warmup + 1 + steps
        job = {"modality": "text", "strategy": strategy, "mode": "steps", "steps": total,
               "data_overrides": [f"data.max_train_samples={batch * total}", "data.max_eval_samples=16"],
               "overrides": precision_overrides}
        cfg = arms.recipe_config(job, Path(tmp))
        from transformers.trainer_callback import PrinterCallback

        from hf_transfer_kit.tasks import get_task

        log = Path(tmp) / "log.txt"
        with quiet(log):  # the recipe's line, the profiler's start/stop notes
            recipe = get_task(cfg.task)(cfg).setup()
            recipe.trainer.remove_callback(PrinterCallback)
            scopes = mark_attention(recipe.model)
            probe = StepProfiler(warmup, steps)
            recipe.trainer.add_callback(probe)
            recipe.trainer.train()
        if probe.events is None:
            raise SystemExit(f"{strategy}: the profiler collected nothing\n{log.read_text(errors='replace')[-3000:]}")
        lengths = [len(ids) for ids in recipe.datasets["train"]["input_ids"]]
        tokens = sum(lengths) / len(lengths)
        counted = flops.training_flops(recipe.model, flops.text_layer_flops(recipe.model, tokens))
        args = recipe.trainer.args
        out = breakdown(probe.events)
        out.update(strategy=strategy, batch=args.per_device_train_batch_size, max_length=cfg.data.max_length,
                   mean_tokens=tokens, bf16=bool(args.bf16), attention_scopes=scopes,
                   attn_implementation=cfg.model.attn_implementation, trainable=recipe.parameters.trainable,
                   step_seconds=[round(s, 4) for s in probe.step_seconds], step_ms_unprofiled=1e3 * probe.unprofiled(),
                   flops_per_sample=counted.as_dict())
        return out


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    head = "| where the step goes | " + " | ".join(f"{n} ms | {n} %" for n in names) + " |"
    lines = [head, "|---|" + "---|---|" * len(names)]
    for group in ORDER:
        cells = [f"{r['groups'][group]['ms_per_step']:.1f} | {r['groups'][group]['percent']:.1f} %"
                 for r in results.values()]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    lines.append("| **step (profiled)** | " + " | ".join(f"{r['step_ms_profiled']:.1f} | 100 %"
                                                         for r in results.values()) + " |")
    lines.append("| step without the profiler | " + " | ".join(f"{r['step_ms_unprofiled']:.1f} | "
                                                               for r in results.values()) + " |")
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strategies", nargs="+", default=["full", "lora"], choices=["full", "lora", "partial",
                        "linear_probe", "bitfit", "ia3", "adapter"], help="shipped MiniLM configs to profile")
    parser.add_argument("--warmup", type=int, default=4, help="unprofiled steps first (timed; at least 2)")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="intra-op threads")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "profile_step.json")
    args = parser.parse_args(argv)
    if args.warmup < 2 or args.steps < 1 or args.threads < 1:
        parser.error("--warmup must be at least 2, --steps and --threads at least 1")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    from hf_transfer_kit.console import quiet_libraries

    quiet_libraries()
    torch.set_num_threads(args.threads)
    native = bf16_native()
    machine = describe_machine()
    # where bf16 is emulated the kit's `bf16: auto` trains in fp32; say so rather than profile a slow emulation
    precision = [] if native else ["training.bf16=false"]
    load_before = os.getloadavg()
    started = time.perf_counter()
    results = {s: profile_strategy(s, args.warmup, args.steps, precision) for s in args.strategies}
    peaks = arms.matmul_peaks({"quick": False}, Path(tempfile.gettempdir()))
    for r in results.values():
        peak = peaks["matmul_flops"]["bf16" if r["bf16"] else "fp32"]
        r["mfu"] = r["flops_per_sample"]["total"] * r["batch"] / (r["step_ms_unprofiled"] / 1e3) / peak
    document = {"machine": machine, "cpu": machine["cpu"], "amx_bf16": machine["cpu_flags"].get("amx_bf16"),
                "bf16_native": native, "precision": "bf16 autocast" if native else "fp32 (no native bf16 on this CPU)",
                "threads": args.threads, "warmup_steps": args.warmup, "profiled_steps": args.steps,
                "load_average_before": load_before, "load_average_after": os.getloadavg(),
                "matmul_flops": peaks["matmul_flops"], "wall_seconds": round(time.perf_counter() - started, 1),
                "strategies": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(args.out, json.dumps(document, indent=1, default=str))
    print(table(results))
    mfu = ", ".join(f"{s} {100 * r['mfu']:.1f} %" for s, r in results.items())
    print(f"{machine['cpu']} ({'amx_bf16' if document['amx_bf16'] else 'no amx_bf16'}), {args.threads} threads, "
          f"{document['precision']}; MFU without the profiler (benchmarks/flops.py): {mfu}; load average "
          f"{load_before[0]:.2f} before; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
