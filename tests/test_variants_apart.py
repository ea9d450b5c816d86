"""Runs that use unlabeled target-language text (per-language centering) and bridges of another training recipe are
strategies of their own: the leaderboard never mixes centred runs with English-only ones, and `eval seeds` compares
each variant with its plain strategy."""
import json

from eval.leaderboard import markdown
from eval.records import load_records, recipe_tag
from fusion.files import write_json_atomic
from eval.seeds import compare, own_baseline, runs_by_strategy
from layerbridge_app import leaderboard_view
from tests.conftest import write_run

SIB = {"eng_Latn": 0.7, "sin_Sinh": 0.4, "tam_Taml": 0.45}


def bridge(tmp_path, name, seed):
    """A checkpoint directory whose train_results.json records its seed (where eval.records reads it)."""
    path = tmp_path / "ckpt" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "train_results.json").write_text(json.dumps({"task": "sib200", "seed": seed}))
    return path


def centred(results_dir, name, seed, path):
    write_run(results_dir, name, "sib200", {k: v + 0.1 for k, v in SIB.items()}, strategy="last", n=30, seed=seed,
              path=path)
    f = results_dir / name / "sib200.json"
    data = json.loads(f.read_text())
    data["model"]["centering"] = {"uses_unlabeled_target_text": True}
    write_json_atomic(f, data)


def fixture(tmp_path):
    res = tmp_path / "results"
    for s in (0, 1):
        suffix = f"-s{s}" if s else ""
        path = bridge(tmp_path, f"tiny-topic-last{suffix}", s)
        write_run(res, f"tiny-topic-last{suffix}", "sib200", SIB, strategy="last", n=30, seed=s, path=path)
        centred(res, f"tiny-topic-last+centered{suffix}", s, path)
    ckpt = tmp_path / "ckpt" / "tiny-topic-transformer-softmax-ent"
    ckpt.mkdir(parents=True)
    (ckpt / "train_results.json").write_text(json.dumps({"seed": 0, "recipe": {
        "lr": 2e-3, "fusion_lr": 2e-3, "fusion_entropy_weight": 0.05, "transformer_last_layer_init": 0.0,
        "ema_decay": 0.0}}))
    write_run(res, "tiny-topic-transformer-softmax-ent", "sib200", SIB, strategy="transformer-softmax", n=30,
              path=ckpt)
    return res


def test_centred_runs_are_a_board_of_their_own(tmp_path):
    res = fixture(tmp_path)
    v = leaderboard_view.view(res, "sib200", "checkpoints", tmp_path)
    assert not any("+centered" in str(m) for m in v["table"]["model"])
    assert "2 runs that also read unlabeled target-language text" in v["note"]
    md = markdown(load_records(res))
    english, _, centred_board = md.partition("runs that also read unlabeled target-language text")
    assert "+centered" not in english and "tiny-topic-last+centered" in centred_board


def test_seeds_keep_recipes_and_centering_apart_and_compare_each_with_its_plain_strategy(tmp_path):
    res = fixture(tmp_path)
    records = load_records(res)
    runs = runs_by_strategy(records, "sib200")
    assert set(runs) == {"last", "last +centered", "transformer-softmax (entropy 0.05)"}
    assert list(runs["last +centered"]["seed"]) == [0, 1] and list(runs["last"]["seed"]) == [0, 1]
    pairs = set(map(tuple, compare(records, "sib200", n_boot=50)[["strategy", "baseline"]].values))
    assert ("last +centered", "last") in pairs and ("transformer-softmax (entropy 0.05)", "last") in pairs
    assert own_baseline("transformer-softmax (entropy 0.05)") == "transformer-softmax"
    assert own_baseline("last (sentences<=1)") == "last (sentences<=1)"


def test_recipe_tags_name_only_what_departs_from_the_shipped_recipe():
    shipped = {"lr": 2e-3, "fusion_lr": 2e-3, "fusion_entropy_weight": 0.0, "transformer_last_layer_init": 0.0,
               "ema_decay": 0.0}
    assert recipe_tag(shipped) == "" and recipe_tag(None) == ""
    assert recipe_tag(shipped | {"fusion_lr": 1e-4}) == "fusion lr 0.0001"
    assert recipe_tag(shipped | {"ema_decay": 0.99, "transformer_last_layer_init": 2.0}) == "last init 2, EMA 0.99"
