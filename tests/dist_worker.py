"""Run under torchrun (or plainly) by tests/test_distributed.py: train the tiny model, dump what each rank saw.

    torchrun --nproc_per_node 2 tests/dist_worker.py SPEC_JSON
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from safetensors.torch import save_file
from transformers import TrainerCallback

from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.config import config_from_dict


class DumpRankState(TrainerCallback):
    """Write each rank's final trainable weights and step count, so the test can compare ranks."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def on_train_end(self, args, state, control, model=None, **kwargs):  # noqa: ANN001 -- TrainerCallback API
        rank = args.process_index
        trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
        gather = contextlib.nullcontext()
        if any(hasattr(p, "ds_id") for p in trained.values()):  # ZeRO-3: each rank holds a shard; all ranks gather
            import deepspeed

            gather = deepspeed.zero.GatheredParameters(list(trained.values()))
        with gather:
            weights = {n: p.detach().float().cpu().clone().contiguous() for n, p in trained.items()}
        save_file(weights, str(self.root / f"rank{rank}.safetensors"))
        (self.root / f"rank{rank}.json").write_text(json.dumps({
            "rank": rank, "world_size": args.world_size, "global_step": state.global_step,
            "should_save": args.should_save, "losses": [h["loss"] for h in state.log_history if "loss" in h]}))


def main() -> None:
    spec = json.loads(sys.argv[1])
    root = Path(spec.pop("dump_dir"))
    root.mkdir(parents=True, exist_ok=True)
    recipe = TextClassificationRecipe(config_from_dict(spec), callbacks=[DumpRankState(root)])
    recipe.run()


if __name__ == "__main__":
    main()
