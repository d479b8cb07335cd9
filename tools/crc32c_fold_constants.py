#!/usr/bin/env python3
"""Constants of the CRC32C folding path (include/migrate/crc32c.h).

Folding moves a 128-bit lane D bytes further along the message. In the
reflected bit order of CRC32C a lane is L * x^64 + H (L: its first 8 bytes,
H: its last 8), and moving it means multiplying by x^(8D). The carry-less
product of two reflected 64-bit values comes out one bit short (a factor
x), and a 32-bit constant in a 64-bit lane stands for itself times x^32, so
the constants are

    L:  x^(8D + 64 - 33) mod P = x^(8D + 31) mod P
    H:  x^(8D - 33) mod P

written as reflected 32-bit values (x^0 is bit 31), P = 0x1EDC6F41 (CRC32C).
Run it to print the table the header holds; with --check HEADER it compares
the header's table with its own and exits 1 when they differ (ctest:
crc32c_fold_constants). tests/migrate/test_crc32c_table.c also recomputes
every entry bit by bit.
"""

import re
import sys

POLY_REFLECTED = 0x82F63B78
DISTANCES = (16, 32, 48, 64, 128, 192, 256)


def xpow(n):
    """x^n mod P, reflected: start from x^0 (bit 31), multiply by x n times."""
    r = 0x80000000
    for _ in range(n):
        r = (r >> 1) ^ (POLY_REFLECTED if r & 1 else 0)
    return r


def table():
    lines = ["static const uint32_t migrate__crc32c_fold_k[%d][2] = {" % len(DISTANCES)]
    for d in DISTANCES:
        lines.append("    {0x%08xu, 0x%08xu}, /* D = %d: x^%d, x^%d */"
                     % (xpow(8 * d + 31), xpow(8 * d - 33), d, 8 * d + 31, 8 * d - 33))
    lines.append("};")
    return lines


def check(header):
    with open(header, encoding="utf-8") as f:
        text = f.read()
    want = table()
    m = re.search(re.escape(want[0]) + r"\n(.*?\n)\};", text, re.S)
    if m is None:
        print("FAIL: no %s in %s" % (want[0], header))
        return 1
    got = [want[0]] + m.group(1).rstrip("\n").split("\n") + ["};"]
    if got != want:
        print("FAIL: %s differs from what this script computes:" % header)
        print("\n".join(want))
        return 1
    d = re.search(r"migrate__crc32c_fold_d\[\d+\] = \{([^}]*)\}", text)
    if d is None or tuple(int(x) for x in d.group(1).split(",")) != DISTANCES:
        print("FAIL: migrate__crc32c_fold_d in %s is not %s" % (header, DISTANCES))
        return 1
    print("ok: %d folding constants" % (2 * len(DISTANCES)))
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    print("\n".join(table()))


if __name__ == "__main__":
    main()
