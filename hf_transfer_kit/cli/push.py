"""``hf-transfer-kit push OUTPUT_DIR --repo-id USER/NAME``: publish a saved run to the Hub in one commit.

The token comes from HF_TOKEN or `hf auth login`; the endpoint from HF_ENDPOINT. Weights (adapter,
or with --merged the adapter folded into its base), tokenizer / image processor, config, metrics,
card and plots are uploaded; pushing again updates the same repo.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("push", help="upload a saved run to the Hugging Face Hub", description=__doc__)
    parser.add_argument("output_dir", help="directory written by `hf-transfer-kit train`")
    parser.add_argument("--repo-id", help="target repo 'user/name' (default: hub.repo_id of the run)")
    visibility = parser.add_mutually_exclusive_group()
    visibility.add_argument("--private", dest="private", action="store_true", default=None,
                            help="create the repo as private (default: hub.private of the run)")
    visibility.add_argument("--public", dest="private", action="store_false", help="create the repo as public")
    parser.add_argument("--revision", help="push to this branch (created from main when missing)")
    parser.add_argument("--merged", action="store_true", help="merge the adapter into its base and upload the "
                        "standalone model instead of the adapter")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..config import CONFIG_FILENAME, HubConfig, load_config
    from ..hub import PushError, check_complete, push_output

    out = Path(args.output_dir)
    check_complete(out)
    hub = load_config(out / CONFIG_FILENAME).hub if (out / CONFIG_FILENAME).is_file() else HubConfig()
    try:
        url = push_output(out, hub, repo_id=args.repo_id, private=args.private, revision=args.revision,
                          merged=args.merged)
    except PushError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0
