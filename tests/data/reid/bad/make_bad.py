#!/usr/bin/env python3
"""Writes the bad `vssm eval reid` features files of this folder (tests/test_reid_inputs.c).
Plain safetensors (8-byte little-endian header size, JSON header, raw data), no dependency:
    python3 tests/data/reid/bad/make_bad.py tests/data/reid/bad
"""
import json, struct, sys, os


def write(path, tensors):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def f32(*v): return struct.pack("<%df" % len(v), *v)
def f64(*v): return struct.pack("<%dd" % len(v), *v)
def i64(*v): return struct.pack("<%dq" % len(v), *v)


def base():
    # 3 queries, 2 gallery images, 2 dimensions; query 0 matches gallery 0 (pid 1, other camera)
    return {
        "query": ("F32", [3, 2], f32(1, 0, 0, 1, 1, 1)),
        "gallery": ("F32", [2, 2], f32(1, 0.1, 0, 1)),
        "query_pid": ("I64", [3], i64(1, 2, 0)),
        "query_camid": ("I64", [3], i64(0, 1, 2)),
        "gallery_pid": ("I64", [2], i64(1, 2)),
        "gallery_camid": ("I64", [2], i64(1, 0)),
    }


def main(out):
    t = base()
    write(os.path.join(out, "good.safetensors"), t)
    t = base(); t["query_pid"] = ("I64", [2], i64(1, 2))
    write(os.path.join(out, "lengths_pid.safetensors"), t)          # 3 query rows, 2 pids
    t = base(); t["gallery_camid"] = ("I64", [1], i64(1))
    write(os.path.join(out, "lengths_camid.safetensors"), t)        # 2 gallery rows, 1 camid
    t = base(); t["query"] = ("F32", [3, 2], f32(1, 0, float("nan"), 1, 1, 1))
    write(os.path.join(out, "nan.safetensors"), t)                  # NaN at query row 1, column 0
    t = base(); t["gallery"] = ("F64", [2, 2], f64(1, 0.1, 0, 1e300))
    write(os.path.join(out, "f64_overflow.safetensors"), t)         # 1e300 is inf as float32
    t = base(); t["query"] = ("F32", [3, 0], b""); t["gallery"] = ("F32", [2, 0], b"")
    write(os.path.join(out, "dim0.safetensors"), t)                 # zero-width features


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
