"""Accuracy, F1, precision and recall in one `evaluate` module that loads from a local path.

Why a local module: ``evaluate.load("accuracy")`` downloads its script from the Hub, which an
offline or air-gapped machine cannot reach. One module computing the four together also avoids
four passes over the predictions.
"""

import datasets
import evaluate
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

_DESCRIPTION = ("Classification metrics: accuracy, and precision / recall / F1 averaged over classes "
                "(average='macro' weighs every class equally, 'weighted' by support, 'micro' globally).")
_KWARGS_DESCRIPTION = "predictions (list of int), references (list of int), average (str, default 'macro'), labels (list)."


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Classification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION, citation="", inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("int32"), "references": datasets.Value("int32")}),
        )

    def _compute(self, predictions, references, average="macro", labels=None):
        precision, recall, f1, _ = precision_recall_fscore_support(
            references, predictions, average=average, labels=labels, zero_division=0)
        return {"accuracy": float(accuracy_score(references, predictions)),
                "f1": float(f1), "precision": float(precision), "recall": float(recall)}
