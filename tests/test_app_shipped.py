"""The shipped app in a real browser: spaces.yaml's settings, the pocket bridges in checkpoints/ and the results in
results/, in Debian's chromium at 1400x1000. These tests take the README's screenshots (docs/screenshots/), so that
they are regenerated rather than drawn by hand:

    LAYERBRIDGE_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q tests/test_app_shipped.py

(without the variable they go to the test's tmp directory). What they check: a Sinhala prediction whose every
heat-map cell is named by its weight, Tamil tokens drawn in a Tamil font, Compare's six models laid out evenly, and
the Leaderboard opening on SIB-200 with a gain chart whose language labels do not overlap."""
import os
import re
import subprocess
from pathlib import Path

import pytest

import app
from layerbridge_app.registry import find_checkpoints, load_registry
from layerbridge_app.settings import load_settings
from tasks import get_task
from tests.support import CHROMIUM, VIEWPORT, browser_page, launch, platform_fonts

TAMIL = "இலங்கையில் நேற்று நடந்த போட்டியில் இந்திய அணி வெற்றி பெற்றது."

pytestmark = [pytest.mark.pocket,
              pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (bash run.sh test installs "
                                                                  "it with apt-get install chromium)")]


@pytest.fixture(scope="module")
def url():
    pytest.importorskip("playwright.sync_api")
    settings = load_settings()
    checkpoints = settings.resolve(settings.checkpoints_dir)
    if not find_checkpoints(checkpoints, settings.preset, variants=settings.variants):
        pytest.skip(f"no {settings.preset} checkpoints under {checkpoints}")
    registry = load_registry(checkpoints, settings.preset, settings.families, settings.strategies, device="cpu",
                             dtype=settings.precision, variants=settings.variants)
    demo = app.build_demo(registry, settings)
    yield launch(demo)
    demo.close()


@pytest.fixture
def page(url):
    with browser_page(url) as page:
        yield page


@pytest.fixture
def shots(tmp_path) -> Path:
    where = Path(os.environ["LAYERBRIDGE_SCREENSHOTS"]) if os.environ.get("LAYERBRIDGE_SCREENSHOTS") else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    return where


def pick(page, label: str, option: str):
    page.get_by_label(label).filter(visible=True).first.click()
    page.get_by_role("option", name=option).click()


def test_predict_in_sinhala(page, shots):
    """The README's first screenshot: the topic task on a Sinhala FLORES dev sentence, global softmax."""
    pick(page, "Fusion strategy (trained checkpoint)", "global softmax (one weight per layer)")
    page.get_by_text(re.compile(r"^Sinhala: ")).filter(visible=True).first.click()
    page.get_by_role("button", name="Classify").click()
    page.locator("#lb-token-weights table").wait_for(timeout=120_000)
    targets = [t.strip() for t in get_task("topic").targets]
    assert any(t in page.locator("#lb-prediction").inner_text() for t in targets)
    tokens = page.locator("#lb-token-weights tbody tr").count()
    labels = page.locator("#lb-token-weights td.cell").evaluate_all(
        "cells => cells.map(c => c.getAttribute('aria-label'))")
    assert tokens > 10 and len(labels) == 12 * tokens                      # 12 encoder layers, every cell named
    assert all(re.fullmatch(r"layer \d{1,2}: [01]\.\d{3}", label or "") for label in labels)
    assert page.get_by_role("img", name=re.compile(r"^layer \d{1,2}: [01]\.\d{3}$")).count() == 12
    assert "the same mix for every token" in page.locator("#lb-layer-weights").inner_text()
    page.screenshot(path=str(shots / "predict.png"), full_page=True)


def test_tamil_tokens_are_drawn_in_a_tamil_font(page):
    """The encoder's Tamil tokens are whole Tamil words (no split grapheme, no byte fallback); the boxes were the
    font: a token starting with ப or வ was drawn in Noto Sans Grantha, which maps only those two Tamil letters."""
    if "Noto Sans Tamil" not in subprocess.run(["fc-list"], capture_output=True, text=True).stdout:
        pytest.skip("no Noto Sans Tamil (bash run.sh test installs fonts-noto-core)")
    page.get_by_role("textbox", name="Text").filter(visible=True).first.fill(TAMIL)
    page.get_by_role("button", name="Classify").click()
    page.locator("#lb-token-weights table").wait_for(timeout=120_000)
    tokens = page.locator("#lb-token-weights th.tok").all_inner_texts()
    assert "போட்டியில்" in tokens and "வெற்றி" in tokens
    row = tokens.index("போட்டியில்") + 1
    fonts = platform_fonts(page, f"#lb-token-weights tbody tr:nth-child({row}) th.tok")
    assert fonts == {"Noto Sans Tamil": fonts.get("Noto Sans Tamil", 0)} and fonts["Noto Sans Tamil"] >= 8


def test_compare_lays_six_models_out_evenly(page, shots):
    page.get_by_role("tab", name="Compare").click()
    page.get_by_text(re.compile(r"^Sinhala: ")).filter(visible=True).first.click()
    page.get_by_role("button", name="Compare all").click()
    page.get_by_text("LLM reads the prompt text itself").wait_for(timeout=180_000)
    page.get_by_text("No LLM: the encoder's last layer").wait_for(timeout=60_000)
    boxes = [page.get_by_text(title, exact=True).filter(visible=True).first.locator("xpath=ancestor::div[contains("
                                                                                         "@class, 'column')][1]")
             .bounding_box() for title in ("last layer", "global softmax", "transformer softmax",
                                           "residual softmax", "LLM alone", "encoder alone (no LLM)")]
    widths = [b["width"] for b in boxes]
    assert max(widths) - min(widths) < 4 and min(widths) > VIEWPORT["width"] / 4    # six equal cards ...
    assert len({round(b["y"]) for b in boxes[:3]}) == 1 and len({round(b["y"]) for b in boxes[3:]}) == 1
    assert boxes[3]["y"] > boxes[0]["y"]                                             # ... three to a row
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


# Each x label's box as drawn (its SVG bounding box through the label's own rotation: four corners on the page)
LABEL_CORNERS = """ts => ts.map(t => { const b = t.getBBox(), m = t.getScreenCTM();
    const corner = (x, y) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f];
    return {text: t.textContent, corners: [corner(b.x, b.y), corner(b.x + b.width, b.y),
                                           corner(b.x + b.width, b.y + b.height), corner(b.x, b.y + b.height)]}; })"""


def overlaps(a: list, b: list) -> bool:
    """Whether two convex quadrilaterals (corners in order) overlap: no edge of either separates them."""
    for quad in (a, b):
        for (x1, y1), (x2, y2) in zip(quad, quad[1:] + quad[:1]):
            nx, ny = y2 - y1, x1 - x2                                    # the edge's normal
            pa, pb = [nx * x + ny * y for x, y in a], [nx * x + ny * y for x, y in b]
            if max(pa) <= min(pb) or max(pb) <= min(pa):
                return False
    return True


def test_leaderboard_opens_on_sib200_legibly(page, shots):
    page.get_by_role("tab", name="Leaderboard").click()
    page.locator("#lb-gain-chart .xtick").first.wait_for(timeout=180_000)
    page.wait_for_timeout(1000)
    assert page.locator("#lb-benchmark input").input_value() == "sib200"      # not amazon_reviews (alphabetical)
    assert page.locator("#lb-rows input:checked").get_attribute("value") == "mean"
    assert "n = 204" in page.locator("#lb-note").inner_text()               # the full samples only
    chart = page.locator("#lb-gain-chart .js-plotly-plot").bounding_box()
    assert chart["width"] > 0.8 * VIEWPORT["width"] and chart["height"] > 300
    for which in ("#lb-accuracy-chart", "#lb-gain-chart"):
        ticks = page.locator(f"{which} .xtick text").evaluate_all(LABEL_CORNERS)
        assert {"si-ta-bn", "sin_Sinh", "tam_Taml", "ben_Beng"} <= {t["text"] for t in ticks}
        clashes = [(a["text"], b["text"]) for i, a in enumerate(ticks) for b in ticks[i + 1:]
                   if overlaps(a["corners"], b["corners"])]
        assert not clashes, f"{which}: x labels overlap: {clashes[:5]}"
        legend = page.locator(f"{which} .legend").bounding_box()
        assert legend["x"] >= chart["x"] - 1 and legend["x"] + legend["width"] <= chart["x"] + chart["width"] + 1
    assert "Bar chart of sib200" in page.locator("#lb-gain-alt").inner_text()
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)
