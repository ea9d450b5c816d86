"""HTML views of a prediction, rendered by the browser (Indic scripts need the browser's text shaping).

Every string that comes from the user or a tokenizer goes through html.escape before it is placed in HTML. Every
weight drawn as a bar or a shade is also there as a number: as the element's accessible name (aria-label), and as
text that the heat map's "show the numbers" switch makes visible (and copyable).
"""
import unicodedata
from html import escape

from fusion.strategies import STRATEGY_REGISTRY
from layerbridge_app.text import detect_language

ACCENT = "37, 99, 235"  # rgb of the bars and heat cells

# The app's font stack (the theme's, app.serve): a font per script of the mission's languages, named before the
# browser's own fallback. Left to fontconfig, Chromium on Debian draws a Tamil word that starts with ப or வ in Noto
# Sans Grantha, which maps those two Tamil letters and no others: the rest of the word became boxes (issue 37).
SCRIPT_FONTS = ("Noto Sans Sinhala", "Noto Sans Tamil", "Noto Sans Bengali", "Noto Sans Devanagari",
                "Noto Sans Malayalam", "Noto Sans Telugu", "Noto Sans Kannada", "Noto Sans Gujarati",
                "Noto Sans Gurmukhi", "Noto Sans Oriya", "Noto Sans Ethiopic", "Noto Sans Arabic", "Noto Sans Thai")
FONTS = ("ui-sans-serif", "system-ui", *SCRIPT_FONTS, "sans-serif")

CSS = """
.lb-bars {display: flex; align-items: flex-end; gap: 4px; height: 150px; padding: 18px 4px 0; }
.lb-bar {flex: 1; display: flex; flex-direction: column; align-items: center; justify-content: flex-end;
         height: 100%; min-width: 14px; }
.lb-bar .fill {width: 100%; background: rgb(37, 99, 235); border-radius: 3px 3px 0 0; min-height: 1px; }
.lb-bar .val {font-size: 10px; color: var(--body-text-color-subdued); margin-bottom: 2px; white-space: nowrap; }
.lb-axis {display: flex; gap: 4px; padding: 2px 4px 0; border-top: 1px solid var(--border-color-primary); }
.lb-axis span {flex: 1; min-width: 14px; text-align: center; font-size: 11px; }
.lb-caption {font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
.lb-meaning {font-size: 13px; margin: 6px 0 0; }
.lb-heat {max-height: 420px; overflow: auto; }
.lb-heat table {border-collapse: collapse; font-size: 13px; width: auto; margin: 0; }
.lb-heat th, .lb-heat td {border: 1px solid var(--border-color-primary); padding: 2px 6px; text-align: center; }
.lb-heat thead th {position: sticky; top: 0; background: var(--background-fill-secondary); z-index: 1; }
.lb-heat .tok {text-align: start; white-space: pre; font-size: 15px; font-weight: normal; unicode-bidi: isolate; }
.lb-heat td.cell {min-width: 22px; font-size: 11px; font-variant-numeric: tabular-nums; }
.lb-heat tr.special .tok {color: var(--body-text-color-subdued); font-style: italic; }
.lb-heat .cont {color: var(--body-text-color-subdued); }
.lb-heat td.cell .num {position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%);
                       white-space: nowrap; }
.lb-weights:has(.lb-numbers-switch:checked) td.cell .num {position: static; width: auto; height: auto;
                                                          overflow: visible; clip-path: none; }
.lb-weights:has(.lb-numbers-switch:checked) td.cell {background: none !important; }
.lb-switch {font-size: 13px; display: inline-flex; gap: 6px; align-items: center; margin: 4px 0; cursor: pointer; }
.lb-prompt {font-size: 14px; margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.lb-expected {font-size: 13px; margin: 4px 0 0; }
.lb-empty {color: var(--body-text-color-subdued); font-style: italic; padding: 8px 0; }
"""

SPECIAL = {"<s>", "</s>", "<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "[CLS]", "[SEP]"}

def weights_meaning(strategy: str | None) -> str:
    """The one line that says what `strategy`'s layer weights mean, from the strategy registry ("" for None)."""
    if not strategy:
        return ""
    entry = STRATEGY_REGISTRY.get(strategy)
    if entry is None:
        return f"{strategy}: the weight the fusion gives each encoder layer."
    return f"{entry.label[0].upper()}{entry.label[1:]}: {entry.weights_meaning}."


def meaning_block(strategy: str | None) -> str:
    line = weights_meaning(strategy)
    return f'<div class="lb-meaning">{escape(line)}</div>' if line else ""


def empty(message: str) -> str:
    return f'<div class="lb-empty">{escape(message)}</div>'


EXPECTED_LAYER_NOTE = ("Expected layer = Σ l·w<sub>l</sub>, the weight-averaged depth the bridge reads from (as in "
                       "Tenney et al., 2019): near the top layer means the last layers dominate, lower means earlier "
                       "layers count.")


def expected_layer(layers: list[int], weights: list[float]) -> float:
    """sum_l l * w_l over the layers (weights normalised to sum to 1)."""
    total = sum(weights) or 1.0
    return sum(layer * w for layer, w in zip(layers, weights)) / total


def layer_bars(layers: list[int], weights: list[float], caption: str = "", strategy: str | None = None) -> str:
    """Bar chart of the mean fusion weight per encoder layer, layers in numeric order; each bar is an image whose
    accessible name is its layer and weight. `strategy`: add the line saying what its weights mean."""
    pairs = sorted(zip(layers, weights))
    top = max((w for _, w in pairs), default=0) or 1.0
    bars = "".join(
        f'<div class="lb-bar" role="img" aria-label="layer {layer}: {w:.3f}" title="layer {layer}: {w:.3f}">'
        f'<span class="val" aria-hidden="true">{w:.2f}</span>'
        f'<div class="fill" style="height:{100 * w / top:.1f}%"></div></div>' for layer, w in pairs)
    axis = "".join(f"<span>{layer}</span>" for layer, _ in pairs)
    cap = f'<div class="lb-caption">{escape(caption)}</div>' if caption else ""
    expected = (f'<div class="lb-expected">expected layer <b>{expected_layer(layers, weights):.1f}</b> '
                f'of {max(layers)}</div>') if layers else ""
    return (f'<div class="lb-chart"><div class="lb-bars" role="group" aria-label="Mean weight of each encoder layer '
            f'over the tokens">{bars}</div><div class="lb-axis" aria-hidden="true">{axis}</div>'
            f'<div class="lb-caption">encoder layer &rarr; mean weight over the tokens</div>{expected}{cap}'
            f'{meaning_block(strategy)}</div>')


def display_token(piece: str) -> tuple[str, bool]:
    """SentencePiece '▁x' starts a word: show 'x'; a piece without it continues the word before. A piece that
    starts with a combining mark (a Sinhala or Tamil vowel sign split from its consonant) is shown on a dotted
    circle, the Unicode convention for a mark alone, instead of on whatever precedes it on the page."""
    if piece in SPECIAL:
        return piece, False
    text, cont = (piece[1:] or "␣", False) if piece.startswith("▁") else (piece, True)
    return ("◌" + text if unicodedata.category(text[0]).startswith("M") else text), cont


def lang_attribute(text: str) -> str:
    """' lang="ta"' for text in a known script (the browser then picks that language's font and a screen reader
    its voice), else ''."""
    code = detect_language(text).code
    return f' lang="{code}"' if code else ""


def prompt_block(prompt: str, reader: str = "the encoder") -> str:
    return (f'<div class="lb-prompt" dir="auto"><b>Prompt sent to {escape(reader)}:</b> '
            f'<span{lang_attribute(prompt)}>{escape(prompt)}</span></div>')


def token_heatmap(tokens: list[str], layers: list[int], token_weights: list[list[float]], prompt: str = "",
                  strategy: str | None = None) -> str:
    """Rows = encoder tokens, columns = layers 1..L; the cell's shade is the weight the token gives the layer
    (scaled so that the largest weight in the table is fully opaque); last columns = the dominant layer and the
    expected layer. Each cell holds its weight as text and as its accessible name; the switch above the table
    shows the numbers instead of the shades."""
    if not tokens:
        return empty("no tokens")
    head_block = prompt_block(prompt) if prompt else ""
    order = sorted(range(len(layers)), key=lambda j: layers[j])
    top = max((max(row) for row in token_weights if row), default=0) or 1.0
    head = "".join(f'<th scope="col">{layers[j]}</th>' for j in order)
    rows = []
    for piece, row in zip(tokens, token_weights):
        text, cont = display_token(piece)
        shown = f'<span class="cont" aria-hidden="true">&middot;</span>{escape(text)}' if cont else escape(text)
        cells = "".join(
            f'<td class="cell" aria-label="layer {layers[j]}: {row[j]:.3f}" title="layer {layers[j]}: {row[j]:.3f}" '
            f'style="background: rgba({ACCENT}, {row[j] / top:.3f})"><span class="num">{row[j]:.3f}</span></td>'
            for j in order)
        best = max(range(len(row)), key=lambda j: row[j])
        cls = ' class="special"' if piece in SPECIAL else ""
        rows.append(f'<tr{cls}><th scope="row" class="tok" dir="auto"{lang_attribute(text)} title="{escape(piece)}">'
                    f'{shown}</th>{cells}<td>{layers[best]} ({row[best]:.2f})</td>'
                    f'<td>{expected_layer(layers, row):.1f}</td></tr>')
    return (f'<div class="lb-weights">{head_block}<div class="lb-caption">Each row is one encoder token (the task '
            f'template and the encoder prefix are part of the input); shade = weight given to each layer (darkest = '
            f'{top:.2f}); &middot; marks a piece that continues the word before. {EXPECTED_LAYER_NOTE}</div>'
            f'{meaning_block(strategy)}'
            f'<label class="lb-switch"><input type="checkbox" class="lb-numbers-switch"> show the weights as '
            f'numbers</label>'
            f'<div class="lb-heat"><table><thead><tr><th scope="col">token</th>{head}<th scope="col">dominant layer'
            f'</th><th scope="col">expected layer</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div></div>')
