"""Read rows of a big frozen weight table from its safetensors file instead of through the memory map.

A weight loaded from safetensors is memory-mapped: every page a computation touches counts in the process's
resident set from then on. With the page cache's large folios (Linux maps a cached file up to 2 MB at a time) a
few hundred scattered rows of e5's 250k x 384 word embedding already map all of it (192 MB in bfloat16), and
the loglik scoring's pass over Gemma's 262k x 640 head maps all of that (335 MB). Read with `os.pread` instead,
only the rows asked for are copied into the process; the file's pages stay in the page cache, out of the RSS.

The rows read are the tensor's own bytes (`mapped_rows` checks that the tensor is mapped from exactly that place
of the file), so results are bit-identical to indexing the tensor.
"""
import json
import os
import struct
from pathlib import Path

import torch
from torch import nn

_SAFETENSORS_DTYPES = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16}


class FileRows:
    """A 2-D tensor [V, D] stored contiguously at byte `offset` of `path`: rows read by pread."""

    def __init__(self, path: Path, offset: int, shape: tuple[int, int], dtype: torch.dtype, data_ptr: int):
        """data_ptr: where the tensor these rows stand for is mapped (`backs`)."""
        self.path, self.offset, self.shape, self.dtype, self.data_ptr = Path(path), offset, shape, dtype, data_ptr
        self.row_bytes = shape[1] * torch.empty(0, dtype=dtype).element_size()
        self._file = open(self.path, "rb", buffering=0)  # closed with this object

    def backs(self, weight: torch.Tensor) -> bool:
        """True while `weight` is still the frozen mapped tensor these rows were found for (not replaced, cast,
        moved or trainable)."""
        return weight.data_ptr() == self.data_ptr and weight.dtype == self.dtype and not weight.requires_grad \
            and tuple(weight.shape) == self.shape

    def range(self, start: int, stop: int) -> torch.Tensor:
        """Rows start..stop-1: [stop - start, D]."""
        stop = min(stop, self.shape[0])
        buf = bytearray(self.row_bytes * (stop - start))
        got = os.preadv(self._file.fileno(), [buf], self.offset + start * self.row_bytes)
        if got != len(buf):
            raise OSError(f"short read from {self.path}: {got} of {len(buf)} bytes")
        return torch.frombuffer(buf, dtype=self.dtype).view(stop - start, self.shape[1])

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [N] (any order, repeats allowed) -> [N, D]; each distinct row is read once."""
        unique, inverse = torch.unique(ids, return_inverse=True)                   # [U], [N]
        out = torch.empty(len(unique), self.shape[1], dtype=self.dtype)            # [U, D]
        for k, i in enumerate(unique.tolist()):
            out[k] = self.range(i, i + 1)[0]
        return out[inverse]


def safetensors_entry(path: Path, name: str) -> tuple[int, tuple, torch.dtype] | None:
    """(absolute byte offset, shape, dtype) of tensor `name` in a safetensors file, from its header (the format:
    an 8-byte little-endian header length, a JSON header, then the data), or None where it is not there."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        entry = json.loads(f.read(n)).get(name)
    if entry is None or entry.get("dtype") not in _SAFETENSORS_DTYPES:
        return None
    return 8 + n + entry["data_offsets"][0], tuple(entry["shape"]), _SAFETENSORS_DTYPES[entry["dtype"]]


def _file_offset_of(address: int, path: Path) -> int | None:
    """The offset in `path` that the byte at `address` of this process is mapped from, if it is (/proc/self/maps)."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux
        return None
    target = str(path.resolve())
    for line in lines:
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and parts[5] == target:
            start, end = (int(x, 16) for x in parts[0].split("-"))
            if start <= address < end:
                return address - start + int(parts[2], 16)
    return None


def mapped_rows(weight: torch.Tensor, path: Path, name: str) -> FileRows | None:
    """FileRows for `weight` where it is tensor `name` of safetensors file `path`, mapped from it unchanged
    (same dtype and shape, CPU, contiguous, and its first byte mapped from that tensor's place in the file);
    else None."""
    path = Path(path)
    if weight.device.type != "cpu" or weight.dim() != 2 or not weight.is_contiguous() or not path.is_file():
        return None
    entry = safetensors_entry(path, name)
    if entry is None:
        return None
    offset, shape, dtype = entry
    if shape != tuple(weight.shape) or dtype != weight.dtype or _file_offset_of(weight.data_ptr(), path) != offset:
        return None
    return FileRows(path, offset, shape, dtype, weight.data_ptr())


class FileRowsEmbedding(nn.Embedding):
    """nn.Embedding (same weight parameter) whose lookups read the rows from the file (`FileRows`), so the mapped
    table is never touched: [*] ids -> [*, D]. Bit-identical to nn.Embedding's lookup (a copy of the same rows)."""

    def __init__(self, embedding: nn.Embedding, rows: FileRows):
        super().__init__(embedding.num_embeddings, embedding.embedding_dim, padding_idx=embedding.padding_idx,
                         device="meta")    # no [V, D] table of its own: the weight is replaced just below
        self.weight = embedding.weight  # the very same parameter
        self.file_rows = rows

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.max_norm is not None or not self.file_rows.backs(self.weight):
            return super().forward(ids)
        return self.file_rows.rows(ids.reshape(-1)).view(*ids.shape, self.embedding_dim)


def read_embedding_rows_from_file(model: nn.Module, path: Path) -> bool:
    """Make `model`'s input embedding (a plain nn.Embedding of a checkpoint file `path`) read its rows from the
    file. True where it did; a no-op (False) where the weight is not mapped unchanged from `path`."""
    emb = model.get_input_embeddings()
    if type(emb) is not nn.Embedding:  # subclasses (Gemma's scaled embedding) compute more than a lookup
        return False
    name = next((n for n, p in model.named_parameters() if p is emb.weight), None)
    rows = mapped_rows(emb.weight, path, name) if name else None
    prefix = getattr(model, "base_model_prefix", "")  # names in the file may lack or carry the model's prefix
    if rows is None and name and prefix:
        alt = name[len(prefix) + 1:] if name.startswith(prefix + ".") else f"{prefix}.{name}"
        rows = mapped_rows(emb.weight, path, alt)
    if rows is None:
        return False
    model.set_input_embeddings(FileRowsEmbedding(emb, rows))
    return True


def read_head_rows_from_file(llm: nn.Module, path: Path) -> bool:
    """Attach FileRows for `llm`'s output head weight (a tied or own [V, D] table of checkpoint `path`) as
    `head.file_rows`, read by fusion.scoring's streamed log-normalizer. True where attached."""
    head = llm.get_output_embeddings()
    if not isinstance(head, nn.Linear):
        return False
    names = [n for n, p in llm.named_parameters(remove_duplicate=False) if p is head.weight]
    prefix = getattr(llm, "base_model_prefix", "")
    candidates = names + [n[len(prefix) + 1:] for n in names if prefix and n.startswith(prefix + ".")]
    for name in candidates:
        rows = mapped_rows(head.weight, path, name)
        if rows is not None:
            head.file_rows = rows
            return True
    return False


def head_rows(head: nn.Linear, rows) -> torch.Tensor:
    """head.weight[rows] (rows: a slice, or ids [K]), read from the file where the head has `file_rows` that still
    back its weight (bit-identical); [K, D]."""
    file_rows = getattr(head, "file_rows", None)
    if file_rows is None or not file_rows.backs(head.weight):
        return head.weight[rows]
    return file_rows.range(rows.start, rows.stop) if isinstance(rows, slice) else file_rows.rows(rows)
