"""One benchmark configuration ("arm") per process: build it, train it, time it, write its JSON.

Arm kinds (``job["kind"]``):

* ``loop`` -- a plain PyTorch loop doing what ``transformers.Trainer`` does with its default arguments (full
  fine-tuning, fp32, batch 8, AdamW at 5e-5 without weight decay, linear decay over 3 epochs, gradient clipping
  at 1.0): the floor.
* ``trainer_default`` -- a hand-written ``Trainer`` with default ``TrainingArguments``; ``trainer_default_lora``
  adds LoRA by hand (``peft.LoraConfig``, r=8 on query/value). What users would otherwise write.
* ``recipe`` -- the kit's recipe with its shipped per-strategy defaults (``recipes/configs/<area>/*.yaml``).
* ``trainer_same`` -- a hand-written ``Trainer`` with the recipe's resolved settings: the same TrainingArguments
  and the same model (the kit's attention kernels per mode, the strategy's ``apply``), data written by hand. The kit's own overhead is measured
  against it.

Modes: ``tta`` (time to accuracy) evaluates every ``eval_every`` training samples and stops at ``target``
validation accuracy or after ``cap`` samples; ``steps`` trains ``steps`` optimizer steps without evaluation (per-step
cost and memory). Every arm uses the same data splits (the kit's loaders, seed 42) and the same batch size as the
configuration it is compared with; measurement-only settings (evaluation schedule, no checkpoints) are the same in
every arm. Time spent evaluating or saving is excluded from the training clock.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import transformers
from transformers import TrainerCallback

# Heavy imports above are deliberate: run.py preloads this module in a fork server, so every arm starts with
# them already imported (the same cost for all arms, and seconds saved per arm).
from hf_transfer_kit.assets import resolve_model_path
from hf_transfer_kit.config import load_config
from hf_transfer_kit.strategies.anatomy import layer_stack

from benchmarks import flops

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIRS = {"text": REPO / "recipes/configs/nlp", "vision": REPO / "recipes/configs/vision"}
CONFIG_PREFIX = {"text": "minilm", "vision": "efficientnet_lite0"}
SEED = 42
#: TrainingArguments' defaults that the plain loop reproduces by hand.
DEFAULT_BATCH, DEFAULT_LR, DEFAULT_EPOCHS = 8, 5e-5, 3
WARMUP_STEPS_IGNORED = 2  # first step intervals (allocator, thread pools, lazy init) left out of the per-step cost


def config_path(modality: str, strategy: str) -> Path:
    return CONFIG_DIRS[modality] / f"{CONFIG_PREFIX[modality]}_{strategy}.yaml"


# ---- the training clock ---------------------------------------------------------------------------------------
class Clock:
    """Training time with evaluation and checkpointing left out, per-step intervals, and the accuracy curve."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.start = self.mark = time.perf_counter()
        self.excluded = 0.0
        self.previous: Optional[float] = None
        self.step_times: list[float] = []
        self.eval_seconds: list[float] = []
        self.points: list[dict[str, float]] = []
        self.reached: Optional[dict[str, float]] = None
        self.steps = 0
        self.samples_per_step = 1
        self.first_step: Optional[float] = None
        self.training = True

    def begin(self) -> None:
        self.start = self.mark = time.perf_counter()

    def train_seconds(self) -> float:
        return (self.previous or 0.0)

    def step_end(self, step: int) -> bool:
        """Record a finished optimizer step; True when the sample cap says stop."""
        now = time.perf_counter()
        clock = now - self.start - self.excluded
        if self.previous is not None:
            self.step_times.append(clock - self.previous)
        else:
            self.first_step = clock  # the first step alone: compilation (torch.compile), lazy initialisation
        self.previous, self.mark, self.steps = clock, now, step
        cap = self.job.get("cap")
        return bool(cap) and step * self.samples_per_step >= cap

    def pause(self) -> float:
        """Leave the time since the last mark (an evaluation, a checkpoint) out of the training clock."""
        now = time.perf_counter()
        spent = now - self.mark
        self.excluded += spent
        self.mark = now
        return spent

    def evaluated(self, accuracy: float, seconds: float) -> bool:
        """Record a validation accuracy; True when the target is reached."""
        self.eval_seconds.append(seconds)
        point = {"step": self.steps, "samples": self.steps * self.samples_per_step,
                 "seconds": round(self.train_seconds(), 3), "accuracy": float(accuracy)}
        self.points.append(point)
        target = self.job.get("target")
        if self.reached is None and target is not None and accuracy >= target:
            self.reached = point
            return True
        return False

    def median_step(self) -> Optional[float]:
        steady = self.step_times[WARMUP_STEPS_IGNORED:] or self.step_times
        return statistics.median(steady) if steady else None


class Probe(TrainerCallback):
    """The clock as a Trainer callback (the same one in the kit's and the hand-written Trainer arms)."""

    def __init__(self, clock: Clock, watcher: Optional[LayerWatcher] = None) -> None:
        self.clock, self.watcher = clock, watcher

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.clock.samples_per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps
        self.clock.begin()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.watcher is not None:
            self.watcher.remove()
        if self.clock.step_end(state.global_step):
            control.should_training_stop = True
        return control

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> Any:
        if self.clock.training and metrics and "eval_accuracy" in metrics:
            if self.clock.evaluated(metrics["eval_accuracy"], self.clock.pause()):
                control.should_training_stop = True
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.clock.training:
            self.clock.pause()


class LayerWatcher:
    """Which blocks of the layer stack the backward pass runs through: a block whose output needs no gradient
    in a training step is never visited by autograd (frozen bottom layers cost their forward pass only)."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.grad: dict[int, bool] = {}
        self.handles: list[Any] = []
        try:
            _, stack = layer_stack(model)
        except ValueError:
            return
        for index, block in enumerate(stack):
            self.handles.append(block.register_forward_hook(self._hook(index)))

    def _hook(self, index: int) -> Callable[..., None]:
        def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            tensor = output[0] if isinstance(output, (tuple, list)) else getattr(output, "last_hidden_state", output)
            # a training step (grad enabled), whatever the block's mode: frozen blocks are held in eval mode
            # (strategy.frozen_blocks: eval), and they are the blocks this watch is for
            if torch.is_grad_enabled() and torch.is_tensor(tensor):
                self.grad.setdefault(index, bool(tensor.requires_grad))
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def summary(self) -> Optional[dict[str, Any]]:
        if not self.grad:
            return None
        return {"layers": len(self.grad), "backward_through": sorted(i for i, g in self.grad.items() if g)}


# ---- data and models written by hand -------------------------------------------------------------------------
def accuracy(eval_pred: Any) -> dict[str, float]:
    logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
    return {"accuracy": float((logits.argmax(-1) == eval_pred.label_ids).mean())}


def hand_data(cfg: Any, modality: str, model_path: str) -> tuple[Any, Any, Any, list[str]]:
    """(datasets, processing class, collator, label names): the preprocessing a user writes next to a Trainer.
    The splits come from the kit's loaders so that every arm sees the same examples."""
    if modality == "text":
        from transformers import AutoTokenizer, DataCollatorWithPadding

        from hf_transfer_kit.data import prepare_splits

        splits, names = prepare_splits(cfg.data, seed=SEED)
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        max_length = cfg.data.max_length

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            return tokenizer(batch[cfg.data.text_column], truncation=True, max_length=max_length)

        columns = [c for c in splits["train"].column_names if c != "label"]
        return splits.map(tokenize, batched=True, remove_columns=columns), tokenizer, \
            DataCollatorWithPadding(tokenizer), names
    from datasets import DatasetDict
    from transformers import AutoImageProcessor

    from hf_transfer_kit import vision  # noqa: F401  (registers the builtin EfficientNet-Lite0 with the Auto classes)
    from hf_transfer_kit.data.image import prepare_image_splits
    from hf_transfer_kit.vision.transforms import Augmentation, ImageTransform, collate, resize_overrides

    splits, names, _ = prepare_image_splits(cfg.data, seed=SEED)
    processor = AutoImageProcessor.from_pretrained(model_path)
    if cfg.data.image_size:
        processor = AutoImageProcessor.from_pretrained(model_path, **resize_overrides(processor, cfg.data.image_size))
    augmentation = Augmentation(crop_scale=tuple(cfg.data.crop_scale), horizontal_flip=cfg.data.horizontal_flip,
                                color_jitter=cfg.data.color_jitter) if cfg.data.augment else None
    datasets = DatasetDict({split: ds.with_transform(ImageTransform(processor, cfg.data.image_column,
                                                                    train=split == "train", augmentation=augmentation))
                            for split, ds in splits.items()})
    return datasets, processor, collate, names


def hand_model(modality: str, model_path: str, names: list[str]) -> torch.nn.Module:
    transformers.set_seed(SEED)
    if modality == "text":
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(names))
    from transformers import AutoModelForImageClassification

    return AutoModelForImageClassification.from_pretrained(model_path, num_labels=len(names),
                                                           ignore_mismatched_sizes=True)


def flop_fields(model: torch.nn.Module, modality: str, datasets: Any) -> dict[str, Any]:
    """Training FLOPs per example as ``flops.training_flops`` counts them (the work the strategy really does), for
    the result: ``flops_per_sample`` (what the MFU columns use) and its parts. Text at the training examples' mean
    length (padding is not counted as work), images at the configured size."""
    if modality == "text":
        lengths = [len(ids) for ids in datasets["train"]["input_ids"]]
        forward = flops.text_layer_flops(model, sum(lengths) / max(len(lengths), 1))
    else:
        pixels = datasets["validation"][0]["pixel_values"].unsqueeze(0).to(next(model.parameters()).device)
        forward = flops.layer_flops(model, {"pixel_values": pixels})
    counted = flops.training_flops(model, forward)
    return {"flops_per_sample": counted.total, "flops": counted.as_dict()}


# ---- the arms --------------------------------------------------------------------------------------------------
def recipe_config(job: dict[str, Any], workdir: Path) -> Any:
    """The shipped recipe for the job's strategy, with the measurement settings every arm shares."""
    modality = job["modality"]
    # A fixed budget of 2 epochs (the shipped configs' before `auto`): the arms compare cost per step and time to a
    # target, so each must run the same schedule; early stopping would end them at different points.
    overrides = [f"output_dir={workdir / 'out'}", "overwrite_output_dir=true", "baselines=false",
                 "training.num_train_epochs=2", "training.save_strategy=no", "training.disable_tqdm=true", "training.report_to=none",
                 *job.get("data_overrides", []), *job.get("overrides", [])]
    path = config_path(modality, job.get("strategy") or "full")
    batch = load_config(path, overrides).training["per_device_train_batch_size"]
    if job["mode"] == "tta":
        overrides += ["training.eval_strategy=steps", f"training.eval_steps={max(1, job['eval_every'] // batch)}"]
    else:
        overrides += ["training.eval_strategy=no", f"training.max_steps={job['steps']}"]
    return load_config(path, overrides)


def default_arguments(job: dict[str, Any], workdir: Path, modality: str) -> Any:
    """TrainingArguments' defaults, plus only what the measurement needs (and what images need to work at all)."""
    from transformers import TrainingArguments

    measure: dict[str, Any] = {"save_strategy": "no", "report_to": "none", "disable_tqdm": True}
    if job["mode"] == "tta":
        measure.update(eval_strategy="steps", eval_steps=max(1, job["eval_every"] // DEFAULT_BATCH))
    else:
        measure.update(max_steps=job["steps"])
    if modality == "vision":  # the image column is transformed on the fly: the Trainer must not drop it
        measure.update(remove_unused_columns=False, label_names=["labels"])
    return TrainingArguments(output_dir=str(workdir / "out"), **measure)


def run_trainer(job: dict[str, Any], trainer: Any, clock: Clock, test_set: Any) -> dict[str, Any]:
    trainer.train()
    clock.training = False
    out: dict[str, Any] = {}
    if job["mode"] == "tta":
        out["test_accuracy"] = float(trainer.evaluate(test_set, metric_key_prefix="test")["test_accuracy"])
    args = trainer.args
    out.update(bf16=bool(args.bf16), batch_size=args.per_device_train_batch_size * args.gradient_accumulation_steps,
               learning_rate=args.learning_rate, scheduler=str(getattr(args.lr_scheduler_type, "value",
                                                                       args.lr_scheduler_type)),
               eval_batch_size=args.per_device_eval_batch_size, eval_examples=len(trainer.eval_dataset))
    return out


def arm_recipe(job: dict[str, Any], workdir: Path, clock: Clock) -> dict[str, Any]:
    from hf_transfer_kit.tasks import get_task

    cfg = recipe_config(job, workdir)
    recipe = get_task(cfg.task)(cfg)
    recipe.setup()
    watcher = LayerWatcher(recipe.model)
    recipe.trainer.add_callback(Probe(clock, watcher))
    out = run_trainer(job, recipe.trainer, clock, recipe.datasets["test"])
    out.update(trainable=recipe.parameters.trainable, total=recipe.parameters.total, layers=watcher.summary(),
               **flop_fields(recipe.model, job["modality"], recipe.datasets))
    return out


def arm_trainer(job: dict[str, Any], workdir: Path, clock: Clock) -> dict[str, Any]:
    """``trainer_default``, ``trainer_default_lora`` and ``trainer_same``: a Trainer written by hand."""
    from transformers import Trainer, TrainingArguments

    from hf_transfer_kit.attention import switch_attention_by_mode
    from hf_transfer_kit.launch import resolve_training_kwargs
    from hf_transfer_kit.strategies import get_strategy, parameter_report

    modality, kind = job["modality"], job["kind"]
    cfg = recipe_config(job, workdir)
    model_path = resolve_model_path(cfg.model.name_or_path)
    datasets, processor, collator, names = hand_data(cfg, modality, model_path)
    model = hand_model(modality, model_path, names)
    if kind == "trainer_same":
        kwargs = resolve_training_kwargs(cfg.training, cfg.strategy.name, cfg.global_batch_size)
        kwargs.pop("output_dir", None)
        if modality == "vision":
            kwargs.update(remove_unused_columns=False, label_names=["labels"])
        args = TrainingArguments(output_dir=str(workdir / "out"), **kwargs)
        # the recipe's model settings too: its attention kernels (attention.py), then its strategy
        switch_attention_by_mode(model, args.device, cfg.model.attn_implementation, args.bf16)
        peft_task = "SEQ_CLS" if modality == "text" else None
        model = get_strategy(cfg.strategy, peft_task).apply(model)
    else:
        if kind == "trainer_default_lora":
            from peft import LoraConfig, get_peft_model

            model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.1,
                                                     target_modules=["query", "value"]))
        args = default_arguments(job, workdir, modality)
    watcher = LayerWatcher(model)
    clock_probe = Probe(clock, watcher)
    trainer = Trainer(model=model, args=args, train_dataset=datasets["train"], eval_dataset=datasets["validation"],
                      processing_class=processor, data_collator=collator, compute_metrics=accuracy,
                      callbacks=[clock_probe])
    out = run_trainer(job, trainer, clock, datasets["test"])
    report = parameter_report(model)
    out.update(trainable=report.trainable, total=report.total, layers=watcher.summary(),
               **flop_fields(model, modality, datasets))
    return out


def arm_loop(job: dict[str, Any], workdir: Path, clock: Clock) -> dict[str, Any]:
    """What Trainer does with its defaults, written as a plain loop: the floor for the Trainer's own overhead."""
    from torch.utils.data import DataLoader

    modality = job["modality"]
    cfg = recipe_config(job, workdir)
    model_path = resolve_model_path(cfg.model.name_or_path)
    datasets, _, collator, names = hand_data(cfg, modality, model_path)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = hand_model(modality, model_path, names).to(device)
    loader = DataLoader(datasets["train"], batch_size=DEFAULT_BATCH, shuffle=True, collate_fn=collator,
                        generator=torch.Generator().manual_seed(SEED))
    optimizer = torch.optim.AdamW(model.parameters(), lr=DEFAULT_LR, weight_decay=0.0)
    total = DEFAULT_EPOCHS * len(loader)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, (total - s) / total))

    def evaluate(split: str) -> float:
        model.eval()
        correct = count = 0
        with torch.no_grad():
            for batch in DataLoader(datasets[split], batch_size=DEFAULT_BATCH, collate_fn=collator):
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
                correct += int((logits.argmax(-1) == batch["labels"]).sum())
                count += len(batch["labels"])
        model.train()
        return correct / max(count, 1)

    clock.samples_per_step = DEFAULT_BATCH
    every = max(1, job.get("eval_every", 0) // DEFAULT_BATCH)
    watcher = LayerWatcher(model)
    model.train()
    clock.begin()
    step, stop = 0, False
    for _ in range(DEFAULT_EPOCHS):
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            model(**batch).loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            watcher.remove()
            stop = clock.step_end(step)
            if job["mode"] == "tta" and step % every == 0:
                stop = clock.evaluated(evaluate("validation"), clock.pause()) or stop
            if stop or (job["mode"] == "steps" and step >= job["steps"]):
                break
        if stop or (job["mode"] == "steps" and step >= job["steps"]):
            break
    clock.training = False
    out: dict[str, Any] = {"bf16": False, "batch_size": DEFAULT_BATCH, "learning_rate": DEFAULT_LR,
                           "scheduler": "linear", "eval_batch_size": DEFAULT_BATCH,
                           "eval_examples": len(datasets["validation"])}
    if job["mode"] == "tta":
        out["test_accuracy"] = evaluate("test")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    out.update(trainable=trainable, total=sum(p.numel() for p in model.parameters()), layers=watcher.summary(),
               **flop_fields(model, modality, datasets))
    return out


ARMS: dict[str, Callable[[dict[str, Any], Path, Clock], dict[str, Any]]] = {
    "loop": arm_loop, "trainer_default": arm_trainer, "trainer_default_lora": arm_trainer,
    "trainer_same": arm_trainer, "recipe": arm_recipe,
}


# ---- jobs that are not arms -------------------------------------------------------------------------------------
def matmul_peaks(job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Measured matmul throughput in fp32 and bf16 on this device: what the MFU columns divide by."""
    from hf_transfer_kit.hardware import describe_machine

    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    n = 8192 if cuda else (512 if job.get("quick") else 2048)
    budget = 0.2 if job.get("quick") else 1.0
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
        a @ b  # warm-up (kernels, thread pool)
        if cuda:
            torch.cuda.synchronize()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < budget:
            a @ b
            count += 1
            if cuda:
                torch.cuda.synchronize()
        peaks[name] = 2.0 * n ** 3 * count / (time.perf_counter() - start)
    return {"matmul_flops": peaks, "matmul_size": n, "machine": describe_machine()}


def tiny_model(job: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """--quick: a 2-layer random BERT with the real MiniLM tokenizer (a couple of steps take seconds)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path("builtin:all-MiniLM-L6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=128)
    BertModel(config).save_pretrained(job["path"])
    tokenizer.save_pretrained(job["path"])
    return {"path": job["path"]}


def run_job(job: dict[str, Any], result_path: str) -> None:
    """Process entry point: run one job, write its JSON (an ``error`` entry when it failed)."""
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    import datasets

    datasets.disable_progress_bars()
    started = time.perf_counter()
    if job.get("log"):  # the Trainer's and the libraries' chatter goes to the job's log, not the summary
        with open(job["log"], "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
    with tempfile.TemporaryDirectory(prefix="hftk-bench-") as tmp:
        workdir = Path(tmp)
        try:
            if job["kind"] == "peaks":
                result = matmul_peaks(job, workdir)
            elif job["kind"] == "tiny_model":
                result = tiny_model(job, workdir)
            else:
                clock = Clock(job)
                result = ARMS[job["kind"]](job, workdir, clock)
                step = clock.median_step()
                result.update(
                    step_times=[round(s, 5) for s in clock.step_times], steps=clock.steps,
                    median_step_seconds=step, first_step_seconds=clock.first_step,
                    train_samples_per_s=result["batch_size"] / step if step else None,
                    train_seconds=round(clock.train_seconds(), 3), curve=clock.points, reached=clock.reached,
                    eval_seconds=clock.eval_seconds, peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    cuda_peak_mb=torch.cuda.max_memory_allocated() / 2 ** 20 if torch.cuda.is_available() else None,
                    trainable_percent=100.0 * result["trainable"] / max(result["total"], 1))
        except Exception:  # noqa: BLE001 -- the orchestrator reports the failure and goes on with the other arms
            result = {"error": traceback.format_exc()[-4000:]}
    result.update(job=job, wall_seconds=round(time.perf_counter() - started, 2), pid=os.getpid())
    Path(result_path).write_text(json.dumps(result, indent=1, default=str))
    sys.stdout.flush()
