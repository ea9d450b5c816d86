"""English-only training of the bridge (tiny preset): loss goes down, resume is exact, multi-process, bad data."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.support import launch_two_processes
from training.train import TrainArgs, main, train

ROOT = Path(__file__).resolve().parents[1]


def nli_file(path: Path, n: int = 48):
    """A small English NLI fixture: the label is decided by a keyword, so the bridge can learn it."""
    rows = []
    words = ["yes", "maybe", "no"]
    for i in range(n):
        label = i % 3
        rows.append({"id": f"fx-{i}", "lang": "en", "premise": f"Sentence number {i} about the weather.",
                     "hypothesis": f"The answer is {words[label]} {i % 5}.", "label": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def args(tmp_path, **kw) -> TrainArgs:
    tmp_path.mkdir(parents=True, exist_ok=True)
    base = dict(output_dir=str(tmp_path / "run"), preset="tiny", strategy="transformer-softmax", task="nli",
                train_file=str(nli_file(tmp_path / "train.jsonl")), lr=1e-2, batch_size=4, max_steps=6,
                save_every=3, eval_examples=6, warmup_ratio=0.0)
    base.update(kw)
    return TrainArgs(**base)


def test_training_lowers_the_loss(tmp_path):
    out = train(args(tmp_path, max_steps=30, save_every=30, strategy="global-softmax", lr=3e-2, mapping="mlp"))
    losses = [json.loads(l)["loss"] for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 30
    # a random tiny LLM over 260 byte tokens starts near ln(260) = 5.56; step-to-step noise is ~0.03
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.1
    record = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert len(record["layer_weights"]) == 4 and abs(sum(record["layer_weights"]) - 1) < 1e-4
    card = (out / "README.md").read_text()
    assert "English dev accuracy" in card and "30 x global batch 4" in card
    # the layer mix on English dev: global softmax gives every token the mix of its layer weights
    mix = json.loads((out / "train_results.json").read_text())["dev_layer_mix"]
    assert mix == pytest.approx(record["layer_weights"], abs=1e-2) and "Layer mix on English dev" in card
    from fusion import FusedModel
    model = FusedModel.from_pretrained(out, device="cpu")
    assert model.config.strategy == "global-softmax"


def interrupt_after(monkeypatch, steps: int):
    """The next training run is killed (KeyboardInterrupt) when it reaches step `steps` + 1: `steps` steps are done,
    those since the last checkpoint are lost."""
    import training.train as tt
    real = tt.batch_indices

    def batch_indices(step, *rest):
        if step == steps:
            monkeypatch.setattr(tt, "batch_indices", real)
            raise KeyboardInterrupt(f"simulated interruption after step {steps}")
        return real(step, *rest)
    monkeypatch.setattr(tt, "batch_indices", batch_indices)


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path, monkeypatch):
    full = train(args(tmp_path / "a"))
    interrupt_after(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        train(args(tmp_path / "b"))   # checkpoint-3 exists, step 4 is lost
    assert (tmp_path / "b" / "run" / "checkpoint-3").is_dir()
    resumed = train(args(tmp_path / "b"))
    a, b = load_file(str(full / "bridge.safetensors")), load_file(str(resumed / "bridge.safetensors"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    steps = [json.loads(l)["step"] for l in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # nothing repeated, nothing skipped in the log either
    assert json.loads((resumed / "train_results.json").read_text())["resumed_from"] == 3


@pytest.mark.timeout(300)
def test_two_process_cpu_run_gives_a_loadable_checkpoint(tmp_path):
    """Two gloo processes, with the main-process-only parts that could leave a rank waiting: the dev scoring every
    2 steps and its broadcast stop decision, the best-bridge reload, the final dev scoring and model card."""
    a = args(tmp_path, max_steps=4, save_every=4)
    proc = launch_two_processes(["training.train", "--preset", "tiny", "--task", "nli", "--train-file", a.train_file,
                                 "--output-dir", a.output_dir, "--max-steps", "4", "--save-every", "4",
                                 "--batch-size", "4", "--lr", "1e-2", "--eval-examples", "6", "--eval-every", "2",
                                 "--patience", "1"], cwd=ROOT, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((Path(a.output_dir) / "train_results.json").read_text())
    assert summary["processes"] == 2 and summary["global_batch"] == 8
    assert summary["steps"] in (2, 4) and summary["trained_steps"] == 4
    assert (Path(a.output_dir) / "best" / "bridge.safetensors").is_file()
    from fusion import FusedModel
    model = FusedModel.from_pretrained(a.output_dir, device="cpu")
    assert model.classify(["a test"], [" Entailment", " Neutral"])[0]["label"] in (" Entailment", " Neutral")


@pytest.mark.parametrize("content,message", [
    ('{"premise": "a", "label": 0}\n', "missing field"),
    ('{"premise": "a", "hypothesis": "b", "label": 7}\n', "not one of the task's labels"),
    ('{"premise": "a", "hypothesis": "b", "label": "maybe"}\n', "not one of the task's labels"),
    ("", "no examples"),
    ("not json\n", "not valid JSON"),
])
def test_bad_training_files_stop_before_training(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["--preset", "tiny", "--task", "nli", "--train-file", str(bad), "--output-dir", str(tmp_path / "o")])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # stopped before any model was built or step taken


def test_non_utf8_training_file_is_refused(tmp_path, capsys):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes('{"premise": "caf\xe9", "hypothesis": "b", "label": 0}\n'.encode("latin-1"))
    with pytest.raises(SystemExit):
        main(["--preset", "tiny", "--task", "nli", "--train-file", str(bad), "--output-dir", str(tmp_path / "o")])
    assert "not UTF-8" in capsys.readouterr().err


def test_config_file_and_unknown_keys(tmp_path, capsys):
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"preset": "tiny", "learning_rate": 1}))
    with pytest.raises(SystemExit):
        main(["--config", str(cfg)])
    assert "unknown keys" in capsys.readouterr().err


def test_dev_selection_keeps_the_best_bridge_and_stops_early(tmp_path, monkeypatch):
    """Dev scored every 2 steps; scripted dev accuracies decide: the best (latest of equals) is shipped, the run stops
    after `patience` evaluations below it, the learning curve is drawn, and a rerun after the stop trains no more."""
    import itertools

    from fusion import FusedModel
    from training.selection import DevSelection
    # steps 2, 4, 6, 8, 10: best = step 6 (ties go to the later); then the final scoring of the kept bridge
    script = itertools.chain([0.2, 0.5, 0.5, 0.4, 0.3], itertools.repeat(0.5))
    snapshots = {}
    real_save = FusedModel.save_pretrained

    def fake_dev(self, model):
        return {"dev_accuracy": next(script), "dev_loss": 1.0, "dev_examples": 6}

    def save_and_remember(self, path, *a, **k):
        if Path(path).name == "best":
            snapshots["best"] = {k_: v.clone() for k_, v in self.bridge.state_dict().items()}
        return real_save(self, path, *a, **k)
    monkeypatch.setattr(DevSelection, "score", fake_dev)
    monkeypatch.setattr(FusedModel, "save_pretrained", save_and_remember)
    a = args(tmp_path, max_steps=20, eval_every=2, patience=2, save_every=4)
    out = train(a)
    result = json.loads((out / "train_results.json").read_text())
    assert result["steps"] == 6 and result["trained_steps"] == 10 and result["stop_reason"].startswith("early stop")
    shipped = load_file(str(out / "bridge.safetensors"))
    assert all(torch.equal(shipped[k], snapshots["best"][k]) for k in shipped)
    assert (out / "learning_curve.png").stat().st_size > 10_000
    assert "Kept the bridge of step 6" in (out / "README.md").read_text()
    dev_steps = [json.loads(l)["step"] for l in (out / "metrics.jsonl").read_text().splitlines() if "dev_accuracy" in l]
    assert dev_steps == [2, 4, 6, 8, 10]
    again = json.loads((train(a) / "train_results.json").read_text())  # the stop is remembered: no more steps
    assert again["trained_steps"] == 10 and again["steps"] == 6


def test_resume_checks_the_bridge_like_from_pretrained(tmp_path):
    """A run directory whose checkpoint holds another strategy's bridge is refused with a message, not loaded."""
    from fusion.errors import CheckpointError
    train(args(tmp_path, max_steps=3, save_every=3, strategy="global-softmax"))
    with pytest.raises(CheckpointError, match="does not match a 'transformer-softmax' bridge"):
        train(args(tmp_path, max_steps=6, save_every=3))


def test_export_ships_the_final_bridge_and_the_reports(tmp_path):
    from fusion import FusedModel
    from training.export import main as export
    out = train(args(tmp_path, max_steps=3, save_every=3))
    export([str(out), str(tmp_path / "shipped")])
    files = {p.name for p in (tmp_path / "shipped").iterdir()}
    assert files == {"config.json", "bridge.safetensors", "README.md", "train_results.json", "metrics.jsonl"}
    assert FusedModel.from_pretrained(tmp_path / "shipped", device="cpu").name == "shipped"


def test_sentence_chunks_train_and_score_dev_on_sentences_of_held_out_texts(benchdata, tmp_path, capsys):
    # news cut into single sentences: every chunk keeps its article's label, no article is both trained on and
    # dev, the dev chunks scored first come from many articles; NLI (two text fields) refuses the option
    from tasks import get_task
    from tasks.data import sentence_chunks
    from training.data import prepare_data
    rows = [{"id": "a", "text": "First one is here. Second one, too, yes! Ok. A third sentence ends it?", "label": 2}]
    assert [r["text"] for r in sentence_chunks(rows, "text", 1)] == [
        "First one is here.", "Second one, too, yes!", "A third sentence ends it?"]          # "Ok." is under 4 words
    assert [r["id"] for r in sentence_chunks(rows, "text", 2)] == ["a#0", "a#1"]
    assert {r["label"] for r in sentence_chunks(rows, "text", 2)} == {2}
    news = get_task("news")
    whole_train, whole_dev = prepare_data(TrainArgs(task="news", data_dir=str(benchdata), seed=1), news)
    train_rows, dev_rows = prepare_data(TrainArgs(task="news", data_dir=str(benchdata), seed=1, sentence_chunks=1),
                                        news)
    article = lambda r: r["id"].split("#")[0]
    assert {article(r) for r in train_rows} <= {r["id"] for r in whole_train}
    assert {article(r) for r in dev_rows} == {r["id"] for r in whole_dev}
    assert len(train_rows) > 10 * len(whole_train)
    assert len({article(r) for r in dev_rows[:300]}) > 100
    per_class = [sum(r["label"] == c for r in train_rows) for c in range(len(news.choices))]
    assert len(set(per_class)) == 1                                   # balanced again after chunking
    labels = {r["id"]: r["label"] for r in whole_train}
    assert all(r["label"] == labels[article(r)] for r in train_rows)
    with pytest.raises(SystemExit):
        main(["--task", "nli", "--preset", "tiny", "--data-dir", str(benchdata), "--sentence-chunks", "1",
              "--output-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert "--sentence-chunks needs a task with one text field; xnli has premise, hypothesis" in err


def test_dev_eval_scores_a_bridge_on_its_runs_dev_texts_in_another_form(benchdata, tmp_path, capsys):
    # a whole-article news bridge (tiny preset) scored on the sentences of its own held-out articles
    from training.dev_eval import dev_eval
    from training.dev_eval import main as dev_main
    out = train(TrainArgs(output_dir=str(tmp_path / "run"), preset="tiny", strategy="last", task="news",
                          data_dir=str(benchdata), max_steps=2, save_every=2, eval_examples=4, batch_size=4,
                          max_encoder_length=32, seed=2))
    whole, model = dev_eval(out, benchdata, examples=5)
    sentences, _ = dev_eval(out, benchdata, sentence_chunks=1, examples=7, backbones=model)
    assert whole["form"] == "whole texts" and sentences["form"] == "sentences<=1"
    assert whole["seed"] == sentences["seed"] == 2 and whole["task"] == "sinhala_news"
    assert whole["dev_examples"] == 5 and sentences["dev_examples"] == 7
    assert 0 <= sentences["dev_accuracy"] <= 1 and sentences["dev_loss"] > 0
    with pytest.raises(SystemExit):
        dev_main([str(tmp_path), "--data-dir", str(benchdata)])
    assert "has no train_results.json with a task and seed" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        dev_main([str(out), "--data-dir", str(benchdata), "--examples", "0"])
    assert "--examples must be at least 1 (got 0)" in capsys.readouterr().err


def test_record_weight_stats_measures_what_training_recorded_and_keeps_what_is_there(benchdata, tmp_path, capsys):
    # a bridge trained before training recorded its layer weight statistics gets them afterwards, on its own dev rows:
    # the same numbers training records for a run that kept its last step
    from fusion import checkpoint
    from training.dev_eval import main as dev_main
    from training.dev_eval import record_weight_stats
    out = train(TrainArgs(output_dir=str(tmp_path / "run"), preset="tiny", strategy="transformer-softmax",
                          task="topic", data_dir=str(benchdata), max_steps=2, save_every=2, eval_every=2,
                          eval_examples=6, batch_size=4, max_encoder_length=32, seed=1, precision="float32"))
    trained = checkpoint.read_train_results(out)
    measured_in_training = trained.pop("dev_weight_stats")
    assert measured_in_training["tokens"] > 0
    checkpoint.write_train_results(out, trained)                       # as an older run left it
    written, model = record_weight_stats(out, benchdata, examples=6, precision="float32")
    assert written["dev_weight_stats"] == measured_in_training
    again = checkpoint.read_train_results(out)
    assert again["dev_weight_stats"] == measured_in_training and "after training" in again["dev_weight_stats_note"]
    assert again["dev_accuracy"] == trained["dev_accuracy"]            # nothing else changed
    dev_main([str(out), "--data-dir", str(benchdata), "--examples", "6", "--record-weight-stats"])
    assert "already recorded" in capsys.readouterr().out
    assert checkpoint.read_train_results(out) == again


def test_weight_average_is_scored_shipped_and_resumed_exactly(tmp_path, monkeypatch):
    """--ema-decay: the bridge that ships is the moving average (not the last weights), and a resumed run gives
    the same average as an uninterrupted one (the average travels in ema.safetensors)."""
    kw = dict(ema_decay=0.5, eval_every=3, patience=0)
    full = train(args(tmp_path / "a", **kw))
    interrupt_after(monkeypatch, 4)
    with pytest.raises(KeyboardInterrupt):
        train(args(tmp_path / "b", **kw))
    assert (tmp_path / "b" / "run" / "checkpoint-3" / "ema.safetensors").is_file()
    resumed = train(args(tmp_path / "b", **kw))
    a, b = load_file(str(full / "bridge.safetensors")), load_file(str(resumed / "bridge.safetensors"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    raw = train(args(tmp_path / "c", eval_every=3))          # same seed, no averaging: other weights ship
    c = load_file(str(raw / "bridge.safetensors"))
    assert any(not torch.allclose(a[k], c[k], atol=1e-4) for k in a)
    summary = json.loads((full / "train_results.json").read_text())
    assert summary["recipe"]["ema_decay"] == 0.5 and "weight average (EMA decay) 0.5" in (full / "README.md").read_text()


def test_fusion_learning_rate_is_its_own_group(tmp_path):
    from fusion import FusedModel
    model = FusedModel.from_preset("tiny", strategy="global-softmax", device="cpu", dtype="float32")
    groups = model.bridge.param_groups(1e-3, temperature_lr=1e-5, fusion_lr=1e-4)
    fusion = {id(p) for p in model.bridge.fusion.parameters()}
    assert [g["lr"] for g in groups] == [1e-3, 1e-4, 1e-5]
    assert all(id(p) not in fusion for p in groups[0]["params"])                    # mapping + boundary
    assert {id(p) for g in groups[1:] for p in g["params"]} == fusion
    assert sum(p.numel() for g in groups for p in g["params"]) == model.num_trainable_parameters()


def test_entropy_bonus_keeps_transformer_softmax_weights_spread(tmp_path):
    """Same seed and data: a strong entropy bonus ends with higher per-token entropy than the plain loss."""
    # the fusion module at the same high lr (its default, 1e-4, would barely move it in 20 steps)
    common = dict(strategy="transformer-softmax", lr=5e-2, fusion_lr=5e-2, max_steps=20, save_every=20,
                  eval_examples=12)
    plain = json.loads((train(args(tmp_path / "a", **common)) / "train_results.json").read_text())
    bonus = json.loads((train(args(tmp_path / "b", fusion_entropy_weight=2.0, **common))
                        / "train_results.json").read_text())
    assert bonus["dev_weight_stats"]["entropy"] > plain["dev_weight_stats"]["entropy"] + 0.05
    assert bonus["recipe"]["fusion_entropy_weight"] == 2.0


def test_last_layer_init_starts_transformer_softmax_near_the_last_layer():
    from fusion import FusedModel
    from fusion.weight_stats import weight_stats
    model = FusedModel.from_preset("tiny", strategy="transformer-softmax", device="cpu", dtype="float32",
                                   transformer_last_layer_init=6.0)
    out = model.classify(["some words here", "more words"], [" a", " b"])
    for o in out:
        assert min(w[-1] for w in o["token_weights"]) > 0.9      # e^6 / (e^6 + 3) = 0.993 before the block's noise
    stats = weight_stats([o["token_weights"] for o in out])
    assert stats["max_weight"] > 0.9 and stats["entropy"] < 0.4


@pytest.mark.parametrize("argv,message", [
    (["--balance", "ture"], "Truthy value expected: got ture"),
    (["--max-steps", "many"], "invalid int value: 'many'"),
    (["--strategy", "fused-somehow"], "unknown fusion strategy 'fused-somehow'"),
])
def test_bad_options_are_refused_with_a_message(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(["--preset", "tiny", "--output-dir", str(tmp_path / "o"), *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_config_file_values_are_read_as_the_command_lines(tmp_path, capsys):
    from training.args import parse_args
    cfg = tmp_path / "train.json"
    cfg.write_text(json.dumps({"preset": "tiny", "balance": False, "lr": 0.01, "max_steps": 3}))
    a = parse_args(["--config", str(cfg), "--lr", "0.5"])              # the command line wins
    assert (a.preset, a.balance, a.lr, a.max_steps) == ("tiny", False, 0.5, 3)
    cfg.write_text(json.dumps({"preset": "tiny", "balance": "ture"}))
    with pytest.raises(SystemExit):
        main(["--config", str(cfg)])
    assert "Truthy value expected: got ture" in capsys.readouterr().err


def test_a_run_of_the_previous_code_exports_loads_resumes_and_gets_its_card(tmp_path):
    """The training queue goes on with the code before the refactor: its runs keep working with this one."""
    import shutil

    from fusion import FusedModel
    from training.export import main as export
    from fusion.model_card import regenerate
    from tasks import get_task
    old = ROOT / "tests" / "data" / "old_run"
    run = tmp_path / "run"
    shutil.copytree(old / "run", run)
    export([str(run), str(tmp_path / "shipped")])
    assert {p.name for p in (tmp_path / "shipped").iterdir()} == {
        "config.json", "bridge.safetensors", "README.md", "train_results.json", "metrics.jsonl", "learning_curve.png"}
    assert FusedModel.from_pretrained(tmp_path / "shipped", device="cpu").config.strategy == "global-softmax"
    assert regenerate(tmp_path / "shipped", get_task("nli")) is False   # its arguments recovered from its own card
    trained = json.loads((tmp_path / "shipped" / "train_results.json").read_text())
    assert trained["args"] == dict(train_file="train.jsonl", batch_size=4, seed=3, eval_every=2, lr=0.01,
                                   temperature_lr=0.0001, weight_decay=0.0, warmup_ratio=0.0, grad_clip=1.0,
                                   fusion_lr=0.01, fusion_entropy_weight=0.0, transformer_last_layer_init=0.0,
                                   ema_decay=0.0)
    assert "Final global-softmax layer weights (one learned weight per layer" in \
        (tmp_path / "shipped" / "README.md").read_text()
    resumed = train(TrainArgs(output_dir=str(run), preset="tiny", strategy="global-softmax", task="nli",
                              train_file=str(old / "train.jsonl"), max_steps=6, save_every=2, eval_every=2,
                              eval_examples=6, batch_size=4, lr=1e-2, temperature_lr=1e-4, keep_checkpoints=1, seed=3,
                              warmup_ratio=0.0, precision="float32"))
    summary = json.loads((resumed / "train_results.json").read_text())
    assert summary["resumed_from"] == 4 and summary["trained_steps"] == 6
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 2, 3, 4, 4, 5, 6, 6]                      # a line per step and per dev scoring


def test_the_training_queues_command_line_reads_as_before():
    """scripts/train_pocket_bridges.sh's flags (its shipped recipe and the ablations' additions) keep their names
    and meaning."""
    from training.args import parse_args
    a = parse_args("--preset pocket --task topic --strategy transformer-softmax --data-dir ../shared/benchdata "
                   "--output-dir runs/x --max-steps 1000 --max-encoder-length 128 --balance false --lr 2e-3 "
                   "--temperature-lr 2e-5 --batch-size 8 --seed 1 --eval-every 100 --patience 5 --eval-examples 300 "
                   "--save-every 100 --keep-checkpoints 1 --precision auto --fusion-lr 1e-4 "
                   "--fusion-entropy-weight 0.05 --transformer-last-layer-init 2 --ema-decay 0.99 "
                   "--sentence-chunks 1".split())
    assert (a.balance, a.max_steps, a.max_encoder_length, a.lr, a.temperature_lr, a.fusion_lr) == \
        (False, 1000, 128, 2e-3, 2e-5, 1e-4)
    assert (a.fusion_entropy_weight, a.transformer_last_layer_init, a.ema_decay, a.sentence_chunks, a.seed) == \
        (0.05, 2.0, 0.99, 1, 1)


def test_transformer_softmax_trains_its_fusion_module_at_its_own_default_lr():
    """Chosen on English dev (docs/fusion.md): transformer softmax's fusion module at 1e-4 unless --fusion-lr says
    otherwise; other strategies' at the mapping's lr. The recipe recorded says which."""
    from training.args import effective_fusion_lr, recipe
    ts = TrainArgs(strategy="transformer-softmax", lr=2e-3)
    assert effective_fusion_lr(ts) == 1e-4 and recipe(ts)["fusion_lr"] == 1e-4
    assert effective_fusion_lr(TrainArgs(strategy="transformer-softmax", lr=2e-3, fusion_lr=2e-3)) == 2e-3
    assert effective_fusion_lr(TrainArgs(strategy="global-softmax", lr=2e-3)) == 2e-3
