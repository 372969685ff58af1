"""Knowledge distillation (task distill): the KD loss, students cut from the teacher's layers, narrower students with
hidden-state matching and a permuted label order, students with another tokenizer, the report and the output.
A tiny BERT teacher fine-tuned for a few steps for breadth; the real MiniLM-L6 for a few steps, marked slow."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from transformers import TrainerCallback

from conftest import MINILM, tiny_config
from hf_transfer_kit import TextClassificationRecipe, load_pipeline
from hf_transfer_kit.config import config_from_dict, load_config
from hf_transfer_kit.tasks.distillation.losses import (
    PROJECTION, TEACHER_PREFIX, hidden_state_loss, keep_layers, soft_target_loss, uniform_layer_map,
)
from hf_transfer_kit.tasks import DistillationRecipe
from test_learning_curve import keyword_dataset

ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "recipes" / "configs" / "distill" / "minilm_bbc_news.yaml"
FAST = {"per_device_train_batch_size": 8, "logging_steps": 1, "eval_strategy": "no", "save_strategy": "no",
        "bf16": False, "disable_tqdm": True, "warmup_steps": 0}


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> Path:
    """The tiny BERT fine-tuned on three keyword topics: 40 steps, perfect on its test split."""
    cfg = tiny_config(tmp_path_factory.mktemp("teacher"), tiny_model_dir, max_steps=40, learning_rate=1e-2,
                      save_strategy="no")
    result = TextClassificationRecipe(cfg, train_dataset=keyword_dataset(120)).run()
    assert result.metrics["test"]["accuracy"] == 1.0, result.metrics["test"]
    return result.output_dir


def _random_student(path: Path, tokenizer: object, hidden: int, layers: int = 1) -> str:
    from transformers import BertConfig, BertModel

    torch.manual_seed(1)
    BertModel(BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=64)
              ).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def _distill_config(tmp_path: Path, student: str, teacher: Path, distill: dict, **training: object) -> object:
    return config_from_dict({"task": "distill", "output_dir": str(tmp_path / "student"),
                             "model": {"name_or_path": student}, "data": {"dataset": None, "max_length": 16},
                             "distill": {"teacher": str(teacher), **distill}, "training": {**FAST, **training}})


# ---- the loss ------------------------------------------------------------------------------------------------------

def test_soft_target_loss_is_temperature_scaled_kl() -> None:
    torch.manual_seed(0)
    teacher, student = torch.randn(4, 3), torch.randn(4, 3, requires_grad=True)
    assert soft_target_loss(teacher, teacher, 2.0).abs() < 1e-6  # the student already says what the teacher says
    loss = soft_target_loss(student, teacher, 2.0)
    p_t, log_p_s = (teacher / 2).softmax(-1), (student / 2).log_softmax(-1)
    expected = (p_t * (p_t.log() - log_p_s)).sum(-1).mean() * 4
    assert torch.isfinite(loss) and loss > 0 and torch.allclose(loss, expected, atol=1e-6)
    loss.backward()  # d/ds of T^2 KL at temperature T is T (p_s - p_t) / batch: gradients keep their size
    expected_grad = 2 * ((student / 2).softmax(-1) - p_t) / 4
    assert torch.allclose(student.grad, expected_grad, atol=1e-6)


def test_hidden_state_loss_matches_layers_uniformly_and_ignores_padding() -> None:
    assert uniform_layer_map(3, 6) == [(0, 0), (1, 2), (2, 4), (3, 6)]
    assert uniform_layer_map(1, 2) == [(0, 0), (1, 2)]
    states = [torch.randn(2, 5, 8) for _ in range(3)]
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert hidden_state_loss([states[0], states[2]], states, mask) == 0  # student = teacher's layers 0 and 2
    noisy = [s.clone() for s in states]
    for s in noisy:
        s[0, 3:] += 100.0  # only padding positions differ
    assert hidden_state_loss(noisy, states, mask) == 0
    assert hidden_state_loss([states[1], states[1]], states, mask) > 0
    projection = torch.nn.Linear(4, 8)
    assert torch.isfinite(hidden_state_loss([torch.randn(2, 5, 4)] * 2, states, mask, projection))


def test_keep_layers_cuts_the_stack_and_the_config(tiny_model_dir: str) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=3)
    second = model.bert.encoder.layer[1]
    keep_layers(model, [1])
    assert model.config.num_hidden_layers == 1 and len(model.bert.encoder.layer) == 1
    assert model.bert.encoder.layer[0] is second
    out = model(input_ids=torch.tensor([[101, 2023, 102]]), output_hidden_states=True)
    assert len(out.hidden_states) == 2 and out.logits.shape == (1, 3)


# ---- students cut from the teacher ---------------------------------------------------------------------------------

def test_student_layers_start_as_the_teachers(teacher: Path, tmp_path: Path) -> None:
    """Setup only: layer i of the student is the teacher's layer layers[i], embeddings and head included."""
    cfg = _distill_config(tmp_path, str(teacher), teacher, {"layers": [1]}, max_steps=1)
    recipe = DistillationRecipe(cfg, train_dataset=keyword_dataset(60)).setup()
    student, taught = recipe.trained_model().state_dict(), recipe.teacher.state_dict()
    assert recipe.model.config.num_hidden_layers == 1 and taught is not student
    for name, value in student.items():
        source = name.replace("encoder.layer.0.", "encoder.layer.1.")
        assert torch.equal(value, taught[source]), name
    assert not any(k.startswith("bert.encoder.layer.1.") for k in student)
    assert recipe.trainer.compute_loss.__self__.teacher is recipe.teacher  # the Distiller is in the loop
    assert recipe.parameters.total < sum(p.numel() for p in recipe.teacher.parameters())


def _example() -> object:
    spec = importlib.util.spec_from_file_location("distill_example", ROOT / "recipes" / "distill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def distilled(tmp_path_factory: pytest.TempPathFactory, teacher: Path) -> tuple[Path, dict]:
    """recipes/distill.py (the shipped YAML) on the tiny teacher: cut to 1 of its 2 layers, with the baseline."""
    tmp = tmp_path_factory.mktemp("distilled")
    keyword_dataset(120).to_json(str(tmp / "train.jsonl"))
    keyword_dataset(60, seed=1).to_json(str(tmp / "test.jsonl"))
    overrides = ["data.dataset=null", f"data.train_file={tmp / 'train.jsonl'}", f"data.test_file={tmp / 'test.jsonl'}",
                 "data.max_length=16", "training.max_steps=20", "training.learning_rate=1e-2",
                 *(f"training.{k}={v}" for k, v in FAST.items())]
    args = ["--teacher", str(teacher), "--students", "1", "--out", str(tmp / "example"), "--set", *overrides]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        report = _example().main(args)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["students"]["student_1L_1"]["kept"] == \
        report["students"][0]["accuracy_kept"]
    assert (tmp / "example" / "distill.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp / "example" / "distill.json").read_text()) == report
    return Path(report["students"][0]["output_dir"]), report, args


def test_example_reuses_finished_runs(distilled: tuple[Path, dict, list]) -> None:
    out, report, args = distilled
    stamp = (out / "metrics.json").stat().st_mtime_ns
    with contextlib.redirect_stdout(io.StringIO()):
        again = _example().main(args)
    assert (out / "metrics.json").stat().st_mtime_ns == stamp and again["students"] == report["students"]


def test_distilled_student_reports_size_speed_and_accuracy_kept(distilled: tuple[Path, dict, list]) -> None:
    out, report, _ = distilled
    metrics = json.loads((out / "metrics.json").read_text())
    test, base, kd = metrics["test"], metrics["baselines"], metrics["test"]["distillation"]
    assert test["accuracy"] == kd["student_accuracy"] == report["students"][0]["student_accuracy"]  # same 60 examples
    assert test["accuracy"] >= base["majority_class_accuracy"] + 0.5, metrics
    assert kd["teacher_accuracy"] == 1.0 and kd["accuracy_kept"] == pytest.approx(test["accuracy"])
    assert kd["student_parameters"] == metrics["parameters"]["total"] < kd["teacher_parameters"]
    # one BERT layer fewer: attention 4 x (32x32 + 32), feed-forward 32x37 + 37 and 37x32 + 32, two LayerNorms 2 x 64
    assert kd["teacher_parameters"] - kd["student_parameters"] == 4 * (32 * 32 + 32) + (32 * 37 + 37) + (37 * 32 + 32) + 128
    assert kd["teacher_samples_per_second"] > 0 and kd["student_samples_per_second"] > 0
    assert kd["speedup"] == pytest.approx(kd["student_samples_per_second"] / kd["teacher_samples_per_second"], rel=1e-2)
    assert kd["timing"]["examples"] == 60 and kd["layers"] == [1]
    # the honest baseline: the same student init, same steps, labels only
    assert 0 <= base["without_kd_accuracy"] <= 1 and kd["without_kd_accuracy"] == base["without_kd_accuracy"]
    assert "student_at_init_accuracy" in base and "untrained_head_accuracy" not in base
    losses = [e["loss"] for e in json.loads((out / "log_history.json").read_text()) if "loss" in e]
    assert len(losses) == 20 and all(map(lambda x: x == x and x < 1e3, losses))  # finite KD losses, 20 steps


def test_distilled_output_is_a_plain_text_classifier(distilled: tuple[Path, dict, list]) -> None:
    out, _, _ = distilled
    config = load_config(out / "recipe_config.yaml")
    assert config.task == "distill" and config.distill.layers == [1]  # `train recipe_config.yaml` distils again
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 1
    with safe_open(str(out / "model.safetensors"), "pt") as weights:
        assert not any(PROJECTION in k or "layer.1." in k for k in weights.keys())
    card = (out / "README.md").read_text()
    assert "pipeline_tag: text-classification" in card and "Distilled from the teacher" in card
    assert "| inference, samples/s |" in card and "same student, trained without the teacher" in card
    classify = load_pipeline(out)
    assert classify("football football the football")[0]["label"] == "sports"


# ---- other students --------------------------------------------------------------------------------------------------

class ProjectionWatch(TrainerCallback):
    """The student's width projection at the start and the end of training."""

    def on_train_begin(self, args: object, state: object, control: object, model: object = None, **kwargs: object) -> None:
        self.before = getattr(model, PROJECTION).weight.detach().clone()

    def on_train_end(self, args: object, state: object, control: object, model: object = None, **kwargs: object) -> None:
        self.after = getattr(model, PROJECTION).weight.detach().clone()


def test_narrower_student_learns_from_the_teacher_alone(teacher: Path, tmp_path: Path) -> None:
    """A random 1-layer BERT half the teacher's width, alpha=1 (no label reaches the loss) and hidden-state matching
    through a learned projection; the data lists its classes in another order than the teacher, so only a correct
    teacher-to-student label mapping can teach it the right classes."""
    from transformers import AutoTokenizer

    student = _random_student(tmp_path / "narrow", AutoTokenizer.from_pretrained(MINILM), hidden=16)
    cfg = _distill_config(tmp_path, student, teacher, {"alpha": 1.0, "hidden_state_weight": 1.0,
                                                       "compare_without_kd": False},
                          max_steps=60, learning_rate=2e-2)
    cfg.data.label_names = ["tech", "sports", "food"]  # the teacher's order is food, sports, tech
    projection = ProjectionWatch()
    recipe = DistillationRecipe(cfg, train_dataset=keyword_dataset(120), test_dataset=keyword_dataset(60, seed=1),
                                callbacks=[projection])
    result = recipe.run()
    assert recipe.teacher_label_order == [2, 1, 0] and tuple(projection.before.shape) == (32, 16)
    assert not torch.equal(projection.before, projection.after)  # the projection trained with the student
    assert result.metrics["test"]["accuracy"] >= 0.9, result.metrics["test"]
    assert result.metrics["baselines"]["majority_class_accuracy"] < 0.4
    with safe_open(str(result.output_dir / "model.safetensors"), "pt") as weights:
        assert not any(PROJECTION in k for k in weights.keys())


def _word_tokenizer(path: Path) -> object:
    """A word-level tokenizer over the toy vocabulary: ids unlike MiniLM's WordPiece ones."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from conftest import FILLER, KEYWORDS

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", *FILLER, *KEYWORDS.values()])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]")
    tokenizer.save_pretrained(path)
    return tokenizer


def test_student_with_another_tokenizer_reads_its_own_tokens(teacher: Path, tmp_path: Path) -> None:
    student = _random_student(tmp_path / "words", _word_tokenizer(tmp_path / "words"), hidden=16)
    cfg = _distill_config(tmp_path, student, teacher, {"alpha": 1.0, "compare_without_kd": False},
                          max_steps=60, learning_rate=2e-2)
    recipe = DistillationRecipe(cfg, train_dataset=keyword_dataset(120), test_dataset=keyword_dataset(60, seed=1))
    recipe.setup()
    assert not recipe.shared_tokens and f"{TEACHER_PREFIX}input_ids" in recipe.datasets["train"].column_names
    batch = recipe.data_collator()([recipe.datasets["train"][i] for i in range(4)])
    assert batch["input_ids"].max() < 30 < batch[f"{TEACHER_PREFIX}input_ids"].max()  # two vocabularies
    result = recipe.run()
    assert result.metrics["test"]["accuracy"] >= 0.9, result.metrics["test"]
    assert result.metrics["test"]["distillation"]["teacher_accuracy"] == 1.0

    cfg.distill.hidden_state_weight = 1.0  # token-by-token matching needs the same tokens
    cfg.output_dir = str(tmp_path / "hidden")
    with pytest.raises(Exception, match="distill.hidden_state_weight=1.0: hidden states are matched token by token"):
        DistillationRecipe(cfg, train_dataset=keyword_dataset(60)).setup()


# ---- the real model ------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_real_minilm_teacher_to_three_layer_student(tmp_path: Path) -> None:
    """MiniLM-L6 fine-tuned 30 steps on BBC news, then cut to layers 0, 2, 4 and distilled 30 steps (shipped YAML,
    in a subprocess as a user runs it): half the depth, faster, above the majority class."""
    small = ["data.max_train_samples=480", "data.max_eval_samples=64", "data.max_length=64",
             "training.per_device_train_batch_size=16", "training.eval_strategy=no", "training.save_strategy=no",
             "training.disable_tqdm=true", "training.max_steps=30", "training.learning_rate=2e-4"]
    teacher = tmp_path / "teacher"
    run = [sys.executable, "-m", "hf_transfer_kit", "train"]
    subprocess.run([*run, str(ROOT / "recipes/configs/nlp/minilm_full.yaml"), *small, f"output_dir={teacher}"],
                   check=True, capture_output=True, text=True)
    done = subprocess.run([*run, str(CONFIG), *small, f"output_dir={tmp_path / 'student'}", f"distill.teacher={teacher}",
                           f"model.name_or_path={teacher}", "distill.compare_without_kd=false"],
                          check=True, capture_output=True, text=True)
    metrics = json.loads((tmp_path / "student" / "metrics.json").read_text())
    kd = metrics["test"]["distillation"]
    assert json.loads(done.stdout.strip().splitlines()[-1])["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert metrics["test"]["accuracy"] > metrics["baselines"]["majority_class_accuracy"] + 0.3, kd
    assert kd["teacher_accuracy"] > 0.8 and kd["layers"] == [0, 2, 4]
    assert 0.75 < kd["parameter_ratio"] < 0.9  # 3 of 6 layers; the 11.7 M embedding parameters stay
    assert kd["speedup"] > 1.3, kd
