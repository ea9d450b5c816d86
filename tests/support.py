"""Test support: untrained checkpoints in the app's naming, a stand-in `spaces`, a free port, the app launched
in-process, a page of it in Debian's chromium, `accelerate launch` of two processes that never outlives its test, and
which pages of a tensor are mapped."""
import importlib.util
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import torch

from fusion import FusedModel, checkpoint, strategy_names
from tasks import FAMILIES, get_task

STAND_IN = Path(__file__).resolve().parent / "stand_in"   # holds a stand-in `spaces` package (ZeroGPU); not shipped


def stand_in_spaces():
    """A fresh stand-in `spaces` module (tests/stand_in/spaces: records @spaces.GPU calls), not in sys.modules."""
    spec = importlib.util.spec_from_file_location("spaces", STAND_IN / "spaces" / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_untrained_checkpoints(root, preset: str = "tiny", families=tuple(FAMILIES), strategies=None,
                               noise: float = 0.1, seed: int = 0, variant: str = "") -> Path:
    """root/<preset>-<family>-<strategy>/ for each pair (default: every registered strategy): an untrained bridge (plus
    a little noise, so that the strategies differ) saved with save_pretrained, with a train_results.json that says
    who it is (task, seed, data variant: its train_variant, e.g. "sentences<=1"), as the app finds trained ones."""
    root = Path(root)
    model = None
    for family in families:
        for strategy in strategies or strategy_names():
            torch.manual_seed(seed)
            if model is None:
                model = FusedModel.from_preset(preset, strategy=strategy, device="cpu")
            config = type(model.config).from_dict({**model.config.to_dict(), "strategy": strategy})
            bridge = FusedModel(config, model.encoder, model.encoder_tokenizer, model.llm, model.llm_tokenizer)
            with torch.no_grad():
                for p in bridge.bridge.parameters():
                    p.add_(torch.randn_like(p) * noise)
            tag = checkpoint.variant_tag(variant)
            path = root / ("-".join(x for x in (preset, family, tag, strategy) if x) + (f"-s{seed}" if seed else ""))
            bridge.save_pretrained(path)
            checkpoint.write_train_results(path, {"task": get_task(family).name, "seed": seed,
                                                  "train_variant": variant})
    return root


def save_news_probe(path, preset: str = "tiny") -> Path:
    """An encoder-alone probe for the news task fitted on a few made-up texts (C fixed), saved at `path`."""
    from fusion import EncoderProbe
    news = get_task("news")
    texts = [news.prompt({"text": f"{w} story number {i}"}) for i in range(4) for w in news.choices]
    labels = [j for _ in range(4) for j in range(len(news.choices))]
    probe = EncoderProbe.from_preset(preset, device="cpu", dtype="float32", task=news.name)
    probe.fit(texts, labels, texts[:5], labels[:5], news.targets, grid=(1.0,))
    probe.save_pretrained(path)
    return Path(path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(demo, port: int | None = None) -> str:
    """Start the app on 127.0.0.1 without blocking; returns its URL (close with demo.close())."""
    import app
    port = port or free_port()
    app.serve(demo, "127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    return f"http://127.0.0.1:{port}/"


CHROMIUM = Path("/usr/bin/chromium")   # Debian's (Playwright's own browser download cannot work offline)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1400, "height": 1000}


@contextmanager
def browser_page(url: str, viewport=VIEWPORT):
    """A chromium page on `url`, loaded; page.dialogs collects (and dismisses) any alert."""
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=viewport)
            page.dialogs = []
            page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
            page.goto(url, wait_until="networkidle")
            yield page
        finally:
            browser.close()


def platform_fonts(page, selector: str) -> dict[str, int]:
    """font family -> glyphs chromium drew with it, in the text of the first `selector` element and everything in
    it (a text box's own shadow tree included): DevTools' CSS.getPlatformFontsForNode, what a person sees after
    every font fallback."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1, "pierce": True})["root"]
    found = cdp.send("DOM.querySelector", {"nodeId": root["nodeId"], "selector": selector})["nodeId"]
    assert found, f"no element matches {selector!r}"

    def walk(node):
        yield node
        for child in (*node.get("children", ()), *node.get("shadowRoots", ())):
            yield from walk(child)

    element = next(n for n in walk(root) if n["nodeId"] == found)
    glyphs: dict[str, int] = {}
    for node in walk(element):
        if node.get("nodeType") == 1:
            for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]:
                glyphs[font["familyName"]] = glyphs.get(font["familyName"], 0) + font["glyphCount"]
    return glyphs


def launch_two_processes(module_args: list[str], cwd, timeout: float) -> subprocess.CompletedProcess:
    """`accelerate launch` two CPU processes (gloo) running `python -m <module_args>`, and leave nothing behind.

    accelerate 1.15's `--cpu` launcher starts a single process without MPI; its torchrun launcher (--multi_gpu)
    starts N processes, which use the CPU and gloo on a machine without CUDA. The launcher runs from this Python
    (sys.executable, any environment), on a free rendezvous port: the default 29500 is shared with any other
    multi-process job on the machine (and with ranks a killed run left behind), whose store a rank would then join
    and wait on. The launcher and its ranks get their own process group, killed as a whole on timeout and after the
    run (subprocess.run's timeout kills the launcher only, orphaning its ranks)."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", *module_args]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(module_args[:2])} with 2 processes took over {timeout} s; killed. "
                             f"stderr:\n{err[-3000:]}") from None
    finally:
        kill_group(proc.pid)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def kill_group(pgid: int):
    """SIGKILL every process of the group (the launcher's session); nothing to do when it is already gone."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def present_fraction(t: torch.Tensor) -> float:
    """Share of the tensor's whole pages that are mapped in this process's page table (/proc/self/pagemap)."""
    page = os.sysconf("SC_PAGE_SIZE")
    lo = -(-t.data_ptr() // page)
    hi = (t.data_ptr() + t.numel() * t.element_size()) // page
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(lo * 8)
        entries = f.read((hi - lo) * 8)
    flags = [int.from_bytes(entries[i:i + 8], "little") >> 63 for i in range(0, len(entries), 8)]
    return sum(flags) / max(1, len(flags))
