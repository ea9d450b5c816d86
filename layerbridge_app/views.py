"""HTML views of a prediction, rendered by the browser (Indic scripts need the browser's text shaping).

Every string that comes from the user or a tokenizer goes through html.escape before it is placed in HTML.
"""
from html import escape

ACCENT = "37, 99, 235"  # rgb of the bars and heat cells

CSS = """
.lb-bars {display: flex; align-items: flex-end; gap: 4px; height: 150px; padding: 18px 4px 0; }
.lb-bar {flex: 1; display: flex; flex-direction: column; align-items: center; justify-content: flex-end;
         height: 100%; min-width: 14px; }
.lb-bar .fill {width: 100%; background: rgb(37, 99, 235); border-radius: 3px 3px 0 0; min-height: 1px; }
.lb-bar .val {font-size: 10px; color: var(--body-text-color-subdued); margin-bottom: 2px; white-space: nowrap; }
.lb-axis {display: flex; gap: 4px; padding: 2px 4px 0; border-top: 1px solid var(--border-color-primary); }
.lb-axis span {flex: 1; min-width: 14px; text-align: center; font-size: 11px; }
.lb-caption {font-size: 12px; color: var(--body-text-color-subdued); margin: 4px 0; }
.lb-heat {max-height: 420px; overflow: auto; }
.lb-heat table {border-collapse: collapse; font-size: 13px; width: auto; margin: 0; }
.lb-heat th, .lb-heat td {border: 1px solid var(--border-color-primary); padding: 2px 6px; text-align: center; }
.lb-heat th {position: sticky; top: 0; background: var(--background-fill-secondary); z-index: 1; }
.lb-heat td.tok {text-align: start; white-space: pre; font-size: 15px; unicode-bidi: isolate; }
.lb-heat td.cell {min-width: 22px; }
.lb-heat tr.special td.tok {color: var(--body-text-color-subdued); font-style: italic; }
.lb-heat .cont {color: var(--body-text-color-subdued); }
.lb-prompt {font-size: 14px; margin: 0 0 6px; white-space: pre-wrap; overflow-wrap: anywhere; }
.lb-expected {font-size: 13px; margin: 4px 0 0; }
.lb-empty {color: var(--body-text-color-subdued); font-style: italic; padding: 8px 0; }
"""

SPECIAL = {"<s>", "</s>", "<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "[CLS]", "[SEP]"}


def empty(message: str) -> str:
    return f'<div class="lb-empty">{escape(message)}</div>'


EXPECTED_LAYER_NOTE = ("Expected layer = Σ l·w<sub>l</sub>, the weight-averaged depth the bridge reads from (as in "
                       "Tenney et al., 2019): near the top layer means the last layers dominate, lower means earlier "
                       "layers count.")


def expected_layer(layers: list[int], weights: list[float]) -> float:
    """sum_l l * w_l over the layers (weights normalised to sum to 1)."""
    total = sum(weights) or 1.0
    return sum(layer * w for layer, w in zip(layers, weights)) / total


def layer_bars(layers: list[int], weights: list[float], caption: str = "") -> str:
    """Bar chart of the mean fusion weight per encoder layer, layers in numeric order."""
    pairs = sorted(zip(layers, weights))
    top = max((w for _, w in pairs), default=0) or 1.0
    bars = "".join(
        f'<div class="lb-bar" title="layer {layer}: {w:.3f}"><span class="val">{w:.2f}</span>'
        f'<div class="fill" style="height:{100 * w / top:.1f}%"></div></div>' for layer, w in pairs)
    axis = "".join(f"<span>{layer}</span>" for layer, _ in pairs)
    cap = f'<div class="lb-caption">{escape(caption)}</div>' if caption else ""
    expected = (f'<div class="lb-expected">expected layer <b>{expected_layer(layers, weights):.1f}</b> '
                f'of {max(layers)}</div>') if layers else ""
    return (f'<div class="lb-chart"><div class="lb-bars">{bars}</div><div class="lb-axis">{axis}</div>'
            f'<div class="lb-caption">encoder layer &rarr; mean weight over the tokens</div>{expected}{cap}</div>')


def display_token(piece: str) -> tuple[str, bool]:
    """SentencePiece '▁x' starts a word: show 'x'; a piece without it continues the word before."""
    if piece in SPECIAL:
        return piece, False
    if piece.startswith("▁"):
        return piece[1:] or "␣", False
    return piece, True


def prompt_block(prompt: str, reader: str = "the encoder") -> str:
    return f'<div class="lb-prompt" dir="auto"><b>Prompt sent to {escape(reader)}:</b> {escape(prompt)}</div>'


def token_heatmap(tokens: list[str], layers: list[int], token_weights: list[list[float]], prompt: str = "") -> str:
    """Rows = encoder tokens, columns = layers 1..L; the cell's shade is the weight the token gives the layer
    (scaled so that the largest weight in the table is fully opaque); last column = the dominant layer."""
    if not tokens:
        return empty("no tokens")
    head_block = prompt_block(prompt) if prompt else ""
    order = sorted(range(len(layers)), key=lambda j: layers[j])
    top = max((max(row) for row in token_weights if row), default=0) or 1.0
    head = "".join(f"<th>{layers[j]}</th>" for j in order)
    rows = []
    for piece, row in zip(tokens, token_weights):
        text, cont = display_token(piece)
        shown = f'<span class="cont">&middot;</span>{escape(text)}' if cont else escape(text)
        cells = "".join(
            f'<td class="cell" title="layer {layers[j]}: {row[j]:.3f}" '
            f'style="background: rgba({ACCENT}, {row[j] / top:.3f})"></td>' for j in order)
        best = max(range(len(row)), key=lambda j: row[j])
        cls = ' class="special"' if piece in SPECIAL else ""
        rows.append(f'<tr{cls}><td class="tok" dir="auto" title="{escape(piece)}">{shown}</td>{cells}'
                    f"<td>{layers[best]} ({row[best]:.2f})</td><td>{expected_layer(layers, row):.1f}</td></tr>")
    return (f'{head_block}<div class="lb-caption">Each row is one encoder token (the task template and the encoder prefix '
            f'are part of the input); shade = weight given to each layer (darkest = {top:.2f}); '
            f'&middot; marks a piece that continues the word before. {EXPECTED_LAYER_NOTE}</div>'
            f'<div class="lb-heat"><table><thead><tr><th>token</th>{head}<th>dominant layer</th>'
            f'<th>expected layer</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
