"""Knowledge distillation (task ``distill``): structure transfer from a fine-tuned teacher to a smaller student.

The student is ``model.name_or_path``, trained like any text classifier (every strategy applies), except that its
loss also follows the teacher (``distill``: temperature, alpha, optional hidden-state matching; the loss itself is
in :mod:`hf_transfer_kit.tasks.distillation.losses`). The student can be

* the teacher cut down to some of its layers (``distill.layers: [0, 2, 4]`` with ``model.name_or_path`` = the
  teacher): it starts from the teacher's own weights, DistilBERT-style;
* a smaller pretrained model of any width or architecture (``model.name_or_path``), with a new head. When it
  tokenizes differently, the teacher reads its own tokenization of the same examples.

What a run reports (``metrics.json`` -> ``test.distillation`` and the model card): parameters of both models, their
inference speed measured side by side on the same test batches, the teacher's and the student's test accuracy and
the share of it kept; and, as the honest baseline (``distill.compare_without_kd``), the same student init trained for
the same steps on the labels alone. The output is an ordinary text classifier: ``predict``, ``evaluate``,
``load_pipeline`` and ``export`` treat it like any other.
"""

from __future__ import annotations

import contextlib
import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...config import CONFIG_FILENAME, load_config
from ...errors import ConfigError
from ...inference import load_for_inference
from ...metrics import classification_metrics
from ...registry import register_task
from ...strategies import STRATEGIES
from ..base import check_model_source
from ..text_classification.recipe import TextClassificationRecipe
from .losses import PROJECTION, TEACHER_PREFIX, Distiller, PairedCollator, count_parameters, keep_layers, \
    predict_and_time

#: Timed passes over the test split per model (the fastest counts).
SPEED_REPEATS = 3


@register_task
class DistillationRecipe(TextClassificationRecipe):
    """Train a student text classifier from a fine-tuned teacher's soft predictions (see the module docstring)."""

    task = "distill"
    pipeline_task = "text-classification"
    #: The student learns the teacher's class distribution; weighting the hard labels would pull it elsewhere.
    supports_class_weights = False

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        cfg, kd = self.config, self.config.distill
        if not kd.teacher:
            raise ConfigError("distill.teacher", kd.teacher, "task distill needs a fine-tuned teacher: set "
                              "distill.teacher to an output directory of `hf-transfer-kit train` (e.g. "
                              "outputs/minilm_full) or a sequence classifier's Hub id.")
        problem = getattr(cfg.model, "problem_type", "single_label")
        if problem != "single_label":
            raise ConfigError("model.problem_type", problem, "distillation matches the teacher's class distribution "
                              "(softmax over single labels); use model.problem_type=single_label.")
        if kd.layers is not None and STRATEGIES[cfg.strategy.name].saves_adapter:
            raise ConfigError("strategy.name", cfg.strategy.name, "a student cut down to distill.layers exists only "
                              "in this run, so it must be saved whole: use full or partial, or drop distill.layers "
                              "and give a smaller pretrained model.name_or_path to train adapters on.")
        if cfg.training.get("remove_unused_columns") is True:
            raise ConfigError("training.remove_unused_columns", True, "the teacher may read columns the student does "
                              "not take (its own tokenization); remove the setting.")
        self.teacher: Any = None
        self.teacher_label_order: Optional[list[int]] = None
        self.without_kd: dict[str, Any] = {}

    @property
    def kd_active(self) -> bool:
        """Whether the teacher takes part in training (alpha = 0 and no hidden-state term: plain fine-tuning)."""
        kd = self.config.distill
        return kd.alpha > 0 or kd.hidden_state_weight > 0

    # ---- checks and data ------------------------------------------------------------------------------------------
    def setup(self) -> DistillationRecipe:
        kd = self.config.distill
        self.teacher_path = check_model_source(kd.teacher, self.config.model.allow_pickle, param="distill.teacher")
        self.teacher_labels = self.read_teacher_labels()
        if kd.layers is not None:  # a config read: fails before the data is loaded
            model = self.config.model
            self.check_layers(check_model_source(model.name_or_path, model.allow_pickle), kd.layers)
        super().setup()
        if self.kd_active:
            self.add_projection(self.model)
            Distiller(self.teacher, kd.temperature, kd.alpha, kd.hidden_state_weight,
                      self.teacher_label_order).attach(self.trainer)
        return self

    def read_teacher_labels(self) -> list[str]:
        """The teacher's class names in logit order, from its saved recipe or its config (no weights loaded)."""
        path = Path(self.teacher_path)
        if (path / CONFIG_FILENAME).is_file():
            return list(load_config(path / CONFIG_FILENAME).data.label_names or [])
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(self.teacher_path, trust_remote_code=self.config.model.trust_remote_code)
        except (OSError, ValueError) as err:
            raise ConfigError("distill.teacher", self.config.distill.teacher, f"could not read its config "
                              f"({str(err).splitlines()[0][:200]}); point at a fine-tuned classifier.") from err
        return [str(config.id2label[i]) for i in range(len(config.id2label))]

    def load_data(self) -> tuple[Any, list[str]]:
        splits, names = super().load_data()
        teacher = self.teacher_labels
        if sorted(teacher) != sorted(names):
            raise ConfigError("distill.teacher", self.config.distill.teacher, f"its classes ({', '.join(teacher)}) are "
                              f"not the data's ({', '.join(names)}); distil from a teacher fine-tuned on these labels, "
                              "or give the data the teacher's label names (data.label_names).")
        self.teacher_label_order = None if teacher == names else [teacher.index(n) for n in names]
        return splits, names

    def load_preprocessor(self, model_path: str) -> Any:
        from transformers import AutoTokenizer

        tokenizer = super().load_preprocessor(model_path)
        try:
            self.teacher_tokenizer = AutoTokenizer.from_pretrained(
                self.teacher_path, trust_remote_code=self.config.model.trust_remote_code)
        except (OSError, ValueError) as err:
            raise ConfigError("distill.teacher", self.config.distill.teacher, f"could not load its tokenizer "
                              f"({str(err).splitlines()[0][:200]}); save the tokenizer with the teacher.") from err
        return tokenizer

    @contextlib.contextmanager
    def tokenizing_with(self, tokenizer: Any) -> Iterator[None]:
        student, self.tokenizer = self.tokenizer, tokenizer
        try:
            yield
        finally:
            self.tokenizer = student

    def preprocess(self, splits: Any) -> Any:
        """The student's tokenization; the teacher's too (``teacher_*`` columns) where it differs."""
        tokenized = super().preprocess(splits)
        with self.tokenizing_with(self.teacher_tokenizer):
            teacher = super().preprocess(splits)
        self.shared_tokens = teacher["train"]["input_ids"] == tokenized["train"]["input_ids"]
        self.teacher_test = tokenized["test"] if self.shared_tokens else teacher["test"]
        if self.shared_tokens:
            return tokenized
        kd = self.config.distill
        if kd.hidden_state_weight > 0:
            raise ConfigError("distill.hidden_state_weight", kd.hidden_state_weight, "hidden states are matched token "
                              "by token, but the student tokenizes differently from the teacher; use 0 (logits "
                              "only) or a student with the teacher's tokenizer.")
        train = tokenized["train"]
        for column in teacher["train"].column_names:
            if column != "label":
                train = train.add_column(TEACHER_PREFIX + column, teacher["train"][column])
        tokenized["train"] = train
        return tokenized

    def training_arguments(self, output_dir: Any, train_size: Any = None) -> Any:
        args = super().training_arguments(output_dir, train_size)
        args.remove_unused_columns = False  # the Trainer would drop the teacher's columns
        return args

    def data_collator(self) -> Any:
        student = super().data_collator()
        if getattr(self, "shared_tokens", True):
            return student
        from transformers import DataCollatorWithPadding

        return PairedCollator(student, DataCollatorWithPadding(self.teacher_tokenizer))

    # ---- models ---------------------------------------------------------------------------------------------------
    def load_model(self, model_path: str, label_names: list[str]) -> Any:
        model = super().load_model(model_path, label_names)
        if self.config.distill.layers is not None:
            keep_layers(model, self.config.distill.layers)
        if self.kd_active:
            self.teacher = self.load_teacher()
        return model

    def check_layers(self, model_path: str, layers: list[int]) -> None:
        name = self.config.model.name_or_path
        if (Path(model_path) / "adapter_config.json").is_file():
            raise ConfigError("model.name_or_path", name, "is an adapter run, which has no layers of its own to keep; "
                              "merge it first (`hf-transfer-kit export RUN merged/ --merge`) and point at merged/.")
        from transformers import AutoConfig

        depth = AutoConfig.from_pretrained(model_path, trust_remote_code=self.config.model.trust_remote_code,
                                           revision=self.config.model.revision).num_hidden_layers
        if max(layers) >= depth:
            spread = sorted({round(i * (depth - 1) / 2) for i in range(3)})
            raise ConfigError("distill.layers", layers, f"{name} has {depth} layers (0 to {depth - 1}); use indices "
                              f"below {depth}, e.g. {spread}.")

    def load_teacher(self) -> Any:
        """The teacher in eval mode: a kit output (full or adapter) through its own recipe, else a plain classifier."""
        path, cfg = self.teacher_path, self.config.model
        if (Path(path) / CONFIG_FILENAME).is_file():
            teacher = load_for_inference(path)[0]
        else:
            teacher = self.model_class().from_pretrained(
                path, trust_remote_code=cfg.trust_remote_code, use_safetensors=None if cfg.allow_pickle else True)
        positions = getattr(teacher.config, "max_position_embeddings", None)
        if positions is not None and self.config.data.max_length > positions:
            raise ConfigError("data.max_length", self.config.data.max_length, f"the teacher has {positions} "
                              f"positions; use data.max_length={positions} or less.")
        return teacher.eval()

    def add_projection(self, model: Any) -> None:
        """A learned student-to-teacher width map for hidden-state matching, trained with the student: one of the
        student's modules while it trains (so the optimizer, Accelerate and checkpoints see it), added after the
        strategy (which must not freeze it) and dropped on save."""
        if self.config.distill.hidden_state_weight <= 0:
            return
        student, teacher = model.config.hidden_size, self.teacher.config.hidden_size
        if student != teacher:
            from torch import nn

            setattr(model, PROJECTION, nn.Linear(student, teacher).to(self.args.device))

    # ---- training -------------------------------------------------------------------------------------------------
    def train(self) -> Any:
        from transformers import set_seed

        set_seed(self.args.seed)  # the baseline without the teacher starts from this same state: same data order
        return super().train()

    def baselines(self) -> dict[str, float]:
        """Majority class and the student before training (for a student cut from a fine-tuned teacher its head is
        trained, hence the name), plus the same student trained without the teacher (``compare_without_kd``)."""
        scores = super().baselines()
        scores["student_at_init_accuracy"] = scores.pop("untrained_head_accuracy")
        scores["student_at_init_loss"] = scores.pop("untrained_head_loss")
        if self.config.distill.compare_without_kd and self.kd_active:
            self.without_kd = self.train_without_kd()
            scores.update({f"without_kd_{k}": v for k, v in self.without_kd.items()})
        return scores

    def train_without_kd(self) -> dict[str, Any]:
        """The same recipe with alpha = 0 and no hidden-state term: same data, student init, seed, steps and training
        arguments (evaluations included: each draws from the RNG, so the same ones keep the same shuffles)."""
        import time

        config = copy.deepcopy(self.config)
        config.distill.alpha, config.distill.hidden_state_weight, config.distill.compare_without_kd = 0.0, 0.0, False
        config.baselines = config.resume = config.hub.push_to_hub = False
        config.training["report_to"] = "none"  # a scratch run: its trackers would log a run nobody keeps
        if self.args.process_index == 0:
            print("[hf_transfer_kit] baseline: training the same student without the teacher "
                  "(distill.compare_without_kd=false skips it)", flush=True)
        with tempfile.TemporaryDirectory(prefix="without-kd-") as scratch:
            config.output_dir = str(Path(scratch) / "run")
            baseline = DistillationRecipe(config, callbacks=self.callbacks)
            baseline.in_memory = self.in_memory
            baseline.setup()
            start = time.perf_counter()
            baseline.train()
            seconds = time.perf_counter() - start
            test = TextClassificationRecipe.final_evaluation(baseline, "test")
        return {"accuracy": float(test["accuracy"]), "f1": float(test["f1"]), "train_seconds": round(seconds, 2)}

    # ---- evaluation and output ------------------------------------------------------------------------------------
    def final_evaluation(self, split: str) -> dict[str, Any]:
        metrics = super().final_evaluation(split)
        if split == "test":
            metrics["distillation"] = self.distillation_report(metrics)
        return metrics

    def test_batches(self, dataset: Any, collator: Any) -> list[dict[str, Any]]:
        from torch.utils.data import DataLoader

        columns = [c for c in dataset.column_names if c != "label"]
        loader = DataLoader(dataset.select_columns(columns), batch_size=self.args.per_device_eval_batch_size,
                            collate_fn=collator)
        return [{k: v.to(self.args.device) for k, v in batch.items()} for batch in loader]

    def distillation_report(self, test: dict[str, Any]) -> dict[str, Any]:
        """Teacher vs student on the same test examples, under the evaluation's precision: parameters, samples/s,
        accuracy and the share of the teacher's accuracy the student keeps (with and without distillation)."""
        from transformers import DataCollatorWithPadding

        kd = self.config.distill
        if self.teacher is None:  # alpha = 0: trained without it, still compared with it
            self.teacher = self.load_teacher()
        teacher = self.teacher.to(self.args.device)
        student = self.trained_model()
        batches = {"teacher": self.test_batches(self.teacher_test, DataCollatorWithPadding(self.teacher_tokenizer)),
                   "student": self.test_batches(self.datasets["test"], DataCollatorWithPadding(self.tokenizer))}
        logits, speed = predict_and_time({"teacher": teacher, "student": student}, batches, SPEED_REPEATS,
                                         self.trainer.accelerator.autocast)
        labels = np.asarray(self.datasets["test"]["label"])
        order = self.teacher_label_order
        scores = {name: classification_metrics((v if name == "student" or order is None else v[:, order]).numpy(),
                                               labels) for name, v in logits.items()}
        import torch

        teacher_params = count_parameters(teacher)
        student_params = self.parameters.total
        report = {
            "teacher": kd.teacher, "layers": kd.layers, "temperature": kd.temperature, "alpha": kd.alpha,
            "hidden_state_weight": kd.hidden_state_weight,
            "teacher_parameters": teacher_params, "student_parameters": student_params,
            "parameter_ratio": round(student_params / teacher_params, 4),
            "teacher_accuracy": scores["teacher"]["accuracy"], "teacher_f1": scores["teacher"]["f1"],
            "student_accuracy": scores["student"]["accuracy"], "student_f1": scores["student"]["f1"],
            "accuracy_kept": round(scores["student"]["accuracy"] / max(scores["teacher"]["accuracy"], 1e-12), 4),
            "teacher_samples_per_second": round(speed["teacher"], 2),
            "student_samples_per_second": round(speed["student"], 2),
            "speedup": round(speed["student"] / speed["teacher"], 3),
            "timing": {"examples": len(labels), "batch_size": self.args.per_device_eval_batch_size,
                       "repeats": SPEED_REPEATS, "device": str(self.args.device), "threads": torch.get_num_threads(),
                       "bf16": bool(self.args.bf16)},
        }
        if self.without_kd:
            report["without_kd_accuracy"] = self.without_kd["accuracy"]
            report["without_kd_accuracy_kept"] = round(self.without_kd["accuracy"] /
                                                       max(scores["teacher"]["accuracy"], 1e-12), 4)
        if self.args.process_index == 0:
            print(f"[hf_transfer_kit] distillation: student {student_params:,} parameters "
                  f"({100 * report['parameter_ratio']:.1f} % of the teacher), {report['speedup']:.2f}x its speed, "
                  f"accuracy {report['student_accuracy']:.4f} vs teacher {report['teacher_accuracy']:.4f} "
                  f"({100 * report['accuracy_kept']:.1f} % kept)", flush=True)
        return report

    def save(self, directory: Any, metrics: dict[str, Any]) -> None:
        """The student alone: the width projection used for hidden-state matching is not part of it."""
        model = self.trained_model()
        projection = model._modules.pop(PROJECTION, None)
        try:
            super().save(directory, metrics)
        finally:
            if projection is not None:
                model._modules[PROJECTION] = projection
