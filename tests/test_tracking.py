"""Experiment tracking (issue 20, item 2): ``training.report_to`` tensorboard / trackio, offline.

Each run is read back through the tracker's own reader -- TensorBoard's ``EventAccumulator``, trackio's
``SQLiteStorage`` -- and compared with what the run itself recorded (``log_history``, metrics.json, the parameter
report), so a dropped, shifted or misnamed scalar fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.config import config_from_dict
from hf_transfer_kit.errors import ConfigError

ROOT = Path(__file__).parent.parent
STEPS = 4


def read_tensorboard(logdir: Path) -> dict:
    """Scalars ({tag: [(step, value)]}), the kit's text table and its HParams session, as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    text = acc.Tensors("hf_transfer_kit/text_summary")[0].tensor_proto.string_val[0].decode()
    start = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]).session_start_info
    hparams = {key: value.string_value or value.number_value for key, value in start.hparams.items()}
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        acc.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    return {"scalars": scalars, "text": text, "hparams": hparams,
            "metrics": [m.name.tag for m in experiment.metric_infos]}


@pytest.mark.parametrize("strategy", [{"name": "lora", "r": 4}, {"name": "linear_probe"}], ids=["lora", "probe"])
def test_tensorboard_logs_land_in_the_committed_output(tmp_path: Path, tiny_model_dir: str, strategy: dict,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the integration's own default would be ./runs of the working directory
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    cfg = tiny_config(tmp_path, tiny_model_dir, strategy, max_steps=STEPS, report_to="tensorboard")
    result = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48),
                                      test_dataset=toy_dataset(12, seed=1)).run()

    out = result.output_dir
    assert not (tmp_path / ".out.partial").exists() and not (tmp_path / "runs").exists()
    assert sorted(p.name for p in (out / "runs").iterdir() if p.is_dir()) == []  # one run: no dated sub-folders
    board = read_tensorboard(out / "runs")
    logged = [(e["step"], e["loss"]) for e in result.log_history if "loss" in e]
    steps, losses = zip(*board["scalars"]["train/loss"])
    assert list(steps) == [step for step, _ in logged] == list(range(1, STEPS + 1))
    assert list(losses) == pytest.approx([loss for _, loss in logged], rel=1e-6)
    test = result.metrics["test"]
    for name in ("accuracy", "f1"):
        [(step, value)] = board["scalars"][f"test/{name}"]
        assert step == STEPS and value == pytest.approx(test[name], rel=1e-6)

    share = round(result.parameters.percent, 4)
    assert board["hparams"]["hf_transfer_kit/strategy"] == strategy["name"]
    assert board["hparams"]["hf_transfer_kit/trainable_percent"] == pytest.approx(share)
    assert board["hparams"]["hf_transfer_kit/trainable_params"] == result.parameters.trainable
    assert board["hparams"]["hf_transfer_kit/total_params"] == result.parameters.total
    assert board["hparams"]["hf_transfer_kit/task"] == "text-classification"
    assert 0 < share < 100 and set(board["metrics"]) >= {"test/accuracy", "test/f1"}
    assert f"| strategy | {strategy['name']} |" in board["text"] and f"| trainable_percent | {share} |" in board["text"]


def cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    """The real command line, with an audit hook that reports every network look-up or connection it attempts."""
    guard = ("import sys\n"
             "def audit(event, args):\n"
             "    if event in ('socket.getaddrinfo', 'socket.connect'):\n"
             "        sys.stderr.write(f'NETWORK {event} {args!r}\\n')\n"
             "sys.addaudithook(audit)\n"
             "from hf_transfer_kit.cli import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", guard, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:{proc.stdout[-2000:]}\nstderr:{proc.stderr[-3000:]}"
    return proc


def read_trackio(project: str, env: dict) -> dict:
    """The project's runs, configs and logs through trackio's own local storage (TRACKIO_DIR is read at import)."""
    code = ("import json, sys\n"
            "from trackio.sqlite_storage import SQLiteStorage as S\n"
            "project = sys.argv[1]\n"
            "runs = S.get_runs(project)\n"
            "print(json.dumps({'projects': S.get_projects(), 'runs': runs,\n"
            "                  'config': {r: S.get_run_config(project, r) for r in runs},\n"
            "                  'logs': {r: S.get_logs(project, r) for r in runs}}, default=str))\n")
    proc = subprocess.run([sys.executable, "-c", code, project], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_trackio_and_tensorboard_offline_through_the_cli(tmp_path: Path, tiny_model_dir: str) -> None:
    toy_dataset(48).to_json(str(tmp_path / "train.jsonl"))
    toy_dataset(12, seed=1).to_json(str(tmp_path / "test.jsonl"))
    out = tmp_path / "tracked_lora"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "TRACKIO_DIR": str(tmp_path / "trackio"), "HF_HOME": str(tmp_path / "hf-home")}
    env.pop("TRACKIO_SPACE_ID", None)
    env.pop("TENSORBOARD_LOGGING_DIR", None)
    proc = cli("train", "recipes/configs/nlp/minilm_lora.yaml", f"model.name_or_path={tiny_model_dir}",
               "data.dataset=null", f"data.train_file={tmp_path / 'train.jsonl'}",
               f"data.test_file={tmp_path / 'test.jsonl'}", f"training.max_steps={STEPS}", "training.logging_steps=1",
               "training.bf16=false", "training.eval_strategy=no", "strategy.r=4",
               "training.report_to=[tensorboard, trackio]", "--output-dir", str(out), env=env)

    assert "NETWORK" not in proc.stderr, proc.stderr[-3000:]
    console = proc.stdout + proc.stderr
    assert "* Trackio" not in console and "trackio.show(" not in console  # trackio's own banner is replaced ...
    dashboards = [line for line in console.splitlines() if "dashboard:" in line]
    assert dashboards == [  # ... by one line per tracker saying where the runs are and how to see them
        f"[hf_transfer_kit] tensorboard: logs in {out / 'runs'} (in {tmp_path / '.tracked_lora.partial' / 'runs'} "
        f"until the run finishes); dashboard: tensorboard --logdir {out / 'runs'}",
        f"[hf_transfer_kit] trackio: run {dashboards[1].split(' run ')[1].split()[0]} of project tracked_lora, "
        f"stored in {tmp_path / 'trackio'}; dashboard: trackio show --project \"tracked_lora\""]
    assert list((out / "runs").glob("events.out.tfevents.*"))

    # Re-scoring the saved run (its config still says report_to) is not a run to track: stdout is the scores alone.
    saved = json.loads((out / "metrics.json").read_text())
    scored = cli("evaluate", str(out), env=env)
    assert json.loads(scored.stdout)["accuracy"] == pytest.approx(saved["test"]["accuracy"])

    history = json.loads((out / "log_history.json").read_text())
    store = read_trackio("tracked_lora", env)
    assert store["projects"] == ["tracked_lora"] and len(store["runs"]) == 1
    run = store["runs"][0]
    assert run.startswith("lora-")
    config = store["config"][run]
    assert config["hf_transfer_kit/strategy"] == "lora" and config["hf_transfer_kit/strategy.options.r"] == 4
    assert config["hf_transfer_kit/trainable_percent"] == pytest.approx(saved["parameters"]["percent"])
    assert config["hf_transfer_kit/trainable_params"] == saved["parameters"]["trainable"]
    assert config["hf_transfer_kit/total_params"] == saved["parameters"]["total"]
    assert config["hf_transfer_kit/output_dir"] == str(out) and config["learning_rate"] == pytest.approx(5e-4)
    logs = store["logs"][run]
    trained = [(e["train/global_step"], e["train/loss"]) for e in logs if "train/loss" in e]
    logged = [(e["step"], e["loss"]) for e in history if "loss" in e]
    assert [step for step, _ in trained] == [step for step, _ in logged] == list(range(1, STEPS + 1))
    assert [loss for _, loss in trained] == pytest.approx([loss for _, loss in logged], rel=1e-6)
    tested = [e for e in logs if "test/accuracy" in e]
    assert len(tested) == 1 and tested[0]["test/accuracy"] == pytest.approx(saved["test"]["accuracy"])
    assert tested[0]["train/global_step"] == STEPS


def test_a_trackio_space_is_refused_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    assert constants.HF_HUB_OFFLINE  # conftest runs the suite offline
    raw = {"output_dir": str(tmp_path / "out"), "training": {"report_to": "trackio", "trackio_space_id": "me/runs"}}
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.param == "training.trackio_space_id" and "HF_HUB_OFFLINE" in str(info.value)
    monkeypatch.setenv("TRACKIO_SPACE_ID", "me/runs")
    with pytest.raises(ConfigError) as info:
        config_from_dict({"output_dir": str(tmp_path / "out"), "training": {"report_to": ["tensorboard", "trackio"]}})
    assert info.value.param == "TRACKIO_SPACE_ID" and "unset" in str(info.value)
    assert config_from_dict({"training": {"report_to": "tensorboard"}}).training["report_to"] == "tensorboard"
    assert not (tmp_path / "out").exists()


def test_a_project_name_trackio_refuses_fails_before_loading(tmp_path: Path, tiny_model_dir: str) -> None:
    cfg = tiny_config(tmp_path, tiny_model_dir, report_to="trackio", project="model_configs")
    recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(24))
    with pytest.raises(ConfigError) as info:
        recipe.run()
    assert info.value.param == "training.project" and "training.project" in info.value.fix
    assert not hasattr(recipe, "splits")  # refused before the data (or the model) was loaded
    assert not (tmp_path / "out").exists() and not (tmp_path / ".out.partial").exists()
