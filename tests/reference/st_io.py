"""Minimal pure-python safetensors reader/writer (no `safetensors` package needed).

File layout (the standard safetensors format):
    u64 little-endian  N = byte length of the JSON header (including padding)
    N bytes            UTF-8 JSON object:
                         {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
                          ...,
                          "__metadata__": {"<str>": "<str>", ...}}
                       padded with spaces so that 8 + N is a multiple of 8
    data               raw little-endian, C-contiguous tensors; offsets are relative to
                       the start of the data section. Written here in sorted-name order,
                       back to back, with no gaps.

Usage:
    import st_io
    st_io.save("x.safetensors", {"w": torch.zeros(2, 3)}, metadata={"k": "v"})
    tensors, metadata = st_io.load("x.safetensors")
"""

import json
import struct

import numpy as np
import torch

# safetensors dtype tag -> (torch dtype, numpy little-endian dtype used for the raw bytes)
_DTYPES = {
    "F64": (torch.float64, "<f8"),
    "F32": (torch.float32, "<f4"),
    "F16": (torch.float16, "<f2"),
    "BF16": (torch.bfloat16, "<i2"),  # numpy has no bfloat16: move the raw 16-bit patterns
    "I64": (torch.int64, "<i8"),
    "I32": (torch.int32, "<i4"),
    "U8": (torch.uint8, "u1"),
}
_TAG_OF = {tdt: tag for tag, (tdt, _) in _DTYPES.items()}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    tag = _TAG_OF.get(t.dtype)
    if tag is None:
        raise TypeError("st_io: unsupported dtype %s" % t.dtype)
    npdt = _DTYPES[tag][1]
    if tag == "BF16":
        arr = t.view(torch.int16).numpy()
    else:
        arr = t.numpy()
    return tag, np.ascontiguousarray(arr.astype(npdt, copy=False)).tobytes()


def save(path, tensors, metadata=None):
    """Write dict name -> torch.Tensor to `path`; metadata must map str -> str."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("st_io: '__metadata__' is reserved")
        t = tensors[name]
        tag, raw = _tensor_bytes(t)
        header[name] = {"dtype": tag, "shape": [int(s) for s in t.shape],
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("st_io: metadata must be str -> str (%r: %r)" % (k, v))
        header["__metadata__"] = dict(metadata)
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((-(8 + len(hbytes))) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for c in chunks:
            f.write(c)


def load(path):
    """Read a safetensors file: returns (dict name -> torch.Tensor, metadata dict)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("st_io: %s: too short" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise ValueError("st_io: %s: header length %d past end of file" % (path, n))
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        tag = info["dtype"]
        if tag not in _DTYPES:
            raise ValueError("st_io: %s: tensor %s has unsupported dtype %s" % (path, name, tag))
        tdt, npdt = _DTYPES[tag]
        shape = tuple(int(s) for s in info["shape"])
        b, e = (int(v) for v in info["data_offsets"])
        count = int(np.prod(shape)) if shape else 1
        if not (0 <= b <= e <= len(data)) or e - b != count * np.dtype(npdt).itemsize:
            raise ValueError("st_io: %s: tensor %s has bad data_offsets %r" % (path, name, [b, e]))
        arr = np.frombuffer(data[b:e], dtype=npdt).reshape(shape).copy()
        t = torch.from_numpy(arr)
        if tag == "BF16":
            t = t.view(torch.bfloat16)
        out[name] = t
    return out, metadata
