"""benchmarks/profile_step.py's grouping of a real profiled training step (tiny BERT, bf16 autocast, AdamW, gradient
clipping, a DataLoader): every op lands where it belongs, backward ops with their forward op, and the groups add up
to the step's wall time."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.profiler import ProfilerActivity, profile, schedule
from torch.utils.data import DataLoader
from transformers import BertConfig, BertForSequenceClassification

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks import profile_step as ps  # noqa: E402

DROPOUT = ps.DROPOUT
MATMUL = "matmuls (mm / addmm / bmm / linear)"


@pytest.fixture(scope="module")
def trace() -> list:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64, num_labels=3, attn_implementation="eager")
    model = BertForSequenceClassification(config).train()
    assert ps.mark_attention(model) == 2
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)  # the Trainer's adamw_torch_fused
    rows = [{"input_ids": torch.randint(1, 100, (16,)), "labels": torch.tensor(i % 3)} for i in range(16)]
    loader = DataLoader(rows, batch_size=4, collate_fn=lambda b: {k: torch.stack([r[k] for r in b]) for k in b[0]})
    events = []
    with profile(activities=[ProfilerActivity.CPU], schedule=schedule(wait=1, warmup=1, active=2),
                 on_trace_ready=lambda p: events.extend(p.events())) as prof:
        for batch in loader:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad()
            prof.step()
    return events


def test_every_op_lands_in_its_group(trace: list) -> None:
    placed = ps.attribute(trace)
    seen: dict[str, set] = {}
    for event, group in placed:
        seen.setdefault(event.name, set()).add(group)
    assert seen["aten::bernoulli_"] == {DROPOUT}
    assert seen["aten::native_layer_norm_backward"] == {"layer norm"}
    assert seen["aten::gelu_backward"] == {"GELU / activations"} and seen["aten::gelu"] == {"GELU / activations"}
    assert seen["aten::_softmax"] == {ps.ATTENTION} and seen["aten::bmm"] == {MATMUL}
    assert seen["aten::embedding_dense_backward"] == {"embedding"}
    assert seen["aten::_foreach_norm"] == {ps.CLIPPING}
    assert seen["aten::_fused_adamw_"] == {ps.OPTIMIZER}
    assert ps.COLLATION in seen["aten::stack"]
    assert ps.CASTS in seen["aten::_to_copy"]
    # a backward op counts where its forward op does: dropout's backward multiply is dropout, not "other"
    backward_of = {}
    for event, group in placed:
        node = next((e for e in ps.ancestors(event) if e.name.startswith("autograd::engine")), None)
        if node is not None and event.name.startswith("aten::"):
            backward_of.setdefault(node.name.split(": ")[-1], set()).add(group)
    assert DROPOUT in backward_of["MulBackward0"] and MATMUL in backward_of["AddmmBackward0"]
    assert backward_of["NativeLayerNormBackward0"] == {"layer norm"}


def test_groups_add_up_to_the_step(trace: list) -> None:
    result = ps.breakdown(trace)
    groups = result["groups"]
    assert result["profiled_steps"] == 2 and list(groups) == ps.ORDER
    assert sum(g["percent"] for g in groups.values()) == pytest.approx(100.0)
    assert all(g["ms_per_step"] >= 0 for g in groups.values())
    for group in (MATMUL, ps.ATTENTION, DROPOUT, "layer norm", ps.CASTS, ps.OPTIMIZER, ps.CLIPPING, ps.COLLATION,
                  ps.OVERHEAD):
        assert groups[group]["ms_per_step"] > 0, group
    assert result["top_ops"] and result["top_ops"][0]["ms_per_step"] >= result["top_ops"][-1]["ms_per_step"]


@pytest.mark.slow
def test_the_script_profiles_the_real_minilm_recipe(tmp_path: Path) -> None:
    """One LoRA step of the shipped recipe on the real MiniLM: the JSON names the CPU and the precision the kit
    chose for it, and its groups cover the step."""
    import json
    import os
    import subprocess

    from hf_transfer_kit.hardware import bf16_native

    out = tmp_path / "profile.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "benchmarks/profile_step.py", "--strategies", "lora", "--warmup", "2",
                           "--steps", "1", "--threads", "1", "--out", str(out)], cwd=Path(__file__).parent.parent,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "| dropout / RNG" in done.stdout and str(out) in done.stdout.splitlines()[-1]
    doc = json.loads(out.read_text())
    assert doc["cpu"] and doc["bf16_native"] == bf16_native() and doc["threads"] == 1
    lora = doc["strategies"]["lora"]
    assert lora["bf16"] == bf16_native() and lora["batch"] == 16 and lora["attention_scopes"] == 6
    assert sum(g["percent"] for g in lora["groups"].values()) == pytest.approx(100.0)
    assert lora["groups"][MATMUL]["ms_per_step"] > 0 and lora["groups"][DROPOUT]["ms_per_step"] > 0
    assert 0 < lora["mfu"] < 1 and lora["flops_per_sample"]["weight_gradients"] < lora["flops_per_sample"]["forward"]
