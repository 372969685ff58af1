"""Publishing end to end against a real HTTP server on 127.0.0.1 (tests/hub_server.py) with the real
huggingface_hub client: push, download back with snapshot_download, compare bytes, reload and predict;
private repos, re-push, merged adapters, branches, 5xx retries, bad tokens and bad input; and the
secrets check of issue 8: a sentinel token appears in no log line, config, card or file.

In-process tests point huggingface_hub at the server by patching the constants it reads from
HF_ENDPOINT / HF_HUB_OFFLINE / HF_HUB_DISABLE_XET at import (conftest imports it offline first);
the subprocess test sets the real environment variables, as a user would.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from conftest import tiny_config, toy_dataset
from hf_transfer_kit import TextClassificationRecipe
from hf_transfer_kit.config import HubConfig
from hf_transfer_kit.errors import ConfigError
from hf_transfer_kit.hub import PushError, push_output
from hf_transfer_kit.inference import load_for_inference
from hub_server import HubServer

ROOT = Path(__file__).parent.parent
ALICE = "hf_alice_write_token_0123456789"
BOB = "hf_bob_write_token_9876543210"
SAMPLE = "a football match in the rain"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: str) -> dict[str, Path]:
    """A LoRA run whose config names its repo (so its card does too) and a full run that names none."""
    out = {}
    for name, strategy, repo in (("lora", {"name": "lora", "r": 4}, "alice/tiny-lora"), ("full", None, None)):
        cfg = tiny_config(tmp_path_factory.mktemp(name), tiny_model_dir, strategy)
        cfg.hub.repo_id = repo
        recipe = TextClassificationRecipe(cfg, train_dataset=toy_dataset(48), test_dataset=toy_dataset(12, seed=1))
        out[name] = recipe.run().output_dir
    return out


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HubServer]:
    from huggingface_hub import constants

    with HubServer({ALICE: "alice", BOB: "bob"}) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            server.url + "/{repo_id}/resolve/{revision}/{filename}")
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the server speaks LFS, not Xet
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-saved-token"))
        monkeypatch.setenv("HF_TOKEN", ALICE)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        yield server


def fingerprint(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory`` (hidden ones included) and the listing of its parent."""
    files = {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(directory.rglob("*")) if p.is_file()}
    files["<siblings>"] = ",".join(sorted(p.name for p in directory.parent.iterdir()))
    return files


def download(repo_id: str, tmp_path: Path, token: object = None) -> Path:
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id, cache_dir=str(tmp_path / f"dl-{len(list(tmp_path.iterdir()))}"),
                                  token=token))


def logits(model: torch.nn.Module, tokenizer: object) -> torch.Tensor:
    with torch.inference_mode():
        return model(**tokenizer([SAMPLE, "new computer chip"], return_tensors="pt", padding=True)).logits


def test_push_round_trip_private_adapter(runs: dict[str, Path], hub: HubServer, tmp_path: Path) -> None:
    out = runs["lora"]
    before = fingerprint(out)
    url = push_output(out, HubConfig(repo_id="alice/tiny-lora"))
    repo = hub.repos["alice/tiny-lora"]
    assert url == f"{hub.url}/alice/tiny-lora/commit/{repo.branches['main']}"
    assert repo.private and len(repo.history()) == 2  # the repo's initial commit + ours: one commit per push
    assert repo.history()[0].message.startswith("hf-transfer-kit: lora fine-tune of ")
    local = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*")
             if p.is_file() and not p.relative_to(out).as_posix().startswith(".")}  # the kit's own markers stay local
    assert {"adapter_model.safetensors", "images/training_curve.png", "README.md"} <= set(local)
    assert {k: v for k, v in repo.files().items() if k != ".gitattributes"} == local  # stored byte for byte
    assert repo.lfs_objects  # weights and PNGs went through the LFS batch + PUT + verify path

    snapshot = download("alice/tiny-lora", tmp_path)
    for name, data in local.items():
        assert (snapshot / name).read_bytes() == data, name
    model, tokenizer, _ = load_for_inference(snapshot)
    local_model, local_tokenizer, _ = load_for_inference(out)
    assert torch.equal(logits(model, tokenizer), logits(local_model, local_tokenizer))
    assert fingerprint(out) == before

    from huggingface_hub.errors import RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        download("alice/tiny-lora", tmp_path, token=False)  # private: invisible without the owner's token


def test_public_push_card_snippet_works_from_the_hub_and_repush_updates(runs: dict[str, Path], hub: HubServer,
                                                                       tmp_path: Path) -> None:
    """The pushed card's snippet, run verbatim, downloads the model from the server and predicts like the kit."""
    from hf_transfer_kit.cards import write_model_card

    out = runs["full"]
    local_card = (out / "README.md").read_bytes()
    push_output(out, HubConfig(), repo_id="alice/tiny-full", private=False)
    repo = hub.repos["alice/tiny-full"]
    assert not repo.private and (out / "README.md").read_bytes() == local_card  # local card untouched
    pushed_card = repo.files()["README.md"].decode()
    code = re.search(r"```python\n(.*?)```", pushed_card.split("## How to use", 1)[1], re.S).group(1)
    assert 'model="alice/tiny-full"' in code and str(out) not in code
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<pushed card>", "exec"), namespace)  # noqa: S102
    model, tokenizer, _ = load_for_inference(out)
    probs = logits(model, tokenizer)[0].softmax(-1)
    predicted = namespace["classifier"](SAMPLE)[0]
    assert predicted["label"] == model.config.id2label[int(probs.argmax())]
    assert predicted["score"] == pytest.approx(float(probs.max()), abs=1e-5)

    commits = len(repo.history())
    push_output(out, HubConfig(), repo_id="alice/tiny-full")  # nothing changed: no empty commit
    assert len(repo.history()) == commits
    copy = shutil.copytree(out, tmp_path / "again")
    write_model_card(copy, repo_id="alice/tiny-full")
    push_output(copy, HubConfig(), repo_id="alice/tiny-full")  # same repo, new card
    assert len(repo.history()) == commits + 1 and repo.files()["README.md"] == (copy / "README.md").read_bytes()
    assert download("alice/tiny-full", tmp_path, token=False).joinpath("model.safetensors").read_bytes() == \
        (out / "model.safetensors").read_bytes()


def test_merged_push_replaces_the_adapter_with_a_standalone_model(runs: dict[str, Path], hub: HubServer,
                                                                  tmp_path: Path) -> None:
    from huggingface_hub import ModelCard
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = runs["lora"]
    before = fingerprint(out)
    push_output(out, HubConfig(repo_id="alice/tiny-lora"))
    push_output(out, HubConfig(repo_id="alice/tiny-lora"), merged=True)
    files = hub.repos["alice/tiny-lora"].files()
    assert "model.safetensors" in files and "config.json" in files
    assert not {"adapter_model.safetensors", "adapter_config.json"} & set(files)  # stale adapter removed
    assert {"images/training_curve.png", "metrics.json", "recipe_config.yaml"} <= set(files)
    snapshot = download("alice/tiny-lora", tmp_path)
    card = ModelCard.load(snapshot / "README.md")
    assert card.data.library_name == "transformers" and "merged into its base" in card.text
    merged = AutoModelForSequenceClassification.from_pretrained(snapshot)
    adapter, tokenizer, _ = load_for_inference(out)
    merged_logits = logits(merged, AutoTokenizer.from_pretrained(snapshot))
    assert torch.allclose(merged_logits, logits(adapter, tokenizer), atol=1e-5)
    assert fingerprint(out) == before
    with pytest.raises(ConfigError, match=r"--merged=True: only adapter outputs can be merged"):
        push_output(runs["full"], HubConfig(repo_id="alice/tiny-full"), merged=True)


def test_push_to_a_branch_leaves_main_alone(runs: dict[str, Path], hub: HubServer) -> None:
    push_output(runs["lora"], HubConfig(repo_id="alice/branchy"), revision="experiment-1")
    repo = hub.repos["alice/branchy"]
    assert set(repo.files("main")) == {".gitattributes"}
    assert "adapter_model.safetensors" in repo.files("experiment-1")


def test_transient_server_errors_are_retried(runs: dict[str, Path], hub: HubServer) -> None:
    hub.fail("POST", r"^/api/repos/create$", status=502, times=1)
    hub.fail("POST", r"/commit/main$", status=503, times=1)
    push_output(runs["lora"], HubConfig(repo_id="alice/flaky"), retry_wait=0.01)  # 3 attempts: create, commit, ok
    assert sum(1 for method, path in hub.requests if method == "POST" and path == "/api/repos/create") == 3
    assert sum(1 for method, path in hub.requests if method == "POST" and path.endswith("/commit/main")) == 2
    assert "adapter_model.safetensors" in hub.repos["alice/flaky"].files()
    assert len(hub.repos["alice/flaky"].history()) == 2  # retried, yet one commit


def test_failing_server_gives_a_clear_error_and_leaves_everything_as_it_was(runs: dict[str, Path],
                                                                           hub: HubServer) -> None:
    out = runs["lora"]
    before = fingerprint(out)
    hub.fail("POST", r"/commit/main$", status=500, times=100)
    with pytest.raises(PushError, match=r"failed 3 times \(last: .*500.*\)\. The local output is unchanged; run "
                                        r"`hf-transfer-kit push .* --repo-id alice/down` again later"):
        push_output(out, HubConfig(repo_id="alice/down"), retry_wait=0.01)
    assert fingerprint(out) == before  # no staging directory left beside it either
    assert set(hub.repos["alice/down"].files()) == {".gitattributes"}  # nothing half-pushed


def test_wrong_token_is_a_clear_error(runs: dict[str, Path], hub: HubServer,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_valid_token")
    with pytest.raises(ConfigError, match=r"HF_TOKEN='<set, rejected>': the Hub at http://127\.0\.0\.1:\d+ rejected "
                                          r"the token") as err:
        push_output(runs["lora"], HubConfig(repo_id="alice/x"))
    assert "hf_not_a_valid_token" not in str(err.value) and not hub.repos


def test_someone_elses_namespace_is_refused(runs: dict[str, Path], hub: HubServer) -> None:
    with pytest.raises(ConfigError, match=r"hub.repo_id='bob/tiny': the token's account may not write to 'bob'"):
        push_output(runs["lora"], HubConfig(repo_id="bob/tiny"))
    assert not hub.repos


def test_bad_input_is_refused_before_anything_is_sent(runs: dict[str, Path], hub: HubServer, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    incomplete = shutil.copytree(runs["lora"], tmp_path / "incomplete")
    (incomplete / "adapter_model.safetensors").unlink()
    no_card = shutil.copytree(runs["full"], tmp_path / "no-card")
    (no_card / "README.md").unlink()
    staging = shutil.copytree(runs["full"], tmp_path / ".run.partial")
    cases = [
        (runs["lora"], HubConfig(), r"hub.repo_id=None: set hub.repo_id=<user>/<name> \(or --repo-id\)"),
        (runs["lora"], HubConfig(repo_id="not a/valid/id"), r"hub.repo_id='not a/valid/id': not a valid repo id"),
        (tmp_path / "missing", HubConfig(repo_id="alice/x"), r"output_dir=.*missing': no such directory"),
        (incomplete, HubConfig(repo_id="alice/x"), r"is missing model.safetensors or .*adapter_model.safetensors"),
        (no_card, HubConfig(repo_id="alice/x"), r"is missing README.md; run `hf-transfer-kit card OUTPUT_DIR`"),
        (staging, HubConfig(repo_id="alice/x"), r"staging directory of an unfinished run"),
    ]
    for directory, config, message in cases:
        with pytest.raises(ConfigError, match=message):
            push_output(directory, config)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ConfigError, match=r"HF_TOKEN='<unset>': no Hub token found; set the HF_TOKEN environment "
                                          r"variable .* or run `hf auth login`"):
        push_output(runs["lora"], HubConfig(repo_id="alice/x"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"HF_HUB_OFFLINE='1': pushing needs the Hub endpoint; unset HF_HUB_OFFLINE"):
        push_output(runs["lora"], HubConfig(repo_id="alice/x"))
    assert hub.requests == []


def test_sentinel_token_never_leaks_from_train_card_push(tiny_model_dir: str, tmp_path: Path) -> None:
    """Issue 8 item 6: train, regenerate the card and push through the CLI with a sentinel token and every
    log switched to debug (huggingface_hub's HF_DEBUG logs each request as a curl command); the token
    must appear in no output line and in no file of the run, the Hub repo or HF_HOME."""
    sentinel = "hf_SENTINEL_ZXQ_7f3a9c1e5b2d4068"
    toy_dataset(40).to_json(str(tmp_path / "train.jsonl"))
    toy_dataset(9, seed=1).to_json(str(tmp_path / "test.jsonl"))
    out = tmp_path / "run"
    with HubServer({sentinel: "alice"}) as server:
        env = {**os.environ, "HF_TOKEN": sentinel, "HF_ENDPOINT": server.url, "HF_HUB_OFFLINE": "0",
               "HF_DATASETS_OFFLINE": "1", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf-home"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_DEBUG": "1", "HF_HUB_VERBOSITY": "debug",
               "TRANSFORMERS_VERBOSITY": "debug", "NO_PROXY": "127.0.0.1", "TOKENIZERS_PARALLELISM": "false"}
        commands = [
            ["train", "recipes/configs/nlp/minilm_lora.yaml", f"model.name_or_path={tiny_model_dir}",
             "data.dataset=null", f"data.train_file={tmp_path / 'train.jsonl'}",
             f"data.test_file={tmp_path / 'test.jsonl'}", "training.max_steps=2", "training.bf16=false",
             "training.eval_strategy=no", "training.logging_steps=1", "strategy.r=4", "hub.repo_id=alice/secret-run",
             "--output-dir", str(out)],
            ["card", str(out)],
            ["push", str(out)],
        ]
        logs = []
        for args in commands:
            proc = subprocess.run([sys.executable, "-m", "hf_transfer_kit", *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-3000:]}"
            logs.append(proc.stdout + proc.stderr)
        repo = server.repos["alice/secret-run"]  # the push authenticated with the sentinel: it was really used
    assert "adapter_model.safetensors" in repo.files()
    assert "curl -X POST" in logs[2] and "<TOKEN>" in logs[2]  # requests were logged, with the header redacted
    for text in logs:
        assert sentinel not in text and sentinel[3:20] not in text
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert sentinel.encode() not in path.read_bytes(), path
    for name, data in repo.files().items():
        assert sentinel.encode() not in data, name
    assert "HF_TOKEN" not in (out / "recipe_config.yaml").read_text()
