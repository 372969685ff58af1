"""Turn the arms' results into ``benchmark.json``, a markdown table, the target ratios and two PNG plots.

Light on purpose (no torch): ``run.py`` imports it in the orchestrating process.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

README_BEGIN, README_END = "<!-- benchmark:begin -->", "<!-- benchmark:end -->"
OVERHEAD_LIMIT = 1.02  # recipe step / hand-written Trainer step with the same settings
TIME_TO_ACCURACY_LIMIT = 0.5  # kit defaults / hand-written default Trainer
ADAPTERS = ("lora", "ia3", "adapter")
CLI_LIMIT_S = 1.0
#: How the MFU columns count (benchmarks/flops.py), printed under every table.
MFU_RULE = ("MFU = training FLOPs/s ÷ the measured matmul peak of the precision the run trained in (bf16 runs: the "
            "bf16 peak; fp32 runs: the fp32 peak), the FLOPs being the work each strategy actually does "
            "(`benchmarks/flops.py`): forward through every matmul layer (linear, convolution, adapter matrices; "
            "2 FLOPs per multiply-add; text at the training examples' mean unpadded length), activation gradients "
            "from the lowest block with a trainable parameter up to the head, weight gradients for trainable matmul "
            "weights only. Full fine-tuning is thus 6 × matmul parameters × tokens, a linear probe ~2 ×, LoRA ~4 ×. "
            "Attention's score matmuls, embedding lookups, normalisation and biases are counted in neither pass.")

NAMES = {"loop": "plain PyTorch loop (full, Trainer defaults)", "trainer_default": "Trainer, default args (full)",
         "trainer_default_lora": "Trainer + PEFT LoRA, default args", "recipe": "kit recipe: {strategy}",
         "trainer_same": "Trainer, recipe's settings: {strategy}"}


def name(result: dict[str, Any]) -> str:
    job = result["job"]
    text = NAMES[job["kind"]].format(strategy=job.get("strategy"))
    return text + (f" + {job['variant']}" if job.get("variant") else "")


def key(job: dict[str, Any]) -> tuple:
    return job["modality"], job["kind"], job.get("strategy"), job.get("variant"), job["mode"]


def _median(values: Iterable[Optional[float]]) -> Optional[float]:
    found = [v for v in values if v is not None]
    return statistics.median(found) if found else None


def aggregate(results: list[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    """One entry per configuration: medians over its rounds (per-step cost, peak memory), the rest from round 1."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if "error" not in result:
            groups[key(result["job"])].append(result)
    out = {}
    for k, runs in groups.items():
        first = dict(runs[0])
        first["rounds"] = len(runs)
        first["median_step_seconds"] = _median(r.get("median_step_seconds") for r in runs)
        first["peak_rss_mb"] = _median(r.get("peak_rss_mb") for r in runs)
        first["cuda_peak_mb"] = _median(r.get("cuda_peak_mb") for r in runs)
        first["first_step_seconds"] = _median(r.get("first_step_seconds") for r in runs)
        step = first["median_step_seconds"]
        first["train_samples_per_s"] = first["batch_size"] / step if step else None
        evals = [s for s in first.get("eval_seconds") or [] if s > 0]
        first["eval_samples_per_s"] = first["eval_examples"] / statistics.median(evals) if evals else None
        out[k] = first
    return out


def mfu(entry: dict[str, Any], peaks: dict[str, float]) -> Optional[float]:
    """Training FLOPs/s over the measured matmul peak of the precision the run trained in (a bf16 run against the
    bf16 peak, an fp32 run against the fp32 one: measured against the other, a bf16 run can pass 100 %)."""
    rate, flops = entry.get("train_samples_per_s"), entry.get("flops_per_sample")
    if not rate or not flops:
        return None
    return rate * flops / peaks["bf16" if entry.get("bf16") else "fp32"]


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


def paired_ratios(results: list[dict[str, Any]], modality: str, strategy: str) -> list[float]:
    """Recipe step / hand-written Trainer step, one ratio per round: the two arms of a pair run back to back, so
    each ratio sees the same machine state; their median is the overhead (slow drift between rounds cancels)."""
    steps: dict[tuple[str, int], float] = {}
    for result in results:
        job = result["job"]
        if "error" not in result and job["mode"] == "steps" and job["modality"] == modality and \
                job.get("strategy") == strategy and not job.get("variant") and result.get("median_step_seconds"):
            steps[job["kind"], job.get("round", 0)] = result["median_step_seconds"]
    return [steps["recipe", r] / steps["trainer_same", r] for kind, r in sorted(steps)
            if kind == "recipe" and ("trainer_same", r) in steps]


def targets(entries: dict[tuple, dict[str, Any]], run: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each a ratio measured in this run, with the limit it is held to."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: Optional[float], limit: Optional[float], detail: str, lower_is_better: bool = True,
            extra_ok: bool = True, upper_bound: bool = False) -> None:
        passed = None if value is None or limit is None else ((value <= limit) if lower_is_better else
                                                                (value >= limit)) and extra_ok
        if upper_bound and passed is False and extra_ok:
            passed = None  # the true ratio is below an upper bound that is above the limit: not decided either way
        out.append({"target": name, "ratio": value, "limit": limit, "passed": passed, "detail": detail,
                    "upper_bound": upper_bound})

    modalities = sorted({k[0] for k in entries})
    for modality in modalities:
        get = lambda kind, strategy=None, mode="tta", variant=None: entries.get(  # noqa: E731
            (modality, kind, strategy, variant, mode))
        for strategy in sorted({k[2] for k in entries if k[0] == modality and k[1] == "trainer_same"}):
            kit, hand = get("recipe", strategy, "steps"), get("trainer_same", strategy, "steps")
            ratios = paired_ratios(run["results"], modality, strategy)
            if kit and hand and ratios:
                same = kit["trainable"] == hand["trainable"]
                add(f"{modality} per-step overhead, {strategy}: recipe / hand-written Trainer (same settings)",
                    statistics.median(ratios), OVERHEAD_LIMIT,
                    f"median of {len(ratios)} back-to-back pairs (per pair: "
                    f"{', '.join(f'{r:.3f}' for r in ratios)}); {kit['median_step_seconds']:.4f} s vs "
                    f"{hand['median_step_seconds']:.4f} s per step over the rounds; trainable parameters "
                    f"{'equal' if same else 'DIFFER'}", extra_ok=same)
        for kit_kind, hand_kind in (("full", "trainer_default"), ("lora", "trainer_default_lora")):
            kit, hand = get("recipe", kit_kind), get(hand_kind, "lora" if kit_kind == "lora" else None)
            if not (kit and hand):
                continue
            value, bound = None, ""
            if kit.get("reached") and hand.get("reached"):
                value = _ratio(kit["reached"]["seconds"], hand["reached"]["seconds"])
            elif kit.get("reached"):  # the hand-written run trained longer without getting there: an upper bound
                value = _ratio(kit["reached"]["seconds"], hand.get("train_seconds"))
                bound = (f" (an upper bound: the hand-written run did not reach it in {hand.get('train_seconds', 0):.1f} s"
                         f" / {hand['steps']} steps)")
            better = kit.get("test_accuracy", 0) >= hand.get("test_accuracy", 0)
            detail = (f"{_seconds(kit)} vs {_seconds(hand)} of training to {run['settings'][modality]['target']:.0%} "
                      f"validation accuracy{bound}; test accuracy when stopped {kit.get('test_accuracy', 0):.4f} vs "
                      f"{hand.get('test_accuracy', 0):.4f}")
            add(f"{modality} time to target accuracy, {kit_kind}: kit defaults / hand-written default Trainer",
                value, TIME_TO_ACCURACY_LIMIT, detail, extra_ok=better, upper_bound=bool(bound))
        full, partial = get("recipe", "full"), get("recipe", "partial")
        if full and partial and partial.get("layers"):
            layers = partial["layers"]
            skipped = layers["layers"] - len(layers["backward_through"])
            add(f"{modality} partial: step time / full fine-tuning step time",
                _ratio(partial["median_step_seconds"], full["median_step_seconds"]), 1.0,
                f"backward runs through {len(layers['backward_through'])} of {layers['layers']} blocks "
                f"({skipped} frozen bottom blocks skipped: their outputs need no gradient)", extra_ok=skipped > 0)
        full_steps = get("recipe", "full", "steps")
        for strategy in ADAPTERS:
            entry = get("recipe", strategy, "steps")
            if entry and full_steps:
                add(f"{modality} peak memory, {strategy} / full (training)",
                    _ratio(entry["peak_rss_mb"], full_steps["peak_rss_mb"]), 0.9,
                    f"peak RSS {entry['peak_rss_mb']:.0f} MB vs {full_steps['peak_rss_mb']:.0f} MB"
                    + (f"; GPU {entry['cuda_peak_mb']:.0f} vs {full_steps['cuda_peak_mb']:.0f} MB"
                       if entry.get("cuda_peak_mb") else ""))
        for k, variant in entries.items():
            if k[0] != modality or k[3] is None or k[4] != "steps" or "lever" not in variant["job"]:
                continue
            against = variant["job"].get("lever_against")  # compared with another variant (e.g. fp32) if named
            default = get("recipe", k[2], "steps", against)
            if not default:
                continue
            on, off = (default, variant) if variant["job"]["lever_default_on"] else (variant, default)
            label = "a default" if variant["job"]["lever_default_on"] else "a trade-off, not a default"
            first = (f"; first step {on['first_step_seconds']:.1f} s vs {off['first_step_seconds']:.1f} s"
                     if on.get("first_step_seconds") and off.get("first_step_seconds") else "")
            add(f"{modality} {k[2]}{f' ({against})' if against else ''}, what {variant['job']['lever']} buys: "
                "step time off / on", _ratio(off["median_step_seconds"], on["median_step_seconds"]), None,
                f"{on['median_step_seconds']:.4f} s per step with it, {off['median_step_seconds']:.4f} s without; "
                f"peak RSS {on['peak_rss_mb']:.0f} MB vs {off['peak_rss_mb']:.0f} MB "
                f"(x{_ratio(on['peak_rss_mb'], off['peak_rss_mb']) or 0:.2f}){first}; {label}")
    add("`hf-transfer-kit --help` wall time (s)", run.get("cli_help_seconds"), CLI_LIMIT_S, "median of 3 runs")
    return out


def _seconds(entry: dict[str, Any]) -> str:
    reached = entry.get("reached")
    return f"{reached['seconds']:.1f} s" if reached else "not reached"


def _fmt(value: Any, pattern: str = "{:.1f}") -> str:
    return "–" if value is None else pattern.format(value)


def table(entries: dict[tuple, dict[str, Any]], modality: str, peaks: dict[str, float], gpu: bool) -> str:
    rows = [e for k, e in entries.items() if k[0] == modality and k[4] == "tta"]
    head = ["configuration", "precision", "batch", "LR", "trainable %", "train samples/s", "eval samples/s",
            "peak RSS MB", *(["GPU peak MB"] if gpu else []), "MFU",
            "steps to target", "time to target", "test acc. at stop"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in rows:
        use = mfu(e, peaks)
        reached = e.get("reached")
        cells = [name(e), "bf16" if e.get("bf16") else "fp32", str(e.get("batch_size")), f"{e.get('learning_rate'):g}",
                 _fmt(e.get("trainable_percent"), "{:.3g}"), _fmt(e.get("train_samples_per_s")),
                 _fmt(e.get("eval_samples_per_s")), _fmt(e.get("peak_rss_mb"), "{:.0f}"),
                 *([_fmt(e.get("cuda_peak_mb"), "{:.0f}")] if gpu else []),
                 _fmt(use and 100 * use, "{:.1f} %"),
                 str(reached["step"]) if reached else f"> {e.get('steps')}",
                 f"{reached['seconds']:.1f} s" if reached else "not reached", _fmt(e.get("test_accuracy"), "{:.4f}")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overhead_table(entries: dict[tuple, dict[str, Any]], modality: str) -> str:
    lines = ["| strategy | recipe s/step | hand-written Trainer s/step | ratio | recipe peak RSS MB | rounds |",
             "|---|---|---|---|---|---|"]
    for k, kit in entries.items():
        if k[0] != modality or k[1] != "recipe" or k[4] != "steps":
            continue
        hand = entries.get((modality, "trainer_same", k[2], k[3], "steps"))
        strategy = k[2] + (f" + {k[3]}" if k[3] else "")
        lines.append(f"| {strategy} | {_fmt(kit['median_step_seconds'], '{:.4f}')} | "
                     f"{_fmt(hand and hand['median_step_seconds'], '{:.4f}')} | "
                     f"{_fmt(hand and _ratio(kit['median_step_seconds'], hand['median_step_seconds']), '{:.3f}')} | "
                     f"{_fmt(kit['peak_rss_mb'], '{:.0f}')} | {kit['rounds']} |")
    return "\n".join(lines)


def machine_line(run: dict[str, Any]) -> str:
    m = run["machine"]
    flags = ", ".join(f for f, on in m["cpu_flags"].items() if on) or "none of AVX2 / AVX-512 / AMX"
    gpu = f"; GPU {m['gpu']['name']} ({m['gpu']['memory_gb']} GB, CUDA {m['gpu']['cuda']})" if m.get("gpu") else ""
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    peaks = run["matmul_flops"]
    return (f"{m['cpu']}, {m['usable_cpus']} usable of {m['logical_cpus']} logical CPUs, {m['torch_threads']} torch "
            f"threads; flags: {flags}{gpu}. Measured matmul peaks ({run['matmul_size']}²): fp32 "
            f"{peaks['fp32'] / 1e9:,.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:,.0f} GFLOP/s. Python {m['python']}; "
            f"{versions}.")


def markdown(run: dict[str, Any], entries: dict[tuple, dict[str, Any]], checks: list[dict[str, Any]],
             images: str = "") -> str:
    gpu = bool(run["machine"].get("gpu"))
    parts = [f"Machine: {machine_line(run)}", ""]
    for modality, settings in run["settings"].items():
        if not any(k[0] == modality for k in entries):
            continue
        parts += [f"**{modality}** (target {settings['target']:.0%} validation accuracy, evaluated every "
                  f"{settings['eval_every']} training samples, at most {settings['cap']} (the hand-written baselines at most "
                  f"{run.get('hand_cap_factor', 1) * settings['cap']}); evaluation time not counted):",
                  "", table(entries, modality, run["matmul_flops"], gpu), "",
                  f"Per-step cost, {settings['steps']} steps without evaluation, median of the rounds:", "",
                  overhead_table(entries, modality), ""]
    parts += ["Targets (ratios measured in this run):", ""]
    for check in checks:
        mark = {True: "PASS", False: "MISS", None: "undecided" if check.get("upper_bound") else "info"}[check["passed"]]
        limit = f" (limit {check['limit']:g})" if check["limit"] is not None else ""
        parts.append(f"- **{mark}** {check['target']}: {_fmt(check['ratio'], '{:.3f}')}{limit} — {check['detail']}")
    parts += ["", MFU_RULE, "",
              f"![throughput and memory]({images}throughput_memory.png) ![accuracy vs time]({images}accuracy_vs_time.png)"]
    return "\n".join(parts) + "\n"


def plots(entries: dict[tuple, dict[str, Any]], run: dict[str, Any], out: Path) -> list[Path]:
    """Throughput and peak memory per configuration; validation accuracy against training time."""
    from hf_transfer_kit.plots import new_figure, save_png  # the shared Agg-canvas helpers (no pyplot state)

    modalities = [m for m in run["settings"] if any(k[0] == m and k[4] == "tta" for k in entries)]
    written = []
    fig = new_figure(13, 3.2 + 3.2 * len(modalities))
    if fig is None or not modalities:
        return written
    axes = fig.subplots(len(modalities), 2, squeeze=False)
    for row, modality in enumerate(modalities):
        rows = [e for k, e in entries.items() if k[0] == modality and k[4] == "tta"]
        labels = [name(e) for e in rows]
        for ax, field, title in ((axes[row][0], "train_samples_per_s", "training samples/s"),
                                 (axes[row][1], "peak_rss_mb", "peak RSS (MB)")):
            values = [e.get(field) or 0 for e in rows]
            ax.barh(labels, values, color=[f"C{i % 10}" for i in range(len(rows))])
            ax.invert_yaxis()
            ax.set_title(f"{modality}: {title}")
            ax.tick_params(axis="y", labelsize=7)
            ax.grid(axis="x", alpha=0.3)
    written.append(save_png(fig, out / "throughput_memory.png"))

    fig = new_figure(6.5 * len(modalities), 4.4)
    axes = fig.subplots(1, len(modalities), squeeze=False)[0]
    for ax, modality in zip(axes, modalities):
        for i, e in enumerate(e for k, e in entries.items() if k[0] == modality and k[4] == "tta"):
            curve = e.get("curve") or []
            ax.plot([p["seconds"] for p in curve], [p["accuracy"] for p in curve], marker="o", markersize=3,
                    color=f"C{i % 10}", label=name(e))
        ax.axhline(run["settings"][modality]["target"], color="grey", linestyle="--", linewidth=1, label="target")
        ax.set_xlabel("training time (s, evaluation excluded)")
        ax.set_ylabel("validation accuracy")
        ax.set_title(modality)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    written.append(save_png(fig, out / "accuracy_vs_time.png"))
    return written


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)  # mkstemp writes 0600: give it what a plain open() would
    os.replace(tmp, path)


def write(run: dict[str, Any], out: Path) -> str:
    """Write benchmark.json, benchmark.md and the plots into ``out``; return the text to print."""
    entries = aggregate(run["results"])
    checks = targets(entries, run)
    summary = {key_: {k: v for k, v in e.items() if k not in ("step_times",)} for key_, e in entries.items()}
    document = {**{k: v for k, v in run.items() if k != "results"}, "targets": checks,
                "configurations": [{"name": name(e), **e} for e in summary.values()], "runs": run["results"]}
    out.mkdir(parents=True, exist_ok=True)
    _write_atomic(out / "benchmark.json", json.dumps(document, indent=1, default=str))
    text = markdown(run, entries, checks)
    _write_atomic(out / "benchmark.md", text)
    plots(entries, run, out)
    return text


def update_readme(readme: Path, table_md: Path, images: str = "benchmarks/results/") -> None:
    """Replace the text between the README's benchmark markers with the latest table."""
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"{readme} has no {README_BEGIN} ... {README_END} markers")
    body = table_md.read_text(encoding="utf-8").replace("](throughput_memory.png)", f"]({images}throughput_memory.png)")
    body = body.replace("](accuracy_vs_time.png)", f"]({images}accuracy_vs_time.png)")
    head, _, rest = text.partition(README_BEGIN)
    _, _, tail = rest.partition(README_END)
    _write_atomic(readme, f"{head}{README_BEGIN}\n{body}{README_END}{tail}")
