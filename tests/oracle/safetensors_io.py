"""Minimal safetensors reader/writer (the `safetensors` package is not installed).

Format: 8-byte little-endian header length N, N bytes of JSON
{"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]},
 "__metadata__": {...}}, then the raw little-endian data section. Offsets are
relative to the start of the data section.
"""

import json
import os
import struct

import numpy as np
import torch

_TORCH_TO_ST = {
    torch.float32: "F32",
    torch.bfloat16: "BF16",
    torch.float16: "F16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.float64: "F64",
}
_ST_TO_TORCH = {v: k for k, v in _TORCH_TO_ST.items()}


def tensor_bytes(t):
    """Raw little-endian bytes of a tensor (row-major)."""
    t = t.detach().contiguous().cpu().reshape(-1)
    if t.numel() == 0:
        return b""
    return t.view(torch.uint8).numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: torch.Tensor} to `path`, tensors in sorted-name order,
    header padded with spaces so the data section starts 8-byte aligned."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype not in _TORCH_TO_ST:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        raw = tensor_bytes(t)
        header[name] = {
            "dtype": _TORCH_TO_ST[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)
    return offset


def read_safetensors(path):
    """Returns {name: torch.Tensor} (original dtypes) read from `path`.
    Raises ValueError on any malformed content."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too short")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    data = memoryview(buf)[8 + n :]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype = _ST_TO_TORCH.get(e["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name}: unsupported dtype {e['dtype']}")
        begin, end = e["data_offsets"]
        shape = [int(d) for d in e["shape"]]
        numel = int(np.prod(shape)) if shape else 1
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= len(data)) or end - begin != numel * itemsize:
            raise ValueError(f"{path}: {name}: bad data_offsets {begin, end}")
        raw = np.frombuffer(data[begin:end], dtype=np.uint8).copy()
        t = torch.from_numpy(raw).view(dtype) if numel else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape)
    return out


def load_checkpoint(model_dir):
    """All tensors of a HF checkpoint dir (model.safetensors or sharded via
    model.safetensors.index.json), as {name: torch.Tensor}."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        out = {}
        for shard in sorted(set(weight_map.values())):
            tensors = read_safetensors(os.path.join(model_dir, shard))
            for name, s in weight_map.items():
                if s == shard:
                    if name not in tensors:
                        raise ValueError(f"{shard} lacks {name}")
                    out[name] = tensors[name]
        return out
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))
