"""One precision setting (fusion.precision): "auto" resolution, float32 <-> bfloat16 checkpoints, bf16 numerics."""
import pytest
import torch

import fusion.precision
from fusion import ConfigError, FusedModel
from fusion.precision import resolve_dtype

from tests.conftest import tiny

REAL_CPU_CHECK = fusion.precision.cpu_has_native_bf16  # captured before the float32_by_default fixture patches it

TEXTS = ["a short one", "a somewhat longer text with more bytes in it", "ශ්‍රී ලංකාව", "x y z"]
CHOICES = [" yes", " no", " maybe later"]


@pytest.mark.parametrize("cpu_native, cuda_native, device, expected", [
    (True, False, "cpu", torch.bfloat16), (False, True, "cpu", torch.float32),
    (False, True, "cuda", torch.bfloat16), (True, False, "cuda", torch.float32),    # e.g. a T4 on an AMX host
    (False, False, "cuda:0", torch.float32), (True, True, "cuda:0", torch.bfloat16)])
def test_auto_resolves_by_hardware(monkeypatch, cpu_native, cuda_native, device, expected):
    monkeypatch.setattr(fusion.precision, "cpu_has_native_bf16", lambda: cpu_native)
    monkeypatch.setattr(fusion.precision, "cuda_has_native_bf16", lambda: cuda_native)
    assert resolve_dtype("auto", device) == expected
    assert resolve_dtype(None, device) == expected


def test_auto_on_cuda_asks_torch_without_emulation(monkeypatch):
    """torch.cuda.is_bf16_supported() counts emulation by default, and then says yes on a T4 (compute capability
    7.5), which computes bfloat16 slower than float32: auto asks without it, and a device that cannot be queried
    (ZeroGPU's main process before a GPU is attached) gets float32."""
    import torch.cuda
    asked = []

    def gpu(capability: float):
        def is_bf16_supported(including_emulation=True):
            asked.append(including_emulation)
            return capability >= 8.0 or including_emulation   # what torch answers: emulation works on any GPU
        return is_bf16_supported

    for capability, expected in ((7.5, torch.float32), (8.0, torch.bfloat16), (9.0, torch.bfloat16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", gpu(capability))
        assert resolve_dtype("auto", "cuda") == expected, capability
    assert asked == [False, False, False]

    def unqueryable(including_emulation=True):
        raise RuntimeError("No CUDA GPUs are available")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", unqueryable)
    assert resolve_dtype("auto", "cuda") == torch.float32
    assert resolve_dtype("bfloat16", "cuda") == torch.bfloat16     # an explicit choice is kept


def test_auto_uses_torchs_cpu_checks(monkeypatch):
    import torch.cpu
    monkeypatch.setattr(fusion.precision, "cpu_has_native_bf16", REAL_CPU_CHECK)
    for avx512_bf16, amx, expected in [(True, False, True), (False, True, True), (False, False, False)]:
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert fusion.precision.cpu_has_native_bf16() is expected


def test_explicit_precisions_and_bad_names():
    assert resolve_dtype("float32", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16
    assert resolve_dtype(torch.bfloat16, "cpu") == torch.bfloat16
    for bad in ("float16", "fp8", torch.float16):
        with pytest.raises(ConfigError, match="auto, float32, bfloat16"):
            resolve_dtype(bad, "cpu")


def test_float32_checkpoint_runs_in_bfloat16_and_back(tmp_path):
    model = tiny("global-softmax")
    model.save_pretrained(tmp_path / "b")
    bf16 = FusedModel.from_pretrained(tmp_path / "b", device="cpu", dtype="bfloat16")
    assert bf16.precision == "bfloat16" and bf16.llm_dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in bf16.bridge.parameters())  # the bridge stays float32
    for k, v in model.bridge.state_dict().items():
        assert torch.equal(v, bf16.bridge.state_dict()[k])
    bf16.save_pretrained(tmp_path / "c")  # checkpoints stay float32 safetensors
    from safetensors.torch import load_file
    assert {v.dtype for v in load_file(str(tmp_path / "c" / "bridge.safetensors")).values()} == {torch.float32}
    back = FusedModel.from_pretrained(tmp_path / "c", device="cpu", dtype="float32")
    a, b = model.classify(TEXTS, CHOICES), back.classify(TEXTS, CHOICES)
    assert [x["loglik"] for x in a] == [x["loglik"] for x in b]
    low = bf16.classify(TEXTS, CHOICES)
    for x, y in zip(a, low):  # bf16 keeps ~3 significant digits: per-token errors of ~1e-2 relative
        assert torch.allclose(torch.tensor(x["probs"]), torch.tensor(y["probs"]), atol=0.05)


@pytest.mark.parametrize("strategy", ["last", "transformer-softmax", "residual-softmax"])
def test_batched_equals_one_at_a_time_in_bfloat16(strategy):
    """In bfloat16 a batch and one example at a time run different matmul shapes, so results differ by rounding.
    bf16 has an 8-bit mantissa (relative step 2^-8 = 0.4%); over the tiny models' few layers the choice
    probabilities move by well under 0.02, which is what we allow, and the decision must agree wherever the two
    best choices are more than 0.05 apart."""
    model = tiny(strategy, dtype="bfloat16")
    batched = model.classify(TEXTS, CHOICES, batch_size=4)
    for text, b in zip(TEXTS, batched):
        single = model.classify([text], CHOICES)[0]
        assert torch.allclose(torch.tensor(b["probs"]), torch.tensor(single["probs"]), atol=0.02)
        top2 = sorted(b["probs"], reverse=True)[:2]
        if top2[0] - top2[1] > 0.05:
            assert b["pred"] == single["pred"]


def test_bfloat16_log_normalizer_recomputes_the_largest_logits_in_float32():
    """The loglik scoring's vocabulary normalizer of a bfloat16 LLM (fusion.scoring.head_logsumexp): the largest
    logits of every chunk are recomputed in float32 from the (bfloat16) head rows, since rounding them in bfloat16
    flipped XNLI decisions. With every logit recomputed it is the float64 reference up to float32 rounding; with the
    top few of each chunk it is closer to it than the plain bfloat16 way, which misses by ~1e-2 here."""
    from fusion.scoring import head_logsumexp, head_transform
    llm = tiny("last", dtype="bfloat16").llm
    torch.manual_seed(1)
    head = llm.get_output_embeddings()
    hidden = torch.randn(5, llm.config.hidden_size)                                     # [N, D]
    scale = 20 / (hidden @ head.weight.float().T).abs().max()                          # logits up to ~20, as Gemma's
    hidden = (hidden * scale).to(torch.bfloat16)
    exact = torch.logsumexp(head_transform(llm, hidden.double() @ head.weight.double().T), dim=-1)
    every = head_logsumexp(llm, hidden, chunk=7, exact_top=7)                           # several chunks, all exact
    assert every.dtype == torch.float32
    assert torch.allclose(every.double(), exact, atol=1e-4, rtol=0)
    rounded = torch.logsumexp(head_transform(llm, hidden @ head.weight.T).float(), dim=-1)  # the bf16 way
    top = head_logsumexp(llm, hidden, chunk=64, exact_top=4)
    assert (rounded.double() - exact).abs().max() > 1e-4                              # so the test can fail
    assert (top.double() - exact).abs().mean() < (rounded.double() - exact).abs().mean()


def train_losses(dtype: str, steps: int = 30) -> list[float]:
    model = tiny("transformer-softmax", dtype=dtype)
    model.train()
    opt = torch.optim.AdamW(model.bridge.param_groups(3e-2), lr=3e-2)
    losses = []
    for _ in range(steps):
        loss = model(TEXTS, [" yes", " no", " yes", " no"])
        assert loss.dtype == torch.float32  # the loss is computed in float32
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert all(p.dtype == torch.float32 for p in model.bridge.parameters())
    return losses


def test_bfloat16_training_lowers_the_loss_as_float32_does():
    """The random tiny LLM cannot fit much (loss ~5.6 -> ~5.2 in 30 steps), so: bf16 lowers the loss, and its
    curve stays within 0.05 of the float32 run from the same start."""
    low, full = train_losses("bfloat16"), train_losses("float32")
    assert low[-1] < low[0] - 0.2
    assert max(abs(a - b) for a, b in zip(low, full)) < 0.05


def test_bfloat16_copy_of_a_checkpoint_is_cached_once_and_loads_as_the_cast(tmp_path):
    """fusion.pocket.in_dtype: the float32 checkpoint cast once into <name>-bfloat16 beside it; loading that in
    bfloat16 gives exactly the float32 weights cast to bfloat16, as `model.to(torch.bfloat16)` does."""
    from fusion.backbones import _load_dir, tiny_gemma3
    from fusion.pocket import in_dtype
    from safetensors.torch import load_file

    llm, tok = tiny_gemma3()
    src = tmp_path / "gemma"
    llm.save_pretrained(src)
    tok.save_pretrained(src)
    assert in_dtype(src, torch.float32) == src
    copy = in_dtype(src, torch.bfloat16)
    assert copy == tmp_path / "gemma-bfloat16" and sorted(p.name for p in tmp_path.iterdir()) == ["gemma", "gemma-bfloat16"]
    fp32, bf16 = load_file(src / "model.safetensors"), load_file(copy / "model.safetensors")
    assert fp32.keys() == bf16.keys() and {v.dtype for v in bf16.values()} == {torch.bfloat16}
    assert all(torch.equal(fp32[k].to(torch.bfloat16), bf16[k]) for k in fp32)
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    assert in_dtype(src, torch.bfloat16) == copy and (copy / "model.safetensors").stat().st_mtime_ns == stamp  # written once

    loaded, loaded_tok = _load_dir(copy, causal_lm=True, dtype=torch.bfloat16)
    cast = llm.to(torch.bfloat16)
    assert loaded.config.dtype == torch.bfloat16
    for name, p in cast.state_dict().items():
        assert torch.equal(p, loaded.state_dict()[name]), name
    assert loaded_tok(TEXTS)["input_ids"] == tok(TEXTS)["input_ids"]
