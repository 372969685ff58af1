"""Structure transfer by knowledge distillation: a fine-tuned MiniLM-L6 teacher -> students with fewer layers.

    python recipes/distill.py                                  # teacher (1 epoch) + 3- and 2-layer students (1 epoch),
                                                               # each with its no-teacher baseline
    python recipes/distill.py --teacher outputs/minilm_full    # reuse a fine-tuned teacher (any `hf-transfer-kit train` output)
    python recipes/distill.py --students 0,2,4 --epochs 2 --set training.learning_rate=2e-4

1. Teacher: MiniLM-L6 fully fine-tuned on BBC news (recipes/configs/nlp/minilm_full.yaml, 1 epoch: the demo's
   settings), unless --teacher names one.
2. Students: for each --students layer set, the teacher cut down to those layers (embeddings, layers and head copied
   from it) and trained with its soft predictions (recipes/configs/distill/minilm_bbc_news.yaml: temperature 2,
   alpha 0.5); each run also trains the same student for the same steps on the labels alone, the honest baseline.
3. Report: parameters, inference samples/s of teacher and student measured side by side on the same test batches,
   test accuracy and the share of the teacher's kept, with and without the teacher.

Writes <out>/distill.json and <out>/distill.png next to the runs; prints a table and, last, one JSON line. Rerun with
the same --out and settings to reuse finished runs.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Optional

from hf_transfer_kit import TextClassificationRecipe, plots
from hf_transfer_kit.config import CONFIG_FILENAME, config_to_dict, load_config
from hf_transfer_kit.tasks import DistillationRecipe

CONFIGS = Path(__file__).parent / "configs"
TEACHER = CONFIGS / "nlp" / "minilm_full.yaml"
DISTILL = CONFIGS / "distill" / "minilm_bbc_news.yaml"


def _settings(config: Any) -> dict[str, Any]:
    """The config minus what a run fills in on save (label names and count) or what may differ between reruns."""
    settings = config_to_dict(config)
    settings["data"]["label_names"] = settings["model"]["num_labels"] = None
    settings.pop("overwrite_output_dir")
    return settings


def run_once(recipe: Any) -> dict[str, Any]:
    """Run ``recipe`` unless its output directory already holds a finished run with the same config; its metrics."""
    out = Path(recipe.config.output_dir)
    saved = out / CONFIG_FILENAME
    if not (saved.is_file() and _settings(load_config(saved)) == _settings(recipe.config)):
        recipe.config.overwrite_output_dir = True
        recipe.run()
    return json.loads((out / "metrics.json").read_text())


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", help="a fine-tuned teacher to reuse (default: fine-tune one into <out>/teacher)")
    parser.add_argument("--teacher-model", default="builtin:all-MiniLM-L6-v2", help="what the teacher is fine-tuned from")
    parser.add_argument("--teacher-epochs", type=float, default=1.0)
    parser.add_argument("--students", nargs="+", default=["0,2,4", "0,5"],
                        help="teacher layers each student keeps, comma-separated (one student per set)")
    parser.add_argument("--epochs", type=float, default=1.0, help="student training epochs (and its baseline's)")
    parser.add_argument("--set", nargs="*", default=[], help="overrides for teacher and students, e.g. data.max_length=64")
    parser.add_argument("--student-set", nargs="*", default=[], help="overrides for the students only, e.g. distill.alpha=0.9")
    parser.add_argument("--out", default="outputs/distill")
    args = parser.parse_args(argv)
    out = Path(args.out)
    start = time.perf_counter()

    teacher = args.teacher
    if teacher is None:
        teacher = str(out / "teacher")
        print(f"== fine-tuning the teacher ({args.teacher_model}, {args.teacher_epochs:g} epoch(s)) into {teacher}",
              flush=True)
        run_once(TextClassificationRecipe.from_yaml(TEACHER, [
            f"output_dir={teacher}", f"model.name_or_path={args.teacher_model}",
            f"training.num_train_epochs={args.teacher_epochs}", "training.save_strategy=no", *args.set]))

    students = []
    for spec in args.students:
        layers = [int(i) for i in spec.split(",")]
        name = f"student_{len(layers)}L_" + "-".join(map(str, layers))
        print(f"== distilling into layers {layers} of the teacher ({name}, {args.epochs:g} epoch(s), with and "
              "without the teacher)", flush=True)
        metrics = run_once(DistillationRecipe.from_yaml(DISTILL, [
            f"output_dir={out / name}", f"model.name_or_path={teacher}", f"distill.teacher={teacher}",
            f"distill.layers={layers}", f"training.num_train_epochs={args.epochs}", "training.save_strategy=no",
            *args.set, *args.student_set]))
        kd = metrics["test"]["distillation"]
        students.append({"label": name, "layers": layers, "output_dir": str(out / name), **kd,
                         "train_seconds": metrics["train"]["wall_seconds"],
                         "majority_class_accuracy": metrics["baselines"]["majority_class_accuracy"]})

    first = students[0]
    report = {"teacher": {"output_dir": teacher, "parameters": first["teacher_parameters"],
                          "accuracy": first["teacher_accuracy"], "f1": first["teacher_f1"],
                          "samples_per_second": first["teacher_samples_per_second"]},
              "students": students, "test_examples": first["timing"]["examples"],
              "wall_seconds": round(time.perf_counter() - start, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "distill.json").write_text(json.dumps(report, indent=1))
    rows = [{"label": "teacher", "parameters": first["teacher_parameters"], "accuracy": first["teacher_accuracy"],
             "samples_per_second": first["teacher_samples_per_second"]}]
    rows += [{"label": s["label"], "parameters": s["student_parameters"], "accuracy": s["student_accuracy"],
              "samples_per_second": s["student_samples_per_second"], "without_kd_accuracy": s["without_kd_accuracy"]}
             for s in students]
    plots.distillation_tradeoff(rows, out / "distill.png")

    print(f"\n{'model':>22s} {'parameters':>12s} {'samples/s':>10s} {'speedup':>8s} {'accuracy':>9s} {'kept':>7s} "
          f"{'no-KD acc.':>10s} {'kept':>7s}")
    print(f"{'teacher':>22s} {first['teacher_parameters']:>12,} {first['teacher_samples_per_second']:>10.1f} "
          f"{'1.00x':>8s} {first['teacher_accuracy']:>9.4f} {'100 %':>7s}")
    for s in students:
        print(f"{s['label']:>22s} {s['student_parameters']:>12,} {s['student_samples_per_second']:>10.1f} "
              f"{s['speedup']:>7.2f}x {s['student_accuracy']:>9.4f} {100 * s['accuracy_kept']:>5.1f} % "
              f"{s['without_kd_accuracy']:>10.4f} {100 * s['without_kd_accuracy_kept']:>5.1f} %")
    print(f"(test accuracy on {report['test_examples']} articles; speeds measured side by side per student run, "
          f"the teacher's row shows the first run's; {report['wall_seconds']:.0f} s in all; plot: {out / 'distill.png'})")
    print(json.dumps({"teacher_accuracy": first["teacher_accuracy"], "students": {
        s["label"]: {"parameters": s["student_parameters"], "speedup": s["speedup"], "accuracy": s["student_accuracy"],
                     "kept": s["accuracy_kept"], "without_kd_accuracy": s["without_kd_accuracy"]} for s in students}}))
    return report


if __name__ == "__main__":
    main()
