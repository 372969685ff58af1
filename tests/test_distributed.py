"""A real 2-process data-parallel run (torchrun, gloo on CPU) against a 1-process run with the same global batch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import MINILM, toy_dataset

ROOT = Path(__file__).parent.parent
WORKER = Path(__file__).parent / "dist_worker.py"
TOLERANCE = 1e-5  # float32: all-reduce order and per-rank padding shapes change rounding, nothing else

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def no_dropout_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Dropout off, so both runs compute the same function and differences can only come from the data split."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-bert-nodrop")
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=37, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def launch(tmp: Path, name: str, processes: int, model_dir: str, strategy: dict, per_device: int,
           **training: object) -> Path:
    data = tmp / "train.jsonl"
    if not data.exists():
        toy_dataset(64).to_json(str(data))
    dump = tmp / f"{name}-dump"
    spec = {"dump_dir": str(dump), "output_dir": str(tmp / name), "global_batch_size": 8, "baselines": False,
            "model": {"name_or_path": model_dir},
            "data": {"dataset": None, "train_file": str(data), "max_length": 32, "test_size": 0.0,
                     "validation_size": 0.25},
            "strategy": strategy,
            "training": {"max_steps": 4, "per_device_train_batch_size": per_device, "learning_rate": 0.05,
                         "optim": "sgd", "logging_steps": 1, "eval_strategy": "no", "bf16": False, "use_cpu": True,
                         "disable_tqdm": True, "dataloader_num_workers": 0, **training}}
    if processes > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_port", str(29500 + os.getpid() % 1000), str(WORKER), json.dumps(spec)]
    else:
        cmd = [sys.executable, str(WORKER), json.dumps(spec)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("[hf_transfer_kit] strategy=") == 1, "the run summary must be printed by rank 0 only"
    return dump


ZERO2 = {"train_micro_batch_size_per_gpu": "auto", "gradient_accumulation_steps": "auto", "train_batch_size": "auto",
         "gradient_clipping": "auto", "zero_optimization": {"stage": 2}}
CASES = {
    "full": ({"name": "full"}, {}),
    "lora": ({"name": "lora", "r": 4, "lora_dropout": 0.0}, {}),
    # Gradual unfreezing keeps requires_grad on under DDP and drops still-frozen gradients after the all-reduce;
    # one process toggles requires_grad. Both must train the same weights (strategies/layerwise.py).
    "full_llrd_unfreeze": ({"name": "full", "layer_lr_decay": 0.5, "unfreeze": "step", "unfreeze_every": 1}, {}),
    # DeepSpeed ZeRO-2 (optimizer state + gradients sharded) on its CPU accelerator; skipped where not installed.
    "deepspeed_zero2": ({"name": "full"}, {"deepspeed": ZERO2}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process(tmp_path: Path, no_dropout_model: str, case: str) -> None:
    strategy, extra = CASES[case]
    if "deepspeed" in extra:
        pytest.importorskip("deepspeed")
    two = launch(tmp_path, "ddp", 2, no_dropout_model, strategy, per_device=4, **extra)
    one = launch(tmp_path, "single", 1, no_dropout_model, strategy, per_device=8)

    ranks = [json.loads((two / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert [r["global_step"] for r in ranks] == [4, 4]  # both ranks trained every step
    assert [r["should_save"] for r in ranks] == [True, False]

    w0, w1 = load_file(str(two / "rank0.safetensors")), load_file(str(two / "rank1.safetensors"))
    ref = load_file(str(one / "rank0.safetensors"))
    for name in ref:
        torch.testing.assert_close(w0[name], w1[name], rtol=0, atol=0)  # gradients were all-reduced
        torch.testing.assert_close(w0[name], ref[name], rtol=0, atol=TOLERANCE)
    single_losses = json.loads((one / "rank0.json").read_text())["losses"]
    assert ranks[0]["losses"] == pytest.approx(single_losses, abs=1e-4)

    # only rank 0 wrote, and it wrote a complete output: no staging leftovers
    assert (tmp_path / "ddp" / "metrics.json").is_file()
    assert not (tmp_path / ".ddp.partial").exists()


