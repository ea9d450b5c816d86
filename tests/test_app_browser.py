"""The app in a real browser (Debian's chromium driven by Playwright), on tiny untrained bridges and a results
fixture: a Sinhala prediction with its weight views (every heat-map cell named by its weight), the NLI boxes after an
example click, an HTML payload that must show as text without running, Tamil typed into a box drawn in a Tamil
font, and the Leaderboard tab's benchmark switch, charts and interval column. The shipped app and the README's
screenshots: tests/test_app_shipped.py. Screenshots here go to the test's tmp directory."""
import re
import subprocess

import pytest

import app
from layerbridge_app.registry import load_registry
from layerbridge_app.settings import load_settings
from tests.support import CHROMIUM, browser_page, launch, platform_fonts, save_untrained_checkpoints

SINHALA = "ශ්‍රී ලංකා ක්‍රිකට් කණ්ඩායම අද පැවති තරගයේදී ඉන්දියාවට එරෙහිව කඩුළු හතකින් ජය ගත්තේය."
PAYLOAD = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'

pytestmark = pytest.mark.skipif(not CHROMIUM.is_file(), reason="no /usr/bin/chromium (bash run.sh test installs "
                                                                  "it with apt-get install chromium)")


@pytest.fixture
def shots(tmp_path):
    return tmp_path


@pytest.fixture(scope="module")
def url(tmp_path_factory, results_fixture):
    ckpts = save_untrained_checkpoints(tmp_path_factory.mktemp("ckpts"), "tiny")
    settings = load_settings(preset="tiny", checkpoints_dir=str(ckpts), results_dir=str(results_fixture))
    demo = app.build_demo(load_registry(ckpts, "tiny", device="cpu"), settings)
    yield launch(demo)
    demo.close()


@pytest.fixture
def page(url):
    pytest.importorskip("playwright.sync_api")
    with browser_page(url) as page:
        yield page


def classify(page, text):
    box = page.get_by_role("textbox", name="Text").filter(visible=True).first
    box.fill(text)
    page.get_by_role("button", name="Classify").click()


def test_sinhala_prediction_and_weight_views(page, shots):
    classify(page, SINHALA)
    page.locator("#lb-token-weights table").wait_for(timeout=30_000)
    label = page.locator("#lb-prediction").inner_text()
    assert any(c in label for c in ("Business", "Political", "Entertainment", "Sports", "Science")) and "%" in label
    assert page.locator("#lb-layer-weights .lb-bar").count() == 4          # the tiny encoder's layers
    assert page.locator("#lb-token-weights tbody tr").count() > 5
    assert "Sinhala" in page.get_by_text("Language (from the script)").inner_text()
    assert "expected layer" in page.locator("#lb-layer-weights").inner_text()
    cells = page.locator("#lb-token-weights td.cell")
    labels = cells.evaluate_all("cells => cells.map(c => c.getAttribute('aria-label'))")
    assert len(labels) == 4 * page.locator("#lb-token-weights tbody tr").count()   # every cell, 4 layers a row
    assert all(re.fullmatch(r"layer [1-4]: \d\.\d{3}", label or "") for label in labels)
    assert page.get_by_role("img", name=re.compile(r"^layer \d: \d\.\d{3}$")).count() == 4   # the layer bars
    number = page.locator("#lb-token-weights td.cell .num").first
    width = lambda: number.evaluate("e => e.getBoundingClientRect().width")  # noqa: E731
    assert width() <= 1                                                     # shades first (the number is for AT) ...
    page.get_by_text("show the weights as numbers").click()
    assert width() > 10                                                     # ... the numbers on request
    page.screenshot(path=str(shots / "predict.png"), full_page=True)
    assert (shots / "predict.png").stat().st_size > 10_000


def test_nli_boxes_stay_visible_after_an_example(page):
    page.get_by_label("Task").filter(visible=True).first.click()
    page.get_by_role("option", name="Natural language inference (premise / hypothesis)").click()
    page.get_by_text("Tamil: அவர்").filter(visible=True).first.click()
    premise = page.get_by_role("textbox", name="Premise").filter(visible=True).first
    premise.wait_for(timeout=10_000)
    assert "பேருந்தில்" in premise.input_value()
    assert page.get_by_role("textbox", name="Text").filter(visible=True).count() == 0
    page.get_by_role("button", name="Classify").click()
    page.locator("#lb-token-weights table").wait_for(timeout=30_000)
    assert any(c in page.locator("#lb-prediction").inner_text() for c in ("Entailment", "Neutral", "Contradiction"))


def test_html_payload_shows_as_text_and_never_runs(page, shots):
    classify(page, PAYLOAD)
    page.locator("#lb-token-weights table").wait_for(timeout=30_000)
    assert PAYLOAD in page.locator("#lb-token-weights .lb-prompt").inner_text()  # shown as text
    page.get_by_text("Details (JSON)").first.click()
    page.get_by_text("onerror", exact=False).filter(visible=True).first.wait_for(timeout=10_000)
    page.wait_for_timeout(500)
    assert page.dialogs == []
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    # the Compare tab renders the same input in four more places
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("textbox", name="Text").filter(visible=True).first.fill(PAYLOAD)
    page.get_by_role("button", name="Compare all").click()
    page.get_by_text("LLM reads the prompt text itself").wait_for(timeout=30_000)
    assert PAYLOAD in page.locator(".lb-prompt").filter(visible=True).first.inner_text()
    page.wait_for_timeout(500)
    assert page.dialogs == [] and page.evaluate("window.__xss") is None
    page.screenshot(path=str(shots / "compare.png"), full_page=True)


def test_tamil_typed_into_a_box_is_drawn_in_a_tamil_font(page):
    """A Tamil word that starts with ப was drawn as boxes: left to fontconfig, chromium picked Noto Sans Grantha,
    which maps ப and வ of Tamil and no other letter. The theme names a font per script before the fallback."""
    if "Noto Sans Tamil" not in subprocess.run(["fc-list"], capture_output=True, text=True).stdout:
        pytest.skip("no Noto Sans Tamil (bash run.sh test installs fonts-noto-core)")
    text = "போட்டியில் வெற்றி பெற்றது"
    page.get_by_role("textbox", name="Text").filter(visible=True).first.fill(text)
    fonts = platform_fonts(page, "textarea")
    assert fonts.get("Noto Sans Tamil", 0) > 10 and "Noto Sans Grantha" not in fonts
    assert sum(n for font, n in fonts.items() if font != "Noto Sans Tamil") <= text.count(" ")   # the spaces


def test_leaderboard_switches_benchmark_and_shows_chart_and_intervals(page, shots):
    page.get_by_role("tab", name="Leaderboard").click()
    table = page.locator("#lb-table")
    table.get_by_text("sin_Sinh").first.wait_for(timeout=30_000)            # the default benchmark: sib200
    page.locator("#lb-accuracy-chart .xtick").first.wait_for(timeout=30_000)
    assert page.locator("#lb-rows input:checked").get_attribute("value") == "mean"   # two seeds: means by default
    page.screenshot(path=str(shots / "leaderboard-sib200.png"), full_page=True)
    page.locator("#lb-languages").get_by_text("si-ta-bn").click()
    table.get_by_text("group:si-ta-bn").first.wait_for(timeout=30_000)
    page.wait_for_timeout(500)
    assert table.get_by_text("eng_Latn").count() == 0                      # the group's languages only
    page.locator("#lb-benchmark input").click()
    page.get_by_role("option", name="xnli").click()
    table.get_by_text("hi", exact=True).first.wait_for(timeout=30_000)
    assert table.get_by_text("sin_Sinh").count() == 0                      # only this benchmark's languages
    assert table.get_by_text(re.compile(r"^\d+\.\d ±\d+\.\d$")).count() > 3  # the interval column
    chart = page.locator("#lb-accuracy-chart .js-plotly-plot").first
    chart.wait_for(timeout=30_000)
    assert chart.bounding_box()["width"] > 1000                             # the page's width, not a thumbnail
    assert page.locator("#lb-gain-chart .js-plotly-plot").count() == 1
    assert "Bar chart of xnli" in page.locator("#lb-accuracy-alt").inner_text()   # the chart in words
    page.screenshot(path=str(shots / "leaderboard-xnli.png"), full_page=True)


def test_footer_offers_the_api_page_and_settings(page):
    """Gradio's footer is shown (launch(footer_links=...)): "Use via API" opens the page of the named endpoints."""
    footer = page.locator("footer")
    footer.wait_for(timeout=30_000)
    assert footer.get_by_text("Settings").first.is_visible()
    footer.get_by_text("Use via API").first.click()
    page.get_by_text("/compare").first.wait_for(timeout=30_000)
    assert page.get_by_text("/predict").first.is_visible()
