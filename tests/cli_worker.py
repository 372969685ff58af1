"""The real ``hf-transfer-kit`` CLI with fault-injection hooks, for tests/test_resume.py.

    STEP_SLEEP=0.2 python tests/cli_worker.py train CONFIG ...   # slow steps, so a signal lands mid-run
    KILL_AT=commit python tests/cli_worker.py train CONFIG ...   # SIGKILL itself at that point of saving
    RESUMED_AT=3 python tests/cli_worker.py train CONFIG --resume  # fail if a step before 3 is trained again
"""

from __future__ import annotations

import os
import signal
import sys
import time

import transformers

from hf_transfer_kit import outputs
from hf_transfer_kit.cli import main

if os.environ.get("STEP_SLEEP"):
    original_step = transformers.Trainer.training_step

    def slow_step(self, *args, **kwargs):  # noqa: ANN001, ANN202 -- same signature as Trainer.training_step
        time.sleep(float(os.environ["STEP_SLEEP"]))
        return original_step(self, *args, **kwargs)

    transformers.Trainer.training_step = slow_step

if os.environ.get("RESUMED_AT"):  # a resumed run must start after its checkpoint, never retrain from step 0
    checked_original = transformers.Trainer.training_step

    def checked_step(self, *args, **kwargs):  # noqa: ANN001, ANN202 -- same signature as Trainer.training_step
        if self.state.global_step < int(os.environ["RESUMED_AT"]):
            raise RuntimeError(f"step {self.state.global_step + 1} trained again: the run did not resume")
        return checked_original(self, *args, **kwargs)

    transformers.Trainer.training_step = checked_step

KILL_AT = os.environ.get("KILL_AT")
if KILL_AT == "commit":  # everything written into the staging dir, not yet renamed into place
    outputs.commit = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
elif KILL_AT == "save_config":  # weights written, config / metrics / card not yet
    import hf_transfer_kit.tasks.base as base

    base.save_config = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
