"""``hf-transfer-kit card OUTPUT_DIR``: (re)write the model card and its plots from a saved run.

Training writes the card already; this regenerates it after a template edit, for another repo id,
or when the run was made before a kit upgrade. README.md is replaced (edits made to it are lost).
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("card", help="regenerate a saved run's model card", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("--repo-id", help="Hub repo the card's 'How to use' loads (default: hub.repo_id of the "
                        "run, else the output directory)")
    parser.add_argument("--template", help="a Jinja model card template to use instead of the task's own")


def run(args: argparse.Namespace) -> int:
    from ..cards import write_model_card

    path = write_model_card(args.output_dir, repo_id=args.repo_id, template=args.template)
    print(path)
    return 0
