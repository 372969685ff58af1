"""``python -m hf_transfer_kit ...`` is the same as the ``hf-transfer-kit`` command."""

import sys

from .cli import main

sys.exit(main())
