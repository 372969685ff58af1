"""Hostile data and hostile places: generated files, folders and configs with the problems a new user's own data
has, each asserting a clear error (parameter, value, fix) before any compute, or a correct result -- never a silent
wrong one, never a deleted or unreadable file of the user's.

The classes (each fixed where the problem escaped, named in the comment of its test):
1. the card names the data really used (a default that leaked into the resolved config);
2. only provable outputs of the kit are replaced (a staging helper that replaced any directory);
3. a class seen only in evaluation data is refused (label names read from every split);
4. resume checks the settings (nothing recorded which settings made the checkpoint);
5. data.max_length beyond the model's positions, on the real shipped model (a check that ran on tiny models only);
6. published files follow the umask (staging through mkstemp writes 0600);
7. the disk check counts what adapter runs really write (weights only were counted);
8. an empty or ambiguous YAML file (the YAML loader's silent defaults);
9. / 10. silent choices and raw tracebacks at the edges: zero steps, bad counts, empty inputs, bare directories,
   duplicate columns, class ids against named classes, weightless checkpoints, closed pipes, delimiters,
   encodings, nested image folders, malformed JSON Lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from conftest import MINILM, toy_dataset
from hf_transfer_kit.cli import main
from hf_transfer_kit.config import config_from_dict, load_config
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.workflow import train

ROOT = Path(__file__).parent.parent
LORA = ROOT / "recipes/configs/nlp/minilm_lora.yaml"


def csv_rows(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    path.write_text(header + "\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8")
    return path


def toy_csv(path: Path, n: int = 36, seed: int = 0) -> Path:
    data = toy_dataset(n, seed)
    return csv_rows(path, list(zip(data["text"], data["label"])))


def file_config(tmp_path: Path, model_dir: str, train_file: Path, test_file: Path | None = None, **extra) -> object:
    """The shipped LoRA recipe pointed at the user's files, as `hf-transfer-kit train minilm_lora.yaml
    data.train_file=...` would read it (its `data.dataset: builtin:bbc_news` stays in the YAML)."""
    overrides = [f"model.name_or_path={model_dir}", f"data.train_file={train_file}", f"output_dir={tmp_path / 'out'}",
                 "data.max_length=32", "training.max_steps=2", "training.eval_strategy=no", "training.bf16=false",
                 "training.save_strategy=no", "training.disable_tqdm=true", "strategy.r=4"]
    if test_file is not None:
        overrides.append(f"data.test_file={test_file}")
    return load_config(LORA, overrides + [f"{k}={v}" for k, v in extra.items()])


def refused(call, param: str, *words: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call()
    assert info.value.param == param, str(info.value)
    for word in words:
        assert word in str(info.value), str(info.value)
    return info.value


# ---- 1. the card names what was used ------------------------------------------------------------------------------

def test_the_card_names_the_users_files_with_their_content_hash(tmp_path: Path, tiny_model_dir: str) -> None:
    train_file, test_file = toy_csv(tmp_path / "good.csv"), toy_csv(tmp_path / "held_out.csv", 12, seed=1)
    config = file_config(tmp_path, tiny_model_dir, train_file, test_file)
    assert config.data.dataset == "builtin:bbc_news"  # from the shipped YAML; the file must win
    result = train(config)
    card = (result.output_dir / "README.md").read_text()
    digest = hashlib.sha256(train_file.read_bytes()).hexdigest()
    assert "bbc_news" not in card and f"good.csv (sha256 {digest[:12]})" in card
    assert result.metrics["data"]["files"][0]["sha256"] == digest
    saved = yaml.safe_load((result.output_dir / "recipe_config.yaml").read_text())
    assert saved["data"]["dataset"] is None and saved["data"]["train_file"] == str(train_file)


# ---- 2. only the kit's own outputs are replaced -------------------------------------------------------------------

def test_overwrite_never_deletes_a_directory_that_is_not_a_run(tmp_path: Path, tiny_model_dir: str) -> None:
    user = tmp_path / "v"
    user.mkdir()
    data = toy_csv(user / "good.csv")
    before = data.read_bytes()
    config = file_config(tmp_path, tiny_model_dir, data, output_dir=str(user), overwrite_output_dir="true")
    refused(lambda: train(config), "output_dir", "not an output of hf_transfer_kit", "good.csv")
    assert data.read_bytes() == before and sorted(p.name for p in user.iterdir()) == ["good.csv"]


def test_inputs_inside_a_run_that_gets_replaced_are_refused(tmp_path: Path, tiny_model_dir: str) -> None:
    result = train(file_config(tmp_path, tiny_model_dir, toy_csv(tmp_path / "a.csv")))
    inside = toy_csv(result.output_dir / "mine.csv")
    config = file_config(tmp_path, tiny_model_dir, inside, overwrite_output_dir="true")
    refused(lambda: train(config), "data.train_file", "inside output_dir")
    assert inside.is_file()
    assert main(["export", str(result.output_dir), str(result.output_dir), "--overwrite"]) == 2
    assert (result.output_dir / "adapter_model.safetensors").is_file()


# ---- 3. classes seen only outside training ------------------------------------------------------------------------

def test_a_label_only_in_the_test_file_is_refused(tmp_path: Path, tiny_model_dir: str) -> None:
    train_file = toy_csv(tmp_path / "train.csv")
    test_file = csv_rows(tmp_path / "test.csv", [("pasta football", "food"), ("the weather today", "weather")])
    config = file_config(tmp_path, tiny_model_dir, train_file, test_file)
    refused(lambda: train(config), "data.label_column", "split 'test'", "['weather']", "data.label_names")
    assert not (tmp_path / "out").exists()
    named = file_config(tmp_path, tiny_model_dir, train_file, test_file,
                        **{"data.label_names": "[food, sports, tech, weather]"})
    assert train(named).metrics["test"]["label_names"] == ["food", "sports", "tech", "weather"]  # explicit: kept


def test_a_tag_only_in_the_test_file_is_refused(tmp_path: Path, tiny_model_dir: str) -> None:
    rows = [{"tokens": ["John", "went", "home"], "ner_tags": ["B-PER", "O", "O"]}] * 12
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test.jsonl").write_text(json.dumps({"tokens": ["in", "Paris"], "ner_tags": ["O", "B-LOC"]}) + "\n")
    config = config_from_dict({"task": "token-classification", "output_dir": str(tmp_path / "out"),
                               "model": {"name_or_path": tiny_model_dir},
                               "data": {"train_file": str(tmp_path / "train.jsonl"),
                                        "test_file": str(tmp_path / "test.jsonl"), "max_length": 16}})
    refused(lambda: train(config), "data.tags_column", "['B-LOC']")


def test_an_image_class_missing_from_train_is_refused(tmp_path: Path) -> None:
    from test_vision import tiny_vision_models

    vit = tiny_vision_models(tmp_path / "models")["vit"]
    rng = np.random.default_rng(0)
    for split, classes in (("train", ("cat", "dog")), ("test", ("cat", "dog", "bird"))):
        for name in classes:
            (tmp_path / "imgs" / split / name).mkdir(parents=True)
            for i in range(4):
                Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(
                    tmp_path / "imgs" / split / name / f"{i}.png")
    config = config_from_dict({"task": "image-classification", "output_dir": str(tmp_path / "out"),
                               "model": {"name_or_path": vit},
                               "data": {"image_folder": str(tmp_path / "imgs")},
                               "training": {"max_steps": 1, "bf16": False, "eval_strategy": "no"}})
    refused(lambda: train(config), "data.label_column", "'bird'")


# ---- 4. resume checks the settings ---------------------------------------------------------------------------------

def interrupted(tmp_path: Path, model_dir: str, **extra) -> object:
    """A config whose run left a checkpoint (the staging folder as an interrupted run leaves it) and its settings."""
    from hf_transfer_kit import outputs, resume_check
    from hf_transfer_kit.registry import get_task

    config = file_config(tmp_path, model_dir, toy_csv(tmp_path / "train.csv"))
    staging = outputs.begin(config.output_dir)
    resume_check.record(get_task(config.task)(config).config, staging)  # as the run recorded it (sources resolved)
    (staging / "checkpoint-2").mkdir()
    (staging / "checkpoint-2" / "trainer_state.json").write_text("{}")
    return file_config(tmp_path, model_dir, tmp_path / "train.csv", resume="true", **extra)


@pytest.mark.parametrize("change,allowed", [({"training.learning_rate": "1e-3"}, False),
                                            ({"strategy.r": "8"}, False),
                                            ({"training.max_steps": "4"}, True)])
def test_resume_refuses_other_settings(tmp_path: Path, tiny_model_dir: str, change: dict, allowed: bool) -> None:
    from hf_transfer_kit.registry import get_task

    key = next(iter(change)).replace("strategy.r", "strategy.options.r")  # as the saved settings spell it
    config = interrupted(tmp_path, tiny_model_dir, **change)
    error = refused(lambda: get_task(config.task)(config).setup(), "resume", key)
    assert ("--resume-allow-changes" in str(error)) == allowed
    if allowed:  # the explicit flag lets a change that takes effect on resume through
        (tmp_path / "again").mkdir()
        config = interrupted(tmp_path / "again", tiny_model_dir, resume_allow_changes="true", **change)
        get_task(config.task)(config).setup()


# ---- 5. checks on the real shipped model ---------------------------------------------------------------------------

def test_max_length_beyond_the_real_minilm_positions_is_refused_before_training(tmp_path: Path) -> None:
    config = file_config(tmp_path, MINILM, toy_csv(tmp_path / "t.csv"), **{"data.max_length": "1024"})
    refused(lambda: train(config), "data.max_length", "512 positions")


# ---- 6. permissions ------------------------------------------------------------------------------------------------

def test_outputs_and_exports_follow_the_umask(tmp_path: Path, tiny_model_dir: str) -> None:
    old = os.umask(0o022)
    try:
        result = train(file_config(tmp_path, tiny_model_dir, toy_csv(tmp_path / "t.csv")))
        assert main(["export", str(result.output_dir), str(tmp_path / "export"), "--merge"]) == 0
    finally:
        os.umask(old)
    for root in (result.output_dir, tmp_path / "export"):
        modes = {p.relative_to(root).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in root.rglob("*") if p.is_file()}
        assert modes and set(modes.values()) == {0o644}, modes


# ---- 7. the disk check ---------------------------------------------------------------------------------------------

def test_the_disk_check_counts_what_an_adapter_run_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 2 MB disk: the LoRA weights of MiniLM fit, its tokenizer, card and checkpoint do not -- refused up front."""
    import shutil

    from hf_transfer_kit.registry import get_task

    config = file_config(tmp_path, MINILM, toy_csv(tmp_path / "t.csv"), **{"training.save_strategy": "epoch"})
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=2 * 2**20))
    recipe = get_task(config.task)(config)
    refused(recipe.setup, "output_dir", "GB free")
    assert not any(p.name.startswith(".out") for p in tmp_path.iterdir())


# ---- 8. the YAML file itself ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,words", [("", "is empty"), ("# nothing but a comment\n", "is empty"),
                                        ("strategy:\n  name: lora\nstrategy:\n  name: full\n", "appears twice"),
                                        ("training:\n  learning_rate: 1e-4\n  learning_rate: 1e-3\n", "appears twice")])
def test_an_empty_or_ambiguous_yaml_is_refused(tmp_path: Path, text: str, words: str) -> None:
    (tmp_path / "c.yaml").write_text(text)
    refused(lambda: load_config(tmp_path / "c.yaml"), "config", words)
    refused(lambda: load_config(tmp_path), "config", "is a directory")


# ---- 9. silent choices ---------------------------------------------------------------------------------------------

def test_silent_choices_are_refused(tmp_path: Path, tiny_model_dir: str, capsys: pytest.CaptureFixture) -> None:
    refused(lambda: config_from_dict({"training": {"max_steps": 0}}), "training.max_steps", "-1")
    train_file = toy_csv(tmp_path / "t.csv")
    result = train(file_config(tmp_path, tiny_model_dir, train_file))
    out = str(result.output_dir)
    for bad in ("0", "-5"):
        with pytest.raises(SystemExit) as exit_info:
            main(["evaluate", out, "--max-samples", bad])
        assert exit_info.value.code == 2 and "positive count" in capsys.readouterr().err
    assert main(["predict", out, ""]) == 2 and "is empty" in capsys.readouterr().err
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "recipe_config.yaml").write_text(LORA.read_text())
    assert main(["card", str(bare)]) == 2 and "no metrics.json" in capsys.readouterr().err
    assert not (bare / "README.md").exists()
    ids = csv_rows(tmp_path / "ids.csv", [("football pasta", "0"), ("computer", "2")])
    assert main(["evaluate", out, "--file", str(ids)]) == 2 and "class ids" in capsys.readouterr().err


def test_duplicate_csv_columns_are_refused(tmp_path: Path, tiny_model_dir: str) -> None:
    twice = tmp_path / "twice.csv"
    twice.write_text("text,text,label\nfootball,pasta,food\ncomputer,chip,tech\n")
    refused(lambda: train(file_config(tmp_path, tiny_model_dir, twice)), "data.train_file", "['text']")


# ---- 10. raw tracebacks and misleading messages --------------------------------------------------------------------

def test_a_checkpoint_without_weights_is_named(tmp_path: Path) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    config = file_config(tmp_path, str(tmp_path / "ckpt"), toy_csv(tmp_path / "t.csv"))
    refused(lambda: train(config), "model.name_or_path", "no weights")


def test_help_into_a_closed_pipe_is_quiet() -> None:
    proc = subprocess.run(f"{sys.executable} -m hf_transfer_kit train --help | head -1", shell=True, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith("usage:") and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_semicolon_csv_names_the_delimiter_and_reads_with_it(tmp_path: Path, tiny_model_dir: str) -> None:
    data = toy_dataset(36)
    semi = tmp_path / "semi.csv"
    semi.write_text("text;label\n" + "".join(f"{t};{lab}\n" for t, lab in zip(data["text"], data["label"])))
    refused(lambda: train(file_config(tmp_path, tiny_model_dir, semi)), "data.csv_delimiter", "';'")
    result = train(file_config(tmp_path, tiny_model_dir, semi, **{"data.csv_delimiter": "';'"}))
    assert result.metrics["test"]["label_names"] == ["food", "sports", "tech"]


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path, tiny_model_dir: str) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\nfootball,sports\ncaf\u00e9 pasta,food\n".encode("latin-1"))
    refused(lambda: train(file_config(tmp_path, tiny_model_dir, latin)), "data.train_file", "line 3", "UTF-8")


def test_malformed_json_lines_are_reported_by_line(tmp_path: Path, tiny_model_dir: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "football", "label": "sports"}\n{"text": "pasta", "label": "food"}\n{"text": "oops",\n')
    refused(lambda: train(file_config(tmp_path, tiny_model_dir, bad)), "data.train_file", "line 3")


def test_image_classes_one_folder_deeper_are_read_by_their_folder_names(tmp_path: Path) -> None:
    from test_vision import tiny_vision_models

    vit = tiny_vision_models(tmp_path / "models")["vit"]
    for name in ("cat", "dog"):
        (tmp_path / "imgs" / "dataset" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20, 20), (i * 40, 0, 0)).save(tmp_path / "imgs" / "dataset" / name / f"{i}.png")
    config = config_from_dict({"task": "image-classification", "output_dir": str(tmp_path / "out"),
                               "model": {"name_or_path": vit}, "data": {"image_folder": str(tmp_path / "imgs")},
                               "training": {"max_steps": 1, "bf16": False, "eval_strategy": "no",
                                            "save_strategy": "no"}})
    assert train(config).metrics["test"]["label_names"] == ["cat", "dog"]  # the class is the image's own folder


def test_odd_image_modes_train_and_predict(tmp_path: Path) -> None:
    """Greyscale, palette, RGBA, CMYK and 16-bit images in one folder: all read as RGB, trained on, predicted."""
    from test_vision import tiny_vision_models

    vit = tiny_vision_models(tmp_path / "models")["vit"]
    rng = np.random.default_rng(0)
    makers = [lambda a: Image.fromarray(a[..., 0]), lambda a: Image.fromarray(a).convert("P"),
              lambda a: Image.fromarray(a).convert("RGBA"), lambda a: Image.fromarray(a).convert("CMYK"),
              lambda a: Image.fromarray(a[..., 0].astype(np.uint16) * 256)]
    for name in ("cat", "dog"):
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i in range(10):
            image = makers[i % len(makers)](rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
            image.save(tmp_path / "imgs" / name / f"{i}.{'jpg' if image.mode == 'CMYK' else 'png'}")
    config = config_from_dict({"task": "image-classification", "output_dir": str(tmp_path / "out"),
                               "model": {"name_or_path": vit}, "data": {"image_folder": str(tmp_path / "imgs")},
                               "training": {"max_steps": 2, "bf16": False, "eval_strategy": "no",
                                            "save_strategy": "no"}})
    result = train(config)
    assert result.metrics["test"]["num_examples"] >= 2 and "skipped_unreadable_images" not in result.metrics["test"]
    assert main(["predict", str(result.output_dir), str(tmp_path / "imgs" / "cat" / "3.jpg")]) == 0


def test_a_json_array_of_rows_still_reads(tmp_path: Path) -> None:
    """Rows as one pretty-printed JSON array: valid JSON, read as before (not taken for broken JSON Lines)."""
    from hf_transfer_kit.data.files import load_raw
    from hf_transfer_kit.tasks.text_classification.config import TextClassificationDataConfig

    rows = [{"text": "football", "label": "sports"}, {"text": "pasta", "label": "food"}]
    (tmp_path / "rows.json").write_text(json.dumps(rows, indent=2))
    raw = load_raw(TextClassificationDataConfig(dataset=None, train_file=str(tmp_path / "rows.json")))
    assert raw["train"]["text"] == ["football", "pasta"] and raw["train"]["label"] == ["sports", "food"]
