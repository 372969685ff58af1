"""``hf-transfer-kit sweep CONFIG [overrides...] --trials N --study-dir DIR``: search hyperparameters with Optuna.

Overrides with a distribution are searched, plain ones fix a value for every trial:

  hf-transfer-kit sweep recipes/configs/nlp/minilm_lora.yaml 'training.learning_rate=loguniform(1e-5,1e-2)' \\
      'strategy.r=choice(4,8,16)' --trials 20 --study-dir sweeps/minilm_lora

(quote them: the shell reads parentheses). Distributions: loguniform(low,high), uniform(low,high), int(low,high),
choice(a,b,...). Each trial is a full run of the config with its parameters, scored on the validation split (the
test split is never read); bad trials are pruned on their validation evaluations (median pruner). DIR gets study.db
(the study: rerun the same command to continue it), trials/<number>/ (each trial's run), trials.csv / trials.md,
sweep.png and best.yaml (train it with `hf-transfer-kit train DIR/best.yaml`). Several workers: --n-jobs N on one
machine, or the same command on each node with --storage postgresql://user:password@host:5432/db.
Details: docs/sweep.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sweep", help="search hyperparameters (Optuna): trials, pruning, a resumable study",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="recipe YAML (see recipes/configs/)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides: key=value fixes a value, "
                        "key=loguniform(1e-5,1e-2) / uniform(a,b) / int(a,b) / choice(a,b,...) searches it")
    parser.add_argument("--trials", type=int, required=True, help="trials in the study in all (a rerun continues "
                        "up to this total; finished and pruned trials count, failed ones do not)")
    parser.add_argument("--study-dir", required=True, help="where the study, the trials' runs and the reports go")
    parser.add_argument("--study-name", help="study name in the storage (default: the config's output_dir name)")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite:///DIR/study.db); for workers on "
                        "several machines an RDB they all reach, e.g. postgresql://user:password@host:5432/optuna")
    parser.add_argument("--n-jobs", type=int, default=1, help="worker processes on this machine, each running one "
                        "trial at a time (default: 1)")
    parser.add_argument("--pruner", default="median", choices=["median", "none"], help="stop trials whose validation "
                        "score is below the median of earlier trials at the same step (default: median)")
    parser.add_argument("--pruner-startup-trials", type=int, default=5, help="completed trials before pruning "
                        "starts (default: 5)")
    parser.add_argument("--seed", type=int, help="sampler seed (default: the config's training.seed)")
    parser.add_argument("--keep", default="all", choices=["all", "best"], help="keep every trial's run, or only the "
                        "best trial's (default: all)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # a process started by --n-jobs


def worker_command(args: argparse.Namespace) -> list[str]:
    """The command line of one worker process of ``--n-jobs``: this command, one job, no summary of its own."""
    command = [sys.executable, "-m", "hf_transfer_kit", "sweep", args.config, *args.overrides, "--trials",
               str(args.trials), "--study-dir", args.study_dir, "--pruner", args.pruner, "--pruner-startup-trials",
               str(args.pruner_startup_trials), "--keep", args.keep, "--n-jobs", "1", "--worker"]
    for option, value in (("--study-name", args.study_name), ("--storage", args.storage), ("--seed", args.seed)):
        if value is not None:
            command += [option, str(value)]
    return command


def run_workers(args: argparse.Namespace) -> int:
    """Start ``--n-jobs`` worker processes on the study (created first, so they only load it) and wait for them."""
    from ..errors import TrainingInterrupted

    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.n_jobs)))  # no oversubscription
    workers = [subprocess.Popen(worker_command(args), env=env) for _ in range(args.n_jobs)]
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:  # the workers got the signal too: let them stop cleanly
        for w in workers:
            w.wait()
        raise TrainingInterrupted("the sweep stopped; rerun the same command to continue the study.") from None
    if 130 in codes:
        raise TrainingInterrupted("a worker was stopped; rerun the same command to continue the study.")
    return max(codes)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from ..errors import ConfigError

    if importlib.util.find_spec("optuna") is None:
        raise ConfigError("sweep", "optuna", "is not installed; install it with pip install 'hf-transfer-kit[sweep]'.")
    if args.n_jobs < 1:
        raise ConfigError("--n-jobs", args.n_jobs, "use a positive number of worker processes, e.g. 2.")
    from ..sweep import check_options, open_study, plan_sweep, run_sweep, study_report

    check_options(args.trials, args.keep)
    plan = plan_sweep(args.config, args.overrides, args.study_dir, study_name=args.study_name, storage=args.storage,
                      seed=args.seed)
    if args.n_jobs > 1:
        open_study(plan)  # created once, before the workers load it
        start = time.time()
        code = run_workers(args)
        _, result = study_report(plan, since=start)
        if code:
            print(f"[sweep] a worker failed (exit {code}); see its error above", file=sys.stderr, flush=True)
    else:
        result = run_sweep(plan, args.trials, pruner=args.pruner, pruner_startup_trials=args.pruner_startup_trials,
                           keep=args.keep)
        code = 0
    if args.worker:
        return code
    print(result.summary(), file=sys.stderr, flush=True)
    print(json.dumps(result.to_json()))
    sys.stdout.flush()
    return code
