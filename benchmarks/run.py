"""Benchmark the kit against a plain PyTorch loop and hand-written Trainer code, in one interleaved run.

    python benchmarks/run.py                  # the full benchmark (~34 min on 2 idle CPU cores), docs/benchmarks.md table updated
    python benchmarks/run.py --quick          # a couple of steps on tiny models: checks the machinery (~30 s)
    python benchmarks/run.py --repeats 3 --modalities text --out /tmp/bench

Every configuration ("arm", see ``arms.py``) runs in its own process, forked from a server that has torch and
transformers imported already, so every arm starts from the same state and pays no import time. The arms run
round-robin -- the per-step pairs (recipe vs. hand-written Trainer with the same settings) side by side, repeated
``--repeats`` times -- so machine noise hits all of them alike. Results: ``<out>/benchmark.json``,
``benchmark.md``, ``throughput_memory.png``, ``accuracy_vs_time.png``; the targets print as ratios.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import report  # noqa: E402  (light: no torch)

STRATEGIES = {"text": ["full", "partial", "linear_probe", "bitfit", "lora", "ia3", "adapter"],
              # bottleneck adapters need transformer blocks: the CNN refuses them (docs/tasks.md, Vision)
              "vision": ["full", "partial", "linear_probe", "bitfit", "lora", "ia3"]}
#: Per modality: target validation accuracy, evaluate every N training samples, stop after `cap` samples at the
#: latest, optimizer steps of the per-step runs. Multiples of every batch size in play (8, 16, 32).
SETTINGS = {"text": {"target": 0.95, "eval_every": 160, "cap": 1280, "steps": 20},
            "vision": {"target": 0.95, "eval_every": 320, "cap": 1920, "steps": 20}}
QUICK_SETTINGS = {"text": {"target": 0.5, "eval_every": 32, "cap": 64, "steps": 3},
                  "vision": {"target": 0.5, "eval_every": 32, "cap": 64, "steps": 3}}
#: --quick: full fine-tuning, an adapter and a frozen backbone (linear_probe: the FLOP count of a strategy without
#: a backward pass through the backbone is exercised too).
QUICK_STRATEGIES = {"text": ["full", "lora", "linear_probe"], "vision": ["full"]}
HAND_CAP_FACTOR = 2
#: Speed and memory levers, each measured as a per-step arm beside the recipe's defaults: (strategy, variant label,
#: overrides, what the lever is, whether the shipped defaults use it[, the variant it is compared with instead of the
#: defaults]). A lever the defaults use is measured switched off, so the pair shows what it buys; one they leave off
#: is measured switched on (a trade-off, or a lever that did not pay here).
Lever = tuple  # (strategy, variant, overrides, lever, default_on) or the same + (baseline variant,)
FAST_DROPOUT = "CPU dropout drawing 4 mask elements a draw (model.fast_dropout: true)"
LEVERS: dict[str, list[Lever]] = {
    "text": [("full", "fp32", ["training.bf16=false"], "bf16 autocast (training.bf16: auto)", True),
             ("full", "sdpa attention", ["model.attn_implementation=sdpa"],
              "eager attention for CPU training steps (model.attn_implementation: auto)", True),
             ("full", "torch dropout", ["model.fast_dropout=false"], FAST_DROPOUT, True),
             ("lora", "torch dropout", ["model.fast_dropout=false"], FAST_DROPOUT, True),
             ("full", "fp32, torch dropout", ["training.bf16=false", "model.fast_dropout=false"],
              "CPU dropout drawing 4 mask elements a draw, in fp32 (as on CPUs without native bf16)", True, "fp32"),
             ("full", "foreach AdamW", ["training.optim=adamw_torch"],
              "fused AdamW (training.optim: adamw_torch_fused, transformers' default)", True),
             ("full", "torch.compile", ["training.torch_compile=true"],
              "torch.compile of the model (training.torch_compile: true, inductor, default mode)", False),
             ("ia3", "all blocks adapted", ["strategy.freeze_bottom_layers=0"],
              "freezing-aware IA3 (freeze_bottom_layers: 3)", True),
             ("lora", "checkpointing", ["training.gradient_checkpointing=true"],
              "activation (gradient) checkpointing", False)],
    "vision": [("full", "fp32", ["training.bf16=false"], "bf16 autocast (training.bf16: auto)", True),
               ("lora", "all blocks adapted", ["strategy.freeze_bottom_layers=0"],
                "freezing-aware LoRA (freeze_bottom_layers: 6)", True),
               ("ia3", "all blocks adapted", ["strategy.freeze_bottom_layers=0"],
                "freezing-aware IA3 (freeze_bottom_layers: 6)", True)],
}
#: --quick: a lever against the defaults (bf16) and one against another variant (fast dropout in fp32)
QUICK_LEVERS = {"text": [lever for lever in LEVERS["text"] if lever[1] in ("fp32", "fp32, torch dropout")],
                "vision": []}


def arm_jobs(modality: str, strategies: list[str], settings: dict[str, Any], quick: bool,
             data_overrides: list[str], all_pairs: bool = True) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(time-to-accuracy arms, per-step pairs) for one modality; ``all_pairs=False``: the first strategy's pair only."""
    base = {"modality": modality, "data_overrides": data_overrides, "quick": quick, **settings}
    # the hand-written baselines get twice the kit's sample budget: where they still miss the target, the ratio
    # against their whole training time is a firm upper bound rather than an artefact of stopping them early
    hand = {**base, "cap": HAND_CAP_FACTOR * settings["cap"]}
    tta = [] if quick and modality != "text" else [{**hand, "kind": "loop", "mode": "tta"},
                                                    {**hand, "kind": "trainer_default", "mode": "tta"}]
    if modality == "text":
        tta.append({**hand, "kind": "trainer_default_lora", "mode": "tta", "strategy": "lora"})
    tta += [{**base, "kind": "recipe", "mode": "tta", "strategy": s} for s in strategies]
    pairs = [[{**base, "kind": kind, "mode": "steps", "strategy": s} for kind in ("recipe", "trainer_same")]
             for s in strategies[:None if all_pairs else 1]]
    for strategy, variant, overrides, lever, default_on, *against in (QUICK_LEVERS if quick else LEVERS)[modality]:
        if strategy in strategies:
            pairs.append([{**base, "kind": "recipe", "mode": "steps", "strategy": strategy, "variant": variant,
                           "overrides": overrides, "lever": lever, "lever_default_on": default_on,
                           "lever_against": against[0] if against else None}])
    return tta, pairs


def schedule(tta: list[dict[str, Any]], pairs: list[list[dict[str, Any]]], repeats: int) -> list[dict[str, Any]]:
    """Round-robin: round 1 alternates time-to-accuracy arms with per-step pairs; every round runs every pair,
    its two arms back to back (their order alternating between rounds)."""
    jobs: list[dict[str, Any]] = []
    for round_ in range(repeats):
        ordered = [list(p) if round_ % 2 == 0 else list(reversed(p)) for p in pairs]
        queue = list(tta) if round_ == 0 else []
        while ordered or queue:
            if queue:
                jobs.append({**queue.pop(0), "round": round_})
            if ordered:
                jobs += [{**job, "round": round_} for job in ordered.pop(0)]
    return jobs


def label(job: dict[str, Any]) -> str:
    parts = [job["modality"], job["kind"], job.get("strategy"), job.get("variant"), job.get("mode")]
    return " ".join(str(p) for p in parts if p)


def launch(context: Any, job: dict[str, Any], workdir: Path, timeout: float, target: Any = None) -> dict[str, Any]:
    """Run one job in a fresh process from the fork server (``target(job, result_path)``, by default
    ``arms.run_job``); its JSON result, or an error entry with the tail of its log."""
    from benchmarks import arms

    path = Path(tempfile.mkstemp(suffix=".json", dir=workdir)[1])
    job = {**job, "log": str(path.with_suffix(".log"))}
    process = context.Process(target=target or arms.run_job, args=(job, str(path)))
    process.start()
    process.join(timeout)
    if process.is_alive():
        process.terminate()
        process.join(10)
        return {"job": job, "error": f"timed out after {timeout:.0f} s"}
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        result = {"job": job, "error": f"the process exited with code {process.exitcode} without a result"}
    if "error" in result:
        log = Path(job["log"])
        result["log_tail"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    result["job"].pop("log", None)
    return result


def cli_help_seconds(repeats: int = 3) -> Optional[float]:
    """Median wall time of ``hf-transfer-kit --help`` (the console script; ``python -m`` where it is missing)."""
    script = shutil.which("hf-transfer-kit")
    command = [script, "--help"] if script else [sys.executable, "-m", "hf_transfer_kit", "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, cwd=REPO)
        if done.returncode != 0:
            return None
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a couple of steps on tiny sizes (smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="rounds of the per-step pairs (default 3; quick 1)")
    parser.add_argument("--modalities", nargs="+", choices=list(STRATEGIES), default=list(STRATEGIES))
    parser.add_argument("--strategies", nargs="+", default=None, help="subset of strategies (default: all shipped)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="output directory")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per arm before it is stopped")
    parser.add_argument("--budget", type=float, default=None, help="seconds: start no new arm after this, then "
                        "report what finished (bounded runs, e.g. on a lent GPU)")
    parser.add_argument("--set", dest="overrides", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides for every arm, e.g. model.name_or_path=/models/minilm (a copy of the "
                        "default model elsewhere, as on a lent GPU machine)")
    parser.add_argument("--update-readme", action="store_true", help="write the table into docs/benchmarks.md (the "
                        "full benchmark with the default output directory does this anyway)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    unknown = set(args.strategies or []) - {s for names in STRATEGIES.values() for s in names}
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {STRATEGIES['text']}")
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["benchmarks.arms"])
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hftk-bench-") as tmp:
        workdir = Path(tmp)
        print("[bench] measuring matmul peaks and the machine ...", flush=True)
        peaks = launch(context, {"kind": "peaks", "quick": args.quick}, workdir, args.timeout)
        if "error" in peaks:
            print(peaks["error"], file=sys.stderr)
            return 1
        settings = QUICK_SETTINGS if args.quick else SETTINGS
        tta: list[dict[str, Any]] = []
        pairs: list[list[dict[str, Any]]] = []
        for modality in args.modalities:
            strategies = QUICK_STRATEGIES[modality] if args.quick and not args.strategies else STRATEGIES[modality]
            strategies = [s for s in strategies if args.strategies is None or s in args.strategies]
            overrides: list[str] = list(args.overrides)
            if args.quick and modality == "text":
                tiny = launch(context, {"kind": "tiny_model", "path": str(workdir / "tiny-bert")}, workdir, args.timeout)
                overrides = [f"model.name_or_path={tiny['path']}", "data.max_length=32"]
            if args.quick:
                overrides += ["data.max_train_samples=64", "data.max_eval_samples=32"]
                overrides += ["data.image_size=32"] if modality == "vision" else []
            more_tta, more_pairs = arm_jobs(modality, strategies, settings[modality], args.quick, overrides,
                                            all_pairs=not args.quick or bool(args.strategies))
            tta += more_tta
            pairs += more_pairs
        jobs = schedule(tta, pairs, args.repeats)
        results = []
        for index, job in enumerate(jobs, 1):
            if args.budget and time.perf_counter() - started > args.budget:
                print(f"[bench] --budget {args.budget:.0f} s spent: {len(jobs) - index + 1} jobs skipped, "
                      "reporting what finished", flush=True)
                break
            result = launch(context, job, workdir, args.timeout)
            results.append(result)
            status = "FAILED" if "error" in result else f"{result.get('wall_seconds', 0):.1f} s"
            print(f"[bench] {index}/{len(jobs)} {label(job)} (round {job['round'] + 1}): {status}", flush=True)
            if "error" in result:
                print(result.get("log_tail", ""), result["error"], sep="\n", file=sys.stderr, flush=True)
    run = {"quick": args.quick, "repeats": args.repeats, "settings": {m: settings[m] for m in args.modalities},
           "hand_cap_factor": HAND_CAP_FACTOR,
           "machine": peaks["machine"], "matmul_flops": peaks["matmul_flops"], "matmul_size": peaks["matmul_size"],
           "cli_help_seconds": cli_help_seconds(), "wall_seconds": round(time.perf_counter() - started, 1),
           "skipped_jobs": len(jobs) - len(results), "results": results}
    summary = report.write(run, args.out)
    print(summary)
    readme = args.update_readme or (not args.quick and args.out.resolve() == (REPO / "benchmarks/results").resolve())
    if readme:
        report.update_readme(REPO / "docs" / "benchmarks.md", args.out / "benchmark.md", images="../benchmarks/results/")
    failed = sum("error" in r for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
