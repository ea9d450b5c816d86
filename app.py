"""LayerBridge demo (Gradio): classify Sinhala, Tamil, Bengali, Hindi or English text with a frozen multilingual
encoder fused, layer by layer, into a frozen English LLM, and see which encoder layers each token draws on.

    python app.py                                   # pocket checkpoints under checkpoints/, http://127.0.0.1:7860
    python app.py --preset tiny --checkpoints-dir /tmp/ckpts --port 7861

Tabs: Predict (one checkpoint), Compare (every strategy, the LLM alone and the encoder alone),
Leaderboard (results/ of `python -m eval run`), About. Models load once at start-up (onto the GPU where there is
one); the model calls of Predict and Compare share one queue group that runs one at a time, each user action one
call (one @spaces.GPU call on a ZeroGPU Space). The leaderboard is computed once per change of the results files,
outside that group. The task families, their input boxes, titles and examples come from the tasks themselves
(tasks/): a new classification family needs no change here.
"""
import argparse
import functools
import logging
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home

from layerbridge_app import zerogpu  # noqa: E402, I001  first: on ZeroGPU, `spaces` before torch and any model

import gradio as gr  # noqa: E402

from fusion.errors import InputError, LayerBridgeError
from fusion.pocket import gemma_licence_path
from fusion.precision import PRECISIONS
from fusion.spec import PlainSpec, ProbeSpec
from fusion.strategies import STRATEGY_REGISTRY
from layerbridge_app import leaderboard_view as leaderboard
from layerbridge_app import views
from layerbridge_app.about import about_markdown
from layerbridge_app.registry import BridgeKey, Registry, load_registry
from layerbridge_app.results_cache import DirectoryCache
from layerbridge_app.settings import Settings, load_settings
from layerbridge_app.text import clean_text, detect_language
from tasks import FAMILIES, TASKS, Task, get_task

log = logging.getLogger("layerbridge.app")

# The input boxes: every text field any task's template needs, in the order of the families (tasks.FAMILIES).
# The endpoints take (family, [strategy,] one value per field); a task reads the fields it names.
FIELDS = list(dict.fromkeys(f for family in FAMILIES for f in get_task(family).text_fields))
CSS = views.CSS + """
.lb-title h1 {margin-bottom: 0; }
.lb-card {margin: 4px 0; }
.lb-card table {font-size: 13px; margin: 4px 0 8px; }
.lb-card th {text-align: start; padding-right: 12px; font-weight: 600; }
.lb-alt {font-size: 12px; color: var(--body-text-color-subdued); margin: -4px 0 8px; }
"""
DOWNLOADS = Path(tempfile.mkdtemp(prefix="layerbridge-app-"))  # leaderboard downloads and the licence copy
FOOTER_LINKS = ["api", "gradio", "settings"]   # Gradio's footer: "Use via API" (the named endpoints), its settings
MODEL_QUEUE = "model"                          # the queue group of every event that runs a model: one at a time
# The Leaderboard's language views: every task's language groups and "all" (each benchmark offers its own)
LANGUAGE_VIEWS = list(dict.fromkeys(v for task in TASKS for v in leaderboard.language_views(task)))

# The registry and settings are module-level so that the model call takes plain, picklable arguments (ZeroGPU runs
# it in another process); build_demo sets them, and wraps classify_with with @spaces.GPU (layerbridge_app.zerogpu).
REGISTRY: Registry | None = None
SETTINGS: Settings | None = None


def classify_models(keys: list, prompt: str, choices: list[str]) -> list[dict | None]:
    """Every model of `keys` classifies the prompt, all in this one call (a user action makes one call: on ZeroGPU,
    one @spaces.GPU call). keys: registry keys (layerbridge_app.registry): BridgeKey(family, strategy) of a loaded
    bridge, PlainSpec for the LLM reading the prompt without the encoder, ProbeSpec for the encoder alone. None where
    that model is not loaded."""
    models = [REGISTRY.model(key) for key in keys]
    return [None if m is None else m.classify([prompt], choices, scoring=SETTINGS.scoring)[0] for m in models]


def gpu_seconds(keys: list, prompt: str, choices: list[str]) -> int:
    """ZeroGPU's dynamic duration of classify_models(keys, prompt, choices), from the same arguments: a fixed part
    per call and a part per model it runs (spaces.yaml: zerogpu_call_seconds, zerogpu_model_seconds)."""
    return zerogpu.reserved_seconds(sum(REGISTRY.model(key) is not None for key in keys),
                                    SETTINGS.zerogpu_call_seconds, SETTINGS.zerogpu_model_seconds)


classify_with = classify_models   # build_demo: zerogpu.gpu(classify_models, gpu_seconds)


def user_errors(fn):
    """Errors a user can act on become a message in the page; anything else a short note (details in the log)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except LayerBridgeError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except Exception as e:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(f"Something went wrong ({type(e).__name__}). The details are in the server log.",
                           print_exception=False) from None
    return wrapper


# ---------------------------------------------------------------- requests

def read_input(family, values, max_chars: int):
    """values: one per FIELDS. -> (task, prompt sent to the model, detected language, notes), or a message
    (InputError) for unusable input."""
    if not family:
        raise InputError("No task was chosen: pick one in the Task list (only tasks with a trained checkpoint are "
                         "offered).")
    task = get_task(family)
    given = dict(zip(FIELDS, values))
    cleaned = {f: clean_text(given.get(f), max_chars) for f in task.text_fields}
    empty = [f for f, c in cleaned.items() if not c.text]
    if len(task.text_fields) == 1 and empty:
        raise InputError(f"The {empty[0]} box is empty: type or paste a sentence (or pick an example).")
    if empty:
        raise InputError(f"{task.label} needs {'both' if len(cleaned) == 2 else 'all of'} "
                         f"{' and '.join('a ' + f for f in task.text_fields)}: fill in every box (or pick an example).")
    prefix = (lambda f: f"{f.capitalize()}: ") if len(cleaned) > 1 else (lambda f: "")
    notes = [prefix(f) + n for f, c in cleaned.items() for n in c.notes]
    example = {f: c.text for f, c in cleaned.items()}
    return task, task.prompt(example), detect_language(" ".join(example.values())), notes


def rounded(xs, digits=4):
    return [rounded(x, digits) for x in xs] if isinstance(xs, (list, tuple)) else round(float(xs), digits)


def label_value(result: dict) -> dict:
    return {c.strip(): float(p) for c, p in zip(result["choices"], result["probs"])}


def truncation_note(result: dict, key) -> list[str]:
    if not result.get("truncated"):
        return []
    reader, limit = REGISTRY.model(key).input_limit()
    return [f"The text is longer than {reader}'s limit of {limit} tokens: it was cut to {limit} tokens."]


def info_markdown(lang, models: str, notes: list[str]) -> str:
    lines = [lang.describe(), models] + [f"⚠️ {n}" for n in notes]
    return "\n\n".join(lines)


def predict(family, strategy, *values):
    """values: one per FIELDS (the task reads its own)."""
    progress = gr.Progress()
    task, prompt, lang, notes = read_input(family, values, SETTINGS.max_input_chars)
    if REGISTRY.get(family, strategy) is None:
        have = ", ".join(REGISTRY.strategies(family)) or "none"
        raise gr.Error(f"There is no trained {strategy!r} checkpoint for this task (available: {have}).")
    progress(0.2, desc="encoder → fusion → LLM")
    key = BridgeKey(family, strategy)
    [result] = classify_with([key], prompt, task.targets)
    progress(0.9, desc="rendering")
    notes += truncation_note(result, key)
    for n in notes:
        gr.Warning(n)
    name = REGISTRY.labels[key]
    bars = views.layer_bars(result["layers"], result["layer_weights"], caption=STRATEGY_REGISTRY[strategy].label,
                            strategy=strategy)
    heat = views.token_heatmap(result["tokens"], result["layers"], result["token_weights"], prompt=prompt,
                               strategy=strategy)
    details = dict(task=task.name, checkpoint=name, strategy=strategy, prompt=prompt,
                   language=dict(code=lang.code, name=lang.name, script=lang.script,
                                 shares={k: round(v, 3) for k, v in lang.shares.items()}),
                   label=result["label"].strip(), probs=label_value(result), layers=result["layers"],
                   layer_weights=rounded(result["layer_weights"]),
                   expected_layer=round(views.expected_layer(result["layers"], result["layer_weights"]), 2),
                   tokens=result["tokens"],
                   token_weights=rounded(result["token_weights"]), truncated=result["truncated"], notes=notes)
    return label_value(result), info_markdown(lang, f"Checkpoint: `{name}`", notes), bars, heat, details


def compare(family, *values):
    """values: one per FIELDS. Every strategy of the settings, then the LLM alone."""
    progress = gr.Progress()
    task, prompt, lang, notes = read_input(family, values, SETTINGS.max_input_chars)
    outputs, details = [], {"task": task.name, "prompt": prompt, "language": lang.code, "models": {}}
    keys = [BridgeKey(family, s) for s in SETTINGS.strategies] + [PlainSpec(SETTINGS.preset),
                                                                   ProbeSpec(SETTINGS.preset, task.family_task)]
    progress(0.1, desc=f"{len(keys)} models")
    for key, result in zip(keys, classify_with(keys, prompt, task.targets)):
        name = "plain LLM" if isinstance(key, PlainSpec) else "encoder alone" if isinstance(key, ProbeSpec) \
            else key.strategy
        if result is None:
            missing = "no encoder-alone baseline trained for this task" if isinstance(key, ProbeSpec) \
                else "no trained checkpoint for this strategy"
            outputs += [None, views.empty(missing)]
            continue
        notes += [n for n in truncation_note(result, key) if n not in notes]
        if isinstance(key, PlainSpec):
            view = views.empty("The LLM reads the prompt text itself (no encoder, no bridge): no layer weights.") \
                + views.prompt_block(prompt, "the LLM")
        elif isinstance(key, ProbeSpec):
            view = views.empty("No LLM: the encoder's last layer, mean-pooled, and a logistic regression trained on "
                               "the same English data (the baseline the LLM has to beat).")
        else:
            view = views.layer_bars(result["layers"], result["layer_weights"], strategy=key.strategy)
        outputs += [label_value(result), view]
        details["models"][name] = dict(label=result["label"].strip(), probs=label_value(result),
                                       layer_weights=rounded(result.get("layer_weights", [])),
                                       truncated=result["truncated"])
    for n in notes:
        gr.Warning(n)
    return [*outputs, info_markdown(lang, "Models: " + ", ".join(f"`{name}`" for k, name in REGISTRY.labels.items()
                                                   if k.family == family) + " and the LLM alone", notes), details]


# ---------------------------------------------------------------- leaderboard

PLOT = gr.Plot(format="png", render=False)   # encodes a chart as the Leaderboard's plots send it


def leaderboard_value(results_dir: Path, benchmark, languages, rows, partial: bool, default_task) -> dict:
    """leaderboard.view, with its charts encoded once (they are sent as they are from then on)."""
    v = leaderboard.view(results_dir, benchmark, rows, DOWNLOADS, languages=languages, partial=partial,
                         default_task=default_task)
    return v | {"accuracy": PLOT.postprocess(v["accuracy"]), "gain": PLOT.postprocess(v["gain"])}


LEADERBOARD = DirectoryCache(leaderboard_value)   # computed once per state of the results directory's files


def leaderboard_outputs(v: dict) -> tuple:
    """The view's table, accuracy chart and its description, gain chart and its description, cards, downloads, note."""
    table = v["table"] if v["table"].empty else leaderboard.table_value(v["table"], v["display"])
    return (table, v["accuracy"], v["accuracy_alt"], v["gain"], v["gain_alt"], v["cards"],
            gr.update(value=v["csv"], visible=v["csv"] is not None),
            gr.update(value=v["json"], visible=v["json"] is not None), v["note"])


def leaderboard_controls(v: dict) -> tuple:
    """The benchmark list, the task's language views, the rows and the partial-runs switch, as the view resolved
    them."""
    return (gr.update(choices=v["tasks"], value=v["task"]),
            gr.update(choices=v["language_choices"], value=v["languages"]), gr.update(value=v["seeds"]),
            gr.update(value=v["partial"], label=v["partial_label"], visible=v["has_partial"]))


def read_leaderboard(benchmark, languages=None, rows=None, partial=False) -> dict:
    """The cached leaderboard view of the settings' results directory; by default the benchmark of the default task
    family (the mission's: SIB-200)."""
    return LEADERBOARD.get(SETTINGS.resolve(SETTINGS.results_dir), benchmark, languages, rows, bool(partial),
                           get_task(SETTINGS.default_family).name)


def leaderboard_view(benchmark, languages, rows, partial):
    """The benchmark's table, charts (with their descriptions), model cards, CSV and JSON downloads and note, for
    a language view ("all" or a language group), rows ("checkpoints" or "mean" over seeds) and partial runs
    (True: shown, labelled with their n)."""
    return leaderboard_outputs(read_leaderboard(benchmark, languages, rows, partial))


def leaderboard_open(benchmark):
    """A benchmark with its default views (first load, or another benchmark chosen): the controls, then the view."""
    v = read_leaderboard(benchmark)
    return *leaderboard_controls(v), *leaderboard_outputs(v)


def leaderboard_refresh(benchmark, languages, rows, partial):
    """Re-reads the results directory (computed again only where a results file has changed), keeping the choices
    that still apply: the controls, then the view."""
    v = read_leaderboard(benchmark, languages, rows, partial)
    return *leaderboard_controls(v), *leaderboard_outputs(v)


# ---------------------------------------------------------------- page

PREDICT_API = ("One text through one trained bridge. Inputs: task family (e.g. news, sentiment, nli, topic), "
               "fusion strategy, then text, premise, hypothesis (a task reads the fields it names; leave the others "
               "empty). Returns: the label probabilities, a Markdown note on the input (language, checkpoint, "
               "truncation), the layer weights and the token-by-layer weights (HTML), and every number as JSON.")
COMPARE_API = ("One text through every strategy's bridge, the LLM alone and the encoder alone, in one model call. "
               "Inputs: task family, then text, premise, hypothesis. Returns, per model, its label probabilities "
               "and a view (HTML), then a Markdown note on the input and every model's numbers as JSON.")


def input_panel(families: list[str], default: str | None):
    """Task selector and one text box per FIELDS, each shown when the selected task reads it. -> (task dropdown,
    boxes, their columns)."""
    task = gr.Dropdown([(get_task(f).label, f) for f in families], value=default, label="Task",
                       interactive=bool(families))
    single = {f for family in FAMILIES for f in get_task(family).text_fields if get_task(family).text_fields == (f,)}
    boxes, columns = [], []
    for f in FIELDS:
        # visibility lives on the columns: clicking an example resets the text boxes' own props to their first ones
        with gr.Column(visible=default is not None and f in get_task(default).text_fields) as column:
            boxes.append(gr.Textbox(label=f.capitalize(), lines=4 if f in single else 2,
                                    placeholder="Type a sentence in Sinhala, Tamil, Bengali, Hindi, English, ..."
                                    if f in single else None))
        columns.append(column)
    return task, boxes, columns


def shown_fields(family) -> list:
    """gr.update per box column: visible when the task reads that field."""
    fields = get_task(family).text_fields if family else ()
    return [gr.update(visible=f in fields) for f in FIELDS]


def example_panel(families: list[str], default: str | None, boxes) -> list:
    """Each task's examples (Task.examples), one group per task; only the selected task's is shown."""
    groups = []
    for family in families:
        task: Task = get_task(family)
        inputs = [boxes[FIELDS.index(f)] for f in task.text_fields]
        with gr.Column(visible=family == default) as group:
            if task.examples:
                gr.Examples([[ex[f] for f in task.text_fields] for ex in task.examples], inputs, label="Examples",
                            example_labels=[f"{ex['lang']}: " + " ⟶ ".join(ex[f] for f in task.text_fields)
                                            for ex in task.examples])
        groups.append(group)
    return groups


def build_demo(registry: Registry, settings: Settings | None = None) -> gr.Blocks:
    global REGISTRY, SETTINGS, classify_with
    REGISTRY, SETTINGS = registry, settings or load_settings()
    settings = SETTINGS
    classify_with = zerogpu.gpu(classify_models, gpu_seconds)
    families = registry.families()
    default = settings.default_family if settings.default_family in families else (families or [None])[0]

    def strategy_choices(family):
        have = registry.strategies(family) if family else []
        value = settings.default_strategy if settings.default_strategy in have else (have[-1] if have else None)
        return [(STRATEGY_REGISTRY[s].label, s) for s in have], value

    def strategy_update(family):
        choices, value = strategy_choices(family)
        return gr.update(choices=choices, value=value)

    def on_task(family):
        return shown_fields(family) + [gr.update(visible=f == family) for f in families]

    with gr.Blocks(title="LayerBridge", analytics_enabled=False) as demo:
        gr.Markdown("# LayerBridge\nA frozen multilingual encoder, **all of its layers fused per token**, read by a "
                    "frozen English LLM. Classify text in Sinhala, Tamil, Bengali, Hindi or English and see which "
                    "encoder layers the bridge draws on.", elem_classes="lb-title")
        if not families:
            gr.Markdown(f"⚠️ **No trained checkpoint found** under `{settings.checkpoints_dir}/` for preset "
                        f"`{settings.preset}` (expected e.g. `{settings.preset}-nli-transformer-softmax/`). "
                        "Train them with `bash scripts/train_pocket_bridges.sh`; the Leaderboard and About tabs work "
                        "without them.")
        with gr.Tabs():
            with gr.Tab("Predict"):
                with gr.Row():
                    with gr.Column(scale=5):
                        task, boxes, columns = input_panel(families, default)
                        choices, value = strategy_choices(default)
                        strategy = gr.Dropdown(choices, value=value, label="Fusion strategy (trained checkpoint)",
                                               interactive=bool(families))
                        with gr.Row():
                            run = gr.Button("Classify", variant="primary")
                            gr.ClearButton(boxes)
                        groups = example_panel(families, default, boxes)
                    with gr.Column(scale=4):
                        label = gr.Label(label="Prediction", elem_id="lb-prediction")
                        info = gr.Markdown(label="Input")
                        bars = gr.HTML(views.empty("The weight of each encoder layer appears here."),
                                       label="Layer weights", elem_id="lb-layer-weights")
                gr.Markdown("#### Tokens × layers")
                heat = gr.HTML(views.empty("Each encoder token and the weight it gives each layer appear here."),
                               label="Token weights", elem_id="lb-token-weights")
                with gr.Accordion("Details (JSON)", open=False):
                    details = gr.JSON(label="Details")
                task.change(on_task, task, [*columns, *groups], api_visibility="private",
                            queue=False)
                task.change(strategy_update, task, strategy, api_visibility="private", queue=False)
                run.click(user_errors(predict), [task, strategy, *boxes],
                          [label, info, bars, heat, details], api_name="predict", concurrency_id=MODEL_QUEUE,
                          concurrency_limit=1, api_description=PREDICT_API)

            with gr.Tab("Compare"):
                with gr.Row():
                    with gr.Column(scale=5):
                        c_task, c_boxes, c_columns = input_panel(families, default)
                        c_run = gr.Button("Compare all", variant="primary")
                        c_groups = example_panel(families, default, c_boxes)
                    with gr.Column(scale=3):
                        c_info = gr.Markdown(label="Input")
                # one card per model, three to a row: the strategies, the LLM alone, the encoder alone
                cards = [(s.replace("-", " ") + (" layer" if s == "last" else ""), "layer weights")
                         for s in settings.strategies]
                cards += [("LLM alone", "no layer weights"), ("encoder alone (no LLM)", "no LLM")]
                c_out = []
                for row in range(0, len(cards), 3):
                    with gr.Row(equal_height=True):
                        for title, placeholder in cards[row:row + 3]:
                            with gr.Column(min_width=280):
                                c_out += [gr.Label(label=title, num_top_classes=3), gr.HTML(views.empty(placeholder))]
                        for _ in range(3 - len(cards[row:row + 3])):   # keep the last row's cards as wide
                            gr.Column(min_width=280)
                with gr.Accordion("Details (JSON)", open=False):
                    c_details = gr.JSON(label="Details")
                c_task.change(on_task, c_task, [*c_columns, *c_groups], api_visibility="private",
                              queue=False)
                c_run.click(user_errors(compare), [c_task, *c_boxes],
                            [*c_out, c_info, c_details], api_name="compare", concurrency_id=MODEL_QUEUE,
                            concurrency_limit=1, api_description=COMPARE_API)

            with gr.Tab("Leaderboard"):
                with gr.Row():
                    lb_task = gr.Dropdown([], label="Benchmark", elem_id="lb-benchmark", scale=2)
                    lb_langs = gr.Radio(LANGUAGE_VIEWS, value="all", label="Languages", elem_id="lb-languages",
                                        scale=3)
                    lb_seeds = gr.Radio(leaderboard.SEEDS, value="mean", label="Rows", elem_id="lb-rows", scale=2)
                    with gr.Column(scale=2, min_width=200):
                        lb_partial = gr.Checkbox(False, label="include partial runs", elem_id="lb-partial",
                                                 visible=False)
                        lb_reload = gr.Button("Reload results", size="sm")
                lb_note = gr.Markdown(elem_id="lb-note")
                lb_table = gr.Dataframe(interactive=False, label="Accuracy % ±half the 95% interval (click a "
                                        "header to sort by value; search filters the rows)", elem_id="lb-table",
                                        max_height=420, pinned_columns=1, show_search="search")
                gr.Markdown("#### Accuracy per language")
                lb_plot = gr.Plot(label="Accuracy per language", show_label=False, elem_id="lb-accuracy-chart")
                lb_plot_alt = gr.Markdown(elem_id="lb-accuracy-alt", elem_classes="lb-alt")
                gr.Markdown("#### Gain over the last-layer bridge on the same test items")
                lb_gain = gr.Plot(label="Gain over the last-layer bridge", show_label=False, elem_id="lb-gain-chart")
                lb_gain_alt = gr.Markdown(elem_id="lb-gain-alt", elem_classes="lb-alt")
                with gr.Accordion("Model cards", open=False):
                    lb_cards = gr.HTML(elem_id="lb-cards")
                with gr.Row():
                    lb_csv = gr.DownloadButton("Download CSV", visible=False)
                    lb_json = gr.DownloadButton("Download JSON", visible=False)
                lb_controls = [lb_task, lb_langs, lb_seeds, lb_partial]
                lb_view = [lb_table, lb_plot, lb_plot_alt, lb_gain, lb_gain_alt, lb_cards, lb_csv, lb_json, lb_note]
                view_fn, open_fn = user_errors(leaderboard_view), user_errors(leaderboard_open)
                refresh_fn = user_errors(leaderboard_refresh)
                lb_reload.click(refresh_fn, lb_controls, [*lb_controls, *lb_view], api_name="leaderboard_refresh",
                                concurrency_id="leaderboard")
                demo.load(open_fn, lb_task, [*lb_controls, *lb_view], api_visibility="private",
                          concurrency_id="leaderboard")
                lb_task.input(open_fn, lb_task, [*lb_controls, *lb_view], api_visibility="private",
                              concurrency_id="leaderboard")
                gr.on([lb_langs.input, lb_seeds.input, lb_partial.input], view_fn, lb_controls, lb_view,
                      api_name="leaderboard", concurrency_id="leaderboard")

            with gr.Tab("About"):
                gr.Markdown(about_markdown(settings, registry))
                licence = gemma_licence_path()
                if licence is not None:
                    copy = DOWNLOADS / "GEMMA_TERMS.html"
                    shutil.copyfile(licence, copy)
                    gr.DownloadButton("Gemma Terms of Use (as shipped with the package)", value=str(copy))
    demo.queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.max_queue_size)
    return demo


def serve(demo: gr.Blocks, host: str, port: int | None, **kwargs):
    # the Soft theme's font with a font per script of the mission's languages before the browser's fallback
    theme = gr.themes.Soft(font=[gr.themes.LocalFont("Montserrat", weights=(400, 700)), *views.FONTS])
    return demo.launch(server_name=host, server_port=port, css=CSS, theme=theme,
                       show_error=False, footer_links=FOOTER_LINKS, **kwargs)


def default_host() -> str:
    """Only this machine, except on a Hugging Face Space (SPACE_ID set), where the proxy must reach the app."""
    return "0.0.0.0" if os.environ.get("SPACE_ID") else "127.0.0.1"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--host", default=default_host(),
                   help="interface to listen on (default 127.0.0.1; 0.0.0.0 on a Hugging Face Space)")
    p.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    p.add_argument("--preset", help="offer the checkpoints <preset>-<family>-<strategy> (spaces.yaml: pocket)")
    p.add_argument("--checkpoints-dir", help="where the trained bridges are (spaces.yaml: checkpoints)")
    p.add_argument("--results-dir", help="results files for the leaderboard (spaces.yaml: results)")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="frozen backbones' precision (spaces.yaml: auto = bfloat16 on CUDA GPUs of compute "
                        "capability 8.0+ and on CPUs with AVX512-BF16/AMX, else float32)")
    p.add_argument("--config", default=None, help="settings file (default: spaces.yaml)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        kwargs = {"path": args.config} if args.config else {}
        settings = load_settings(**kwargs, preset=args.preset, checkpoints_dir=args.checkpoints_dir,
                                 results_dir=args.results_dir, precision=args.precision)
        log.info("loading the %s checkpoints from %s ...", settings.preset, settings.resolve(settings.checkpoints_dir))
        registry = load_registry(settings.resolve(settings.checkpoints_dir), settings.preset, settings.families,
                                 settings.strategies, device=args.device, dtype=settings.precision,
                                 variants=settings.variants, hub_bridges=settings.hub_bridges,
                                 hub_probes=settings.hub_probes)
    except LayerBridgeError as e:
        raise SystemExit(f"error: {e}")
    log.info("%s", registry.describe())
    serve(build_demo(registry, settings), args.host, args.port)


if __name__ == "__main__":
    main()
