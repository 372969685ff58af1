"""Config parsing: strict keys with suggestions, dotted overrides, round trip, strategy switching."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from hf_transfer_kit.config import CONFIG_FILENAME, RecipeConfig, apply_overrides, config_from_dict, load_config, save_config
from hf_transfer_kit.config.loader import parse_value
from hf_transfer_kit.errors import ConfigError

CONFIGS = sorted((Path(__file__).parent.parent / "recipes" / "configs" / "nlp").glob("*.yaml"))


def test_defaults_work_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg.model.name_or_path == "builtin:all-MiniLM-L6-v2"
    assert cfg.data.dataset == "builtin:bbc_news"
    assert cfg.strategy.name == "full"
    assert cfg.training["report_to"] == "none"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_configs_parse_and_show_their_command(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.task == "text-classification"
    command = "sweep" if path.stem.endswith("_sweep") else "train"  # a sweep's base is headed by its sweep
    assert f"hf-transfer-kit {command} recipes/configs/nlp/{path.name}" in path.read_text().splitlines()[0]


@pytest.mark.parametrize("raw, param, hint", [
    ({"modle": {}}, "modle", "model"),
    ({"model": {"name_or_pth": "x"}}, "model.name_or_pth", "name_or_path"),
    ({"data": {"text_colum": "t"}}, "data.text_colum", "text_column"),
    ({"training": {"learning_rat": 1e-3}}, "training.learning_rat", "learning_rate"),
    ({"strategy": {"name": "lroa"}}, "strategy.name", "lora"),
    ({"strategy": {"name": "lora", "rank": 4}}, "strategy.rank", "Valid"),
    ({"strategy": {"name": "partial", "freeze_layers": 2}}, "strategy.freeze_layers", "freeze_bottom_layers"),
    ({"strategy": {"name": "peft", "method": "lorra"}}, "strategy.method", "lora"),
    ({"strategy": {"name": "peft"}}, "strategy.method", "ia3"),
    ({"data": {"validation_size": 1.5}}, "data.validation_size", "fraction"),
    ({"data": {"max_length": "long"}}, "data.max_length", "whole number"),
    ({"training": {"output_dir": "x"}}, "training.output_dir", "top-level output_dir"),
    ({"hub": {"push_to_hub": True}}, "hub.repo_id", "repo_id"),
])
def test_bad_keys_name_parameter_value_and_fix(raw: dict, param: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(raw)
    assert info.value.param == param
    assert param in str(info.value) and hint in str(info.value)


def test_overrides_switch_strategy_and_parse_numbers() -> None:
    cfg = load_config(CONFIGS[0].with_name("minilm_full.yaml"), ["strategy.name=lora", "strategy.r=4", "training.learning_rate=3e-4",
                                   "data.max_length=64", "strategy.target_modules=[query,key]"])
    assert cfg.strategy.name == "lora"
    assert cfg.strategy.options["r"] == 4 and cfg.strategy.options["target_modules"] == ["query", "key"]
    assert cfg.training["learning_rate"] == pytest.approx(3e-4)
    assert cfg.data.max_length == 64


def test_override_without_equals_is_an_error() -> None:
    with pytest.raises(ConfigError, match="dotted.key=value"):
        apply_overrides({}, ["training.learning_rate"])


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, ["strategy.name=lora", "strategy.r=16", "training.num_train_epochs=2"])
    save_config(cfg, tmp_path)
    again = load_config(tmp_path / CONFIG_FILENAME)
    assert again == cfg
    assert "hf-transfer-kit train" in (tmp_path / CONFIG_FILENAME).read_text().splitlines()[0]


def test_config_built_in_code_validates_training() -> None:
    with pytest.raises(ConfigError, match="training.num_epochs"):
        RecipeConfig(training={"num_epochs": 3})


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False, width=32),
                 st.booleans(), st.text(alphabet="abcxyz_-", min_size=1, max_size=8)))
def test_override_values_parse_like_yaml(value: object) -> None:
    text = yaml.safe_dump(value).removesuffix("\n...\n").strip()
    parsed = parse_value(text)
    if isinstance(value, float):
        assert float(parsed) == pytest.approx(value, rel=1e-6)
    else:
        assert parsed == value


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=4), st.integers(0, 1000))
def test_dotted_override_sets_nested_value(path: list[str], value: int) -> None:
    raw = apply_overrides({}, [".".join(path) + f"={value}"])
    node = raw
    for part in path[:-1]:
        node = node[part]
    assert node[path[-1]] == value


def test_a_token_pasted_into_the_config_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, ["hub.token=hf_SENTINEL_abc123"])
    assert "hf_SENTINEL_abc123" not in str(info.value) and "hub.token" in str(info.value)


# ---- one data section per task -----------------------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"


def test_each_task_reads_its_own_data_section() -> None:
    from hf_transfer_kit.registry import get_task

    for task in ("text-classification", "image-classification", "token-classification", "question-answering",
                 "fill-mask", "text-generation", "text2text-generation", "distill", "pretrain", "seq2seq"):
        cfg = config_from_dict({"task": task})
        assert type(cfg.data) is get_task(task).data_config
    assert not hasattr(config_from_dict({}).data, "image_column")  # text classification has no image fields


def test_a_key_of_another_task_names_that_task() -> None:
    with pytest.raises(ConfigError) as err:
        config_from_dict({"data": {"words_column": "tokens"}})
    assert err.value.param == "data.words_column"
    assert "data field of task token-classification, not of task text-classification" in str(err.value)
    with pytest.raises(ConfigError, match=r"unknown key in 'data'\. Did you mean 'words_column'"):
        config_from_dict({"task": "token-classification", "data": {"word_column": "tokens"}})


def test_a_config_saved_before_tasks_had_their_own_data_sections_still_loads(tmp_path: Path) -> None:
    """tests/fixtures/saved_before_tasks: written by the previous release's save_config, every task's data fields in
    one section. A saved run's config (its header says so) drops the other tasks' fields; values of its own stay."""
    cfg = load_config(FIXTURES / "saved_before_tasks" / CONFIG_FILENAME)
    assert cfg.task == "token-classification" and cfg.data.label_names == ["O", "B-PER", "I-PER"]
    assert cfg.data.words_column == "tokens" and not hasattr(cfg.data, "image_column")
    raw = yaml.safe_load((FIXTURES / "saved_before_tasks" / CONFIG_FILENAME).read_text())
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(raw))  # the same keys in a user's own config: refused
    with pytest.raises(ConfigError, match="data field of task"):
        load_config(tmp_path / "mine.yaml")
