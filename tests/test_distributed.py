"""Real 2-process runs (gloo on CPU) launched through every shipped Accelerate config that can run on CPUs, each
against a 1-process run with the same global batch; the launches that cannot distribute on CPUs are refused."""

from __future__ import annotations

import contextlib
import json
import os
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


ACCELERATE = ROOT / "recipes" / "accelerate"


def launch(tmp: Path, name: str, processes: int, model_dir: str, strategy: dict, per_device: int,
           launcher: str = "torchrun", **training: object) -> Path:
    """Train the tiny model on one process, or on two through ``launcher``: ``torchrun``, or a shipped Accelerate
    config (``accelerate launch --config_file recipes/accelerate/<launcher>``; ``multi_node.yaml`` as two launchers
    on 127.0.0.1 with ``--machine_rank 0/1``, as on two machines). Returns the folder where each rank dumped its
    weights and steps."""
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
    port = str(29500 + os.getpid() % 1000)
    script = [str(WORKER), json.dumps(spec)]
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    # fp32 everywhere, whatever the shipped config's mixed_precision says, so the runs can be compared closely
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--mixed_precision", "no",
                  "--main_process_port", port]
    if processes == 1:
        commands = [[sys.executable, *script]]
    elif launcher == "torchrun":
        commands = [[*torchrun, "--nproc_per_node", str(processes), "--master_port", port, *script]]
    elif launcher == "multi_node.yaml":
        commands = [[*accelerate, "--config_file", str(ACCELERATE / launcher), "--num_machines", "2",
                     "--num_processes", "2", "--machine_rank", str(node), "--main_process_ip", "127.0.0.1",
                     *script] for node in (0, 1)]
    else:
        commands = [[*accelerate, "--config_file", str(ACCELERATE / launcher), "--num_processes", str(processes),
                     *script]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cmd in commands]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 0, err[-4000:]
    stdout = "".join(out for out, _ in results)
    assert stdout.count("[hf_transfer_kit] strategy=") == 1, "the run summary must be printed by rank 0 only"
    return dump


FULL, LORA = {"name": "full"}, {"name": "lora", "r": 4, "lora_dropout": 0.0}
#: case -> (strategy, launcher, extra training settings); the two-process run of each is compared with one process.
#: Every shipped Accelerate config that runs on CPUs, launched as a user would (without --cpu: see the refusals
#: below), with full fine-tuning and LoRA: DDP, DeepSpeed ZeRO-2 and ZeRO-3 (parameters sharded too; gathered to
#: compare) on DeepSpeed's CPU accelerator, and two "machines" (two launchers on 127.0.0.1, one process each).
CASES = {
    "multi_gpu_full": (FULL, "multi_gpu.yaml", {}),
    "multi_gpu_lora": (LORA, "multi_gpu.yaml", {}),
    "zero2_full": (FULL, "deepspeed_zero2.yaml", {}),
    "zero2_lora": (LORA, "deepspeed_zero2.yaml", {}),
    "zero3_full": (FULL, "deepspeed_zero3.yaml", {}),
    "zero3_lora": (LORA, "deepspeed_zero3.yaml", {}),
    # frozen strategies and layer-wise rates under ZeRO-3 (every parameter sharded, frozen ones included): partial
    # freezing with frozen embeddings (ZeRO-3 leaves them as empty placeholders: the save must gather them) and
    # layer-wise rates (one optimizer group per depth) in one run; BitFit; the linear probe, which several processes
    # train uncached (probe.py) -- the one-process run does too, to compare like for like
    "zero3_partial_llrd": ({"name": "partial", "freeze_embeddings": True, "freeze_bottom_layers": 1,
                            "layer_lr_decay": 0.5}, "deepspeed_zero3.yaml", {}),
    "zero3_bitfit": ({"name": "bitfit"}, "deepspeed_zero3.yaml", {}),
    "zero3_linear_probe": ({"name": "linear_probe", "cache_features": False}, "deepspeed_zero3.yaml", {}),
    "multi_node_full": (FULL, "multi_node.yaml", {}),
    "multi_node_lora": (LORA, "multi_node.yaml", {}),
    # torchrun itself (README); gradual unfreezing keeps requires_grad on under DDP and drops still-frozen
    # gradients after the all-reduce, one process toggles requires_grad: the same weights (strategies/layerwise.py)
    "torchrun_llrd_unfreeze": ({"name": "full", "layer_lr_decay": 0.5, "unfreeze": "step", "unfreeze_every": 1},
                               "torchrun", {}),
}


#: the engine metrics.json must record per launcher (DDP otherwise)
ENGINES = {"deepspeed_zero2.yaml": "DeepSpeed ZeRO-2", "deepspeed_zero3.yaml": "DeepSpeed ZeRO-3"}


@pytest.mark.parametrize("case", list(CASES))
def test_two_processes_match_one_process(tmp_path: Path, no_dropout_model: str, case: str) -> None:
    strategy, launcher, extra = CASES[case]
    if "deepspeed" in launcher:
        pytest.importorskip("deepspeed")
    two = launch(tmp_path, "ddp", 2, no_dropout_model, strategy, per_device=4, launcher=launcher, **extra)
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
    # the run records how it was launched, and the card says it
    engine = ENGINES.get(launcher, "DDP")
    launched = [json.loads((tmp_path / run / "metrics.json").read_text())["environment"]["launch"]
                for run in ("ddp", "single")]
    assert launched == [{"processes": 2, "engine": engine, "precision": "fp32"},
                        {"processes": 1, "engine": "one process", "precision": "fp32"}]
    assert f"2 processes, {engine}, fp32" in (tmp_path / "ddp" / "README.md").read_text()
    assert not (tmp_path / ".ddp.partial").exists()
    # what was saved (gathered from the shards under ZeRO-3) reloads as the one-process model
    if (tmp_path / "single" / "adapter_model.safetensors").is_file():  # LoRA, adapters: the trained weights alone
        mine, theirs = (load_file(str(tmp_path / run / "adapter_model.safetensors")) for run in ("ddp", "single"))
    else:  # reloaded: ZeRO-3's consolidated save keeps BERT's legacy LayerNorm names, which transformers maps back
        from transformers import AutoModelForSequenceClassification

        mine, theirs = (AutoModelForSequenceClassification.from_pretrained(tmp_path / run).state_dict()
                        for run in ("ddp", "single"))
    assert mine.keys() == theirs.keys()
    for name in theirs:
        torch.testing.assert_close(mine[name].float(), theirs[name].float(), rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("flags, message", [
    # Accelerate's CPU launcher (--cpu, or use_cpu: true in the config) starts one process unless MPI runs it
    (["--config_file", "multi_cpu.yaml"], "starts a single process"),
    (["--config_file", "deepspeed_zero3.yaml", "--cpu", "--num_processes", "2"], "starts a single process"),
    # Accelerate turns FSDP on only for GPU-like devices: CPU ranks would load meta weights and fail obscurely
    (["--config_file", "fsdp.yaml", "--num_processes", "2"], "runs FSDP only on GPUs"),
], ids=["multi_cpu", "zero3_cpu_flag", "fsdp_on_cpus"])
@pytest.mark.skipif(torch.cuda.is_available(), reason="what CPU-only machines cannot launch")
def test_launches_that_would_not_distribute_are_refused_before_training(tmp_path: Path, tiny_model_dir: str,
                                                                         flags: list[str], message: str) -> None:
    flags = [str(ACCELERATE / f) if f.endswith(".yaml") else f for f in flags]
    cmd = [sys.executable, "-m", "accelerate.commands.launch", *flags, "--main_process_port",
           str(29500 + os.getpid() % 1000), "-m", "hf_transfer_kit", "train",
           str(ROOT / "recipes" / "configs" / "nlp" / "minilm_lora.yaml"), f"model.name_or_path={tiny_model_dir}",
           f"output_dir={tmp_path / 'out'}", "training.max_steps=2", "training.use_cpu=true"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    assert "strategy=" not in proc.stdout  # refused before the model loaded
    assert not (tmp_path / "out").exists()




CLI_WORKER = Path(__file__).parent / "cli_worker.py"


def zero3_train(tmp: Path, model_dir: str, strategy: dict, out: Path, *extra: str,
                **env: str) -> subprocess.Popen:
    """``hf-transfer-kit train`` (tests/cli_worker.py) on two processes under the shipped ZeRO-3 config, checkpointing
    every 3 of 6 steps."""
    config = tmp / f"{strategy['name']}.yaml"
    if not config.exists():
        toy_dataset(64).to_json(str(tmp / "train.jsonl"))
        config.write_text(json.dumps({
            "model": {"name_or_path": model_dir}, "baselines": False, "global_batch_size": 8,
            "data": {"dataset": None, "train_file": str(tmp / "train.jsonl"), "max_length": 32, "test_size": 0.0},
            "strategy": strategy,
            "training": {"max_steps": 6, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "use_cpu": True,
                         "save_strategy": "steps", "save_steps": 3, "save_total_limit": 2, "logging_steps": 1,
                         "eval_strategy": "no", "bf16": False, "disable_tqdm": True, "dataloader_num_workers": 0}}))
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ACCELERATE / "deepspeed_zero3.yaml"), "--mixed_precision", "no", "--num_processes", "2",
           "--main_process_port", str(29500 + os.getpid() % 1000), str(CLI_WORKER), "train", str(config),
           "--output-dir", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
                                                "TOKENIZERS_PARALLELISM": "false", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("strategy", [FULL, LORA], ids=["full", "lora"])
def test_zero3_checkpoint_resumes_to_the_uninterrupted_run(tmp_path: Path, no_dropout_model: str,
                                                           strategy: dict) -> None:
    """Kill a two-process ZeRO-3 run (launcher and both ranks) after its first sharded checkpoint; ``--resume`` from
    that checkpoint (each rank reloads its own parameter and optimizer shards) ends on the uninterrupted run's
    weights."""
    import signal
    import time

    pytest.importorskip("deepspeed")
    reference = zero3_train(tmp_path, no_dropout_model, strategy, tmp_path / "reference")
    _, err = reference.communicate(timeout=300)
    assert reference.returncode == 0, err[-4000:]

    out = tmp_path / "run"
    victim = zero3_train(tmp_path, no_dropout_model, strategy, out, STEP_SLEEP="1.0")
    staging = tmp_path / ".run.partial"
    deadline = time.time() + 240
    while not list(staging.glob("checkpoint-3/global_step3/*optim_states.pt")) or \
            len(list(staging.glob("checkpoint-3/global_step3/*optim_states.pt"))) < 2 or \
            not (staging / "checkpoint-3" / "trainer_state.json").is_file():
        assert victim.poll() is None, victim.communicate()[1][-4000:]
        assert time.time() < deadline, "no ZeRO-3 checkpoint appeared"
        time.sleep(0.1)
    import psutil  # an Accelerate dependency; torchrun starts each rank in a session of its own

    tree = [victim.pid, *(child.pid for child in psutil.Process(victim.pid).children(recursive=True))]
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    victim.wait(timeout=60)
    time.sleep(1)
    assert not out.exists(), "the killed run must not leave an output directory"

    resumed = zero3_train(tmp_path, no_dropout_model, strategy, out, "--resume", RESUMED_AT="3")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-4000:]
    name = "adapter_model.safetensors" if strategy["name"] == "lora" else "model.safetensors"
    expected, got = load_file(str(tmp_path / "reference" / name)), load_file(str(out / name))
    assert expected.keys() == got.keys()
    for key in expected:
        assert got[key].numel() == expected[key].numel() > 0, key
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=TOLERANCE, msg=key)
    log = json.loads((out / "log_history.json").read_text())
    assert [h["step"] for h in log if "loss" in h] == [1, 2, 3, 4, 5, 6]
    assert not list(out.glob("checkpoint-*")) and not staging.exists()
