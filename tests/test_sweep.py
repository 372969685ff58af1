"""``hf-transfer-kit sweep``: the search space checked before training, a sweep's reports and best.yaml, a study that
continues (a dead worker's trial failed and run again), pruning of a clearly bad trial, and two worker processes
sharing one SQLite study. Trials train the tiny random BERT on keyword data for 16 steps."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import optuna
import pytest
import yaml

from hf_transfer_kit import outputs
from hf_transfer_kit.cli import main
from hf_transfer_kit.config import load_config
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.sweep import (check_options, importances, open_study, parse_distribution, plan_sweep, run_sweep,
                                   write_reports)
from test_learning_curve import keyword_dataset

ROOT = Path(__file__).parent.parent
CHANCE = 1 / 3  # three balanced classes


@pytest.fixture(scope="module")
def recipe(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    """A full fine-tune of the tiny BERT for 16 steps, evaluated on the validation file every 4 steps."""
    tmp = tmp_path_factory.mktemp("sweep-data")
    for name, n, seed in (("train", 96, 0), ("validation", 30, 1), ("test", 12, 2)):
        keyword_dataset(n, seed=seed).to_json(str(tmp / f"{name}.jsonl"))
    config = {"task": "text-classification", "output_dir": str(tmp / "final"),
              "model": {"name_or_path": tiny_model_dir},
              "data": {"dataset": None, "train_file": str(tmp / "train.jsonl"),
                       "validation_file": str(tmp / "validation.jsonl"), "test_file": str(tmp / "test.jsonl"),
                       "max_length": 16},
              "strategy": {"name": "full"},
              "training": {"max_steps": 16, "per_device_train_batch_size": 8, "learning_rate": 2e-2, "logging_steps": 4,
                           "eval_strategy": "steps", "eval_steps": 4, "save_strategy": "no", "bf16": False}}
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _cli(*args: object) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["sweep", *map(str, args)])
    return code, out.getvalue(), err.getvalue()


def _study(directory: Path, name: str = "final") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{directory.resolve() / 'study.db'}")


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name.lower() for t in sorted(study.trials, key=lambda t: t.number)]


def test_search_space_and_fields_are_checked_before_any_training(recipe: Path, tmp_path: Path) -> None:
    dist = parse_distribution("training.learning_rate", "loguniform(1e-5,1e-2)")
    assert (dist.kind, dist.args) == ("loguniform", (1e-5, 1e-2))
    assert parse_distribution("strategy.r", "choice(4,8,16)").args == (4, 8, 16)
    modules = parse_distribution("strategy.target_modules", "choice([query,value],all-linear)")
    assert modules.encoded and modules.decode(modules.choices()[0]) == ["query", "value"]
    assert parse_distribution("training.learning_rate", "3e-4") is None  # a plain value: a fixed override

    study_dir = tmp_path / "study"
    bad = {  # override -> (the parameter blamed, words of the fix)
        "training.learning_rate=loguniform(0,1e-2)": ("training.learning_rate", "0 < low < high"),
        "training.learning_rate=loguniform(1e-2,1e-5)": ("training.learning_rate", "must be below high"),
        "training.learning_rate=lognormal(1e-5,1e-2)": ("training.learning_rate", "Did you mean 'loguniform'"),
        "training.learning_rate=uniform(1e-5)": ("training.learning_rate", "two numbers"),
        "training.learnin_rate=loguniform(1e-5,1e-2)": ("training.learnin_rate", "Did you mean 'learning_rate'"),
        "trainin.learning_rate=loguniform(1e-5,1e-2)": ("trainin.learning_rate", "unknown top-level key"),
        "training.per_device_train_batch_size=int(0,8)": ("training.per_device_train_batch_size", "positive whole"),
        "training.warmup_steps=int(1.5,3)": ("training.warmup_steps", "whole numbers"),
        "strategy.r=choice(4)": ("strategy.r", "at least two values"),
        "strategy.r=choice(4,4)": ("strategy.r", "listed twice"),
        "training.seed=int(1,5)": ("training.seed", "same seeded splits"),
        "data.validation_size=uniform(0.1,0.3)": ("data.validation_size", "same splits"),
        "strategy.name=choice(full,lorra)": ("strategy.name", "Did you mean 'lora'"),
    }
    for override, (param, words) in bad.items():
        with pytest.raises(ConfigError) as err:
            plan_sweep(recipe, [override], study_dir)
        assert err.value.param == param and words in str(err.value), (override, str(err.value))
    lora = ["strategy.name=lora"]
    with pytest.raises(ConfigError) as err:  # the upper end of the range fails LoRA's own check
        plan_sweep(recipe, [*lora, "strategy.lora_dropout=uniform(0,1.5)"], study_dir)
    assert err.value.param == "strategy.lora_dropout" and "1.5" in str(err.value) and "[0, 1)" in str(err.value)
    with pytest.raises(ConfigError) as err:  # a strategy field none of the searched strategies has
        plan_sweep(recipe, ["strategy.name=choice(full,bitfit)", "strategy.r=choice(4,8)"], study_dir)
    assert err.value.param == "strategy.r" and "none of the strategies searched" in str(err.value)
    with pytest.raises(ConfigError) as err:
        plan_sweep(recipe, ["training.learning_rate=1e-3", "training.learning_rate=loguniform(1e-5,1e-2)"], study_dir)
    assert "also fixed" in str(err.value)
    with pytest.raises(ConfigError, match="at least one field to search"):
        plan_sweep(recipe, ["training.learning_rate=1e-3"], study_dir)
    with pytest.raises(ConfigError, match="give a database URL"):
        plan_sweep(recipe, ["training.learning_rate=loguniform(1e-5,1e-2)"], study_dir, storage="study.db")
    unreachable = plan_sweep(recipe, ["training.learning_rate=loguniform(1e-5,1e-2)"], study_dir,
                             storage="postgresql://user:secret@127.0.0.1:1/optuna")
    with pytest.raises(ConfigError) as err:  # no driver, or no server: refused, the password not shown
        open_study(unreachable)
    assert err.value.param == "--storage" and "secret" not in str(err.value) and "user:***@" in str(err.value)
    for trials in (0, -2, True):
        with pytest.raises(ConfigError) as err:
            check_options(trials)
        assert err.value.param == "--trials"
    assert not study_dir.exists()  # nothing written by a refused sweep

    # strategy.name switches the whole section (a PEFT method name selects `peft`); r applies where the strategy has it
    shipped = ROOT / "recipes/configs/nlp/minilm_lora.yaml"  # its strategy section has LoRA's r, alpha, dropout
    plan = plan_sweep(shipped, ["strategy.r=choice(2,4)", "strategy.name=choice(lora,ia3,full)"], study_dir)
    r = next(d for d in plan.space if d.key == "strategy.r")
    assert [plan.applicable({"strategy.name": n}, r) for n in ("lora", "ia3", "full")] == [True, False, False]
    assert plan.config_for({"strategy.name": "ia3"}).strategy.method == "ia3"
    assert plan.config_for({"strategy.name": "full"}).strategy.name == "full"
    lora_config = plan.config_for({"strategy.name": "lora", "strategy.r": 2}).strategy
    assert lora_config.options["r"] == 2 and lora_config.options["lora_alpha"] == 16  # the rest of the YAML's LoRA

    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError) as err:
        plan_sweep(recipe, ["training.learning_rate=loguniform(1e-5,1e-2)"], user_dir)
    assert err.value.param == "--study-dir" and "notes.txt" in str(err.value)


def test_a_sweep_writes_its_reports_and_best_config_and_a_rerun_continues(recipe: Path, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    space = ["training.learning_rate=loguniform(8e-3,3e-2)", "training.warmup_steps=int(0,4)"]
    code, out, err = _cli(recipe, *space, "--trials", 3, "--study-dir", study_dir)
    assert code == 0, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("[sweep] trial")]
    assert [line.split(":")[0] for line in lines] == [f"[sweep] trial {n}" for n in range(3)], err
    assert all("training.learning_rate=" in line and "validation accuracy" in line for line in lines)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["trials"] == {"complete": 3}

    study = _study(study_dir)
    best = max(study.trials, key=lambda t: t.value)
    assert summary["best"]["number"] == best.number and summary["best"]["value"] == best.value
    assert best.value >= CHANCE + 0.3, [t.value for t in study.trials]  # the best trial learned the keywords
    # the objective is the trial's validation accuracy, as its run recorded it; the test split was never scored
    run = study_dir / "trials" / str(best.number)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] == best.value and metrics["test"] == {}
    assert metrics["sweep"]["params"] == best.params and metrics["baselines"] == {}
    history = json.loads((run / "log_history.json").read_text())
    assert not any(key.startswith("test_") for entry in history for key in entry)
    assert "Evaluated on the `validation` split (30 examples)" in (run / "README.md").read_text()

    # best.yaml: the full config with the best parameters, loadable as a recipe (the base's own output_dir)
    text = (study_dir / "best.yaml").read_text()
    assert float(re.search(r"validation accuracy ([0-9.e-]+)", text).group(1)) == best.value
    config = load_config(study_dir / "best.yaml")
    assert config.training["learning_rate"] == best.params["training.learning_rate"]
    assert config.training["warmup_steps"] == best.params["training.warmup_steps"]
    assert config.output_dir == str(recipe.parent / "final") and config.baselines is True

    with open(study_dir / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["number"], r["state"]) for r in rows] == [("0", "complete"), ("1", "complete"), ("2", "complete")]
    assert [float(r["value"]) for r in rows] == [t.value for t in sorted(study.trials, key=lambda t: t.number)]
    assert f"| **{best.number}** (best) |" in (study_dir / "trials.md").read_text()
    assert (study_dir / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A worker killed mid-trial leaves a running trial and a staging directory with a checkpoint: the rerun marks it
    # failed, runs its parameters again, and does not count it towards the total.
    first = {t.number: (t.value, t.datetime_start) for t in study.trials}
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True).stdout)
    plan = plan_sweep(recipe, space, study_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna: heartbeats are meant for Study.optimize, as the sweep runs trials
        killed = open_study(plan).ask()
    params = {d.key: d.suggest(killed) for d in plan.space}
    killed.set_user_attr("worker", f"{socket.gethostname()}:{dead_pid}")
    staging = outputs.begin(plan.trial_dir(killed.number))
    (staging / "checkpoint-4").mkdir()
    (staging / "checkpoint-4" / "trainer_state.json").write_text("{}")

    code, out, err = _cli(recipe, *space, "--trials", 4, "--study-dir", study_dir)
    assert code == 0, err[-3000:]
    study = _study(study_dir)
    assert _states(study) == ["complete"] * 3 + ["fail", "complete"]
    assert study.trials[4].params == params  # the dead trial's parameters, run again
    assert {t.number: (t.value, t.datetime_start) for t in study.trials[:3]} == first  # continued, not restarted
    assert not staging.exists()
    assert len([line for line in err.splitlines() if line.startswith("[sweep] trial")]) == 1

    code, out, err = _cli(recipe, *space, "--trials", 4, "--study-dir", study_dir)  # complete: nothing to run
    assert code == 0 and "[sweep] trial" not in err and "0 run now" in err
    code, out, err = _cli(recipe, "training.learning_rate=loguniform(1e-3,3e-2)", "--trials", 5, "--study-dir",
                          study_dir)
    assert code == 2 and "searches another space" in err


def test_pruning_stops_a_trial_with_a_clearly_bad_learning_rate(recipe: Path, tmp_path: Path) -> None:
    """1e-6 never moves the validation loss; 2e-2 has it well below after 8 steps. The sampler's seed (2) draws good,
    bad, good: once the first good trial completed, the median pruner stops the bad one at its second evaluation (at
    step 4 it is no worse than the good one, at step 8 it is), and lets the second good one finish."""
    plan = plan_sweep(recipe, ["training.learning_rate=choice(2e-2,1e-6)", "training.metric_for_best_model=loss"],
                      tmp_path / "study", seed=2)
    assert (plan.metric, plan.direction) == ("loss", "minimize")
    lines: list[str] = []
    result = run_sweep(plan, 3, pruner="median", pruner_startup_trials=1, keep="best", echo=lines.append)
    study = _study(tmp_path / "study")
    trials = sorted(study.trials, key=lambda t: t.number)
    rate = {t.number: t.params["training.learning_rate"] for t in trials}
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and all(rate[t.number] == 1e-6 for t in pruned), [(rate[t.number], t.state) for t in trials]
    assert all(max(t.intermediate_values) == 8 for t in pruned)  # stopped halfway through its 16 steps
    good = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and rate[t.number] == 2e-2]
    assert good and all(t.value < min(p.intermediate_values[8] for p in pruned) for t in good)
    assert result.counts.get("pruned") == len(pruned) and sum(result.counts.values()) == 3
    assert any("pruned at step 8" in line for line in lines)
    for trial in pruned:  # nothing of a pruned trial is left behind
        out = plan.trial_dir(trial.number)
        assert not out.exists() and not outputs.staging_dir(out).exists()
    kept = sorted(p.name for p in (plan.study_dir / "trials").iterdir())
    assert kept == [str(result.best["number"])] and result.best["value"] == min(t.value for t in good)  # keep="best"


def test_two_worker_processes_share_one_sqlite_study(recipe: Path, tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    """--n-jobs 2 starts two `hf-transfer-kit sweep` processes on the study's SQLite file; together they run exactly
    the requested total, each some of it."""
    study_dir = tmp_path / "study"
    code, out, _ = _cli(recipe, "training.learning_rate=loguniform(8e-3,3e-2)", "--trials", 4, "--study-dir", study_dir,
                        "--n-jobs", 2, "--pruner", "none")
    workers_err = capfd.readouterr().err  # the worker processes write to the inherited standard error
    assert code == 0, workers_err[-3000:]
    study = _study(study_dir)
    counted = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(counted) == 4 and len([t for t in study.trials if not t.user_attrs.get("surplus")]) == 4
    workers = {t.user_attrs["worker"] for t in counted}
    assert len(workers) == 2 and f"{socket.gethostname()}:{os.getpid()}" not in workers, workers
    assert len([line for line in workers_err.splitlines() if line.startswith("[sweep] trial")]) == 4
    assert json.loads(out.strip().splitlines()[-1])["trials"] == {"complete": 4}
    assert len((study_dir / "trials.csv").read_text().strip().splitlines()) == 1 + 4


def test_the_plot_shows_parameter_importance_for_two_parameters(recipe: Path, tmp_path: Path) -> None:
    """fANOVA importances over completed trials (real Optuna trials, no training): the learning rate decides the
    score here, the warmup does not."""
    plan = plan_sweep(recipe, ["training.learning_rate=loguniform(1e-4,1e-1)", "training.warmup_steps=int(0,8)"],
                      tmp_path / "study")
    study = optuna.create_study(direction="maximize")
    distributions = {d.key: (optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True) if d.kind == "loguniform"
                             else optuna.distributions.IntDistribution(0, 8)) for d in plan.space}
    for i in range(8):
        lr, warmup = 10 ** (-4 + 3 * i / 7), (5 * i) % 9
        params = {"training.learning_rate": lr, "training.warmup_steps": warmup}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=1 - abs(lr - 1e-2)))
    ranked = importances(study, plan)
    assert set(ranked) == {"training.learning_rate", "training.warmup_steps"}
    assert ranked["training.learning_rate"] > ranked["training.warmup_steps"]
    plan.study_dir.mkdir()
    files = write_reports(study, plan)
    from PIL import Image

    assert Image.open(files["plot"]).size[0] > Image.open(files["plot"]).size[1] * 2  # two panels side by side
