#!/usr/bin/python3
"""Write tests/data/weights/misaligned.pth for test_pth: a torch.save-shaped zip whose one
float32 storage (0, 1, ..., 7) starts at a byte offset that is not a multiple of 4 (torch
aligns its entries to 64 bytes; other writers need not), and five tensors on it:

    full     offset 0, size (8,),  stride (1,)    contiguous: 0 .. 7
    off3     offset 3, size (2, 2), stride (2, 1) contiguous at an offset: 3 4 5 6
    every2   offset 1, size (2,),  stride (2,)    strided, one dim of size 2: 1 3
    t32      offset 0, size (3, 2), stride (1, 3) a transpose: 0 3 1 4 2 5
    empty    offset 8, size (0,),  stride (1,)    no element

No torch needed: the pickle is written opcode by opcode (protocol 2, as torch.save's data.pkl:
a dict of torch._utils._rebuild_tensor_v2 calls on persistent ids).

    /usr/bin/python3 tests/reference/gen_pth_misaligned.py
"""
import os
import struct
import zipfile

OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "weights",
                                    "misaligned.pth"))
ARCHIVE = "misal"  # "misal/data/0" (12 characters) puts the storage 30 + 12 = 42 bytes in


def uni(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def ints(v):  # a tuple of small ints: MARK, BININT..., TUPLE
    return b"(" + b"".join(b"J" + struct.pack("<i", x) for x in v) + b"t"


def tensor(offset, size, stride):
    storage = b"(" + uni("storage") + b"ctorch\nFloatStorage\n" + uni("0") + uni("cpu") + b"J" + struct.pack("<i", 8)
    storage += b"tQ"  # the persistent id tuple, BINPERSID
    # _rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()): GLOBAL, MARK, the
    # arguments (NEWFALSE; OrderedDict() by EMPTY_TUPLE + REDUCE), TUPLE, REDUCE
    return (b"ctorch._utils\n_rebuild_tensor_v2\n(" + storage + b"J" + struct.pack("<i", offset) + ints(size) +
            ints(stride) + b"\x89ccollections\nOrderedDict\n)R" + b"tR")


def main():
    views = [("full", 0, (8,), (1,)), ("off3", 3, (2, 2), (2, 1)), ("every2", 1, (2,), (2,)),
             ("t32", 0, (3, 2), (1, 3)), ("empty", 8, (0,), (1,))]
    pkl = b"\x80\x02}(" + b"".join(uni(n) + tensor(o, s, t) for n, o, s, t in views) + b"u."
    entries = [("data/0", struct.pack("<8f", *range(8))),  # first: 42 bytes in
               ("data.pkl", pkl), ("version", b"3\n")]
    with zipfile.ZipFile(OUT, "w", zipfile.ZIP_STORED) as z:
        for name, data in entries:  # a fixed time stamp: the same bytes every run
            z.writestr(zipfile.ZipInfo(ARCHIVE + "/" + name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    with zipfile.ZipFile(OUT) as z:
        off = z.getinfo(ARCHIVE + "/data/0").header_offset + 30 + len(ARCHIVE + "/data/0")
    assert off % 4 != 0, off
    print("wrote %s (%d bytes), the storage at byte %d" % (OUT, os.path.getsize(OUT), off))


if __name__ == "__main__":
    main()
