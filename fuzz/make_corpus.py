#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/arena_fuzz.c into the directory given
(default: corpus/ beside this script). Each seed is a short hand-written
program in the harness's input format (documented at the top of
arena_fuzz.c); the fuzzer mutates them from there.

    python3 make_corpus.py [DIR]
"""
import os
import struct
import sys

# op numbers (low nibble of an op byte); IMAGE's first operand picks
# realloc (0-2), set_budget (3), take (4-5) or restore (6-7)
IMAGE = 3
ALLOC, WRITE, LOOKUP, VERIFY, RESET, RECREATE, STALE, FOREIGN, FORGED, FAIL, \
    RAWKEY, BURST, ALLHANDLES = 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15


def header(narenas=1, recycling=True, pool=False, pool_shift=0, pool_pages=4,
           chunk_sel=2, key=0, slots=((0, 0), (0, 0), (0, 0))):
    b0 = (narenas - 1) | (0 if recycling else 4) | (8 if pool else 0)
    b1 = pool_shift | (pool_pages << 3)
    out = bytes([b0, b1 & 0xff, chunk_sel, key])
    for c0, c1 in slots:
        out += bytes([c0, c1])
    return out


def slot(pooled=False, shift=0, budget_sel=0):
    return (1 if pooled else 0) | (shift << 1) | (budget_sel << 4)


def op(code, arena=0):
    return bytes([code | (arena << 4)])


def small(n, align_log=3, handle=True, seed=1, arena=0):
    ab = align_log | (0 if handle else 0xe0)
    return op(ALLOC, arena) + bytes([0, n % 64, ab]) + struct.pack('<H', seed)


def upto_page(n, align_log=3, seed=2, arena=0):
    return op(ALLOC, arena) + bytes([9]) + struct.pack('<H', n) + bytes([align_log]) + \
        struct.pack('<H', seed)


def large(extra, align_log=3, seed=3, arena=0):
    return op(ALLOC, arena) + bytes([13]) + struct.pack('<H', extra) + bytes([align_log]) + \
        struct.pack('<H', seed)


def reset(arena=0):
    return op(RESET, arena)


def verify(arena=0):
    return op(VERIFY, arena)


def lookup(k, arena=0):
    return op(LOOKUP, arena) + struct.pack('<H', k)


def stale_all(arena=0):
    return op(STALE, arena) + bytes([0xff])


def foreign(other, k, kind, arena=0):
    return op(FOREIGN, arena) + bytes([other]) + struct.pack('<H', k) + bytes([kind])


def forged(mode, payload=b'', arena=0):
    return op(FORGED, arena) + bytes([mode]) + payload


def fail_after(n, arena=0):
    return op(FAIL, arena) + bytes([n])


def disarm(arena=0):
    return op(FAIL, arena) + bytes([0xff])


def recreate(c0, c1=0, arena=0):
    return op(RECREATE, arena) + bytes([c0, c1])


def burst(count, sb, arena=0):
    return op(BURST, arena) + bytes([count, sb])


def all_handles(arena=0):
    return op(ALLHANDLES, arena)


def realloc(pick, n, seed=4, arena=0):
    return op(IMAGE, arena) + bytes([0]) + struct.pack('<H', pick) + bytes([9]) + \
        struct.pack('<H', n) + struct.pack('<H', seed)


def set_budget(c0, c1, arena=0):
    return op(IMAGE, arena) + bytes([3, c0, c1])


def take(arena=0):
    return op(IMAGE, arena) + bytes([4])


def restore(arena=0):
    return op(IMAGE, arena) + bytes([6])


SEEDS = {}

# one standalone arena: small blocks, alignments, a page turn, a reset
SEEDS['basic'] = header() + b''.join(small(i * 5, i % 13, seed=i) for i in range(20)) + \
    upto_page(4000) + upto_page(300) + verify() + lookup(3) + reset() + stale_all() + \
    small(8) + all_handles() + verify()

# large blocks and the chunk cache of a standalone arena
SEEDS['large'] = header(slots=((slot(shift=1), 0), (0, 0), (0, 0))) + large(100) + \
    large(5000, 12) + small(10) + reset() + large(90) + large(30000) + verify() + reset()

# budgets: 16*c1 bytes and 4096*c1 bytes, exact ceilings and refusals
SEEDS['budget'] = header(narenas=2, slots=((slot(budget_sel=11), 4), (slot(budget_sel=13), 2),
                                           (0, 0))) + \
    small(1, 0) + small(9, 3) + small(8, 3) + small(1, 0) + verify() + \
    upto_page(4000, arena=1) + upto_page(4000, arena=1) + upto_page(200, arena=1) + \
    large(10, arena=1) + reset(1) + large(10, arena=1) + verify(1)

# three arenas on one pool: recycle pages, chunks and shells
SEEDS['pool'] = header(narenas=3, pool=True, pool_shift=1, pool_pages=6,
                       slots=((slot(pooled=True), 0), (slot(pooled=True), 0),
                              (slot(shift=2), 0))) + \
    b''.join(burst(100, s, a) for s in (3, 40) for a in range(3)) + large(20000, arena=0) + \
    recreate(slot(pooled=True), 0, 0) + burst(120, 7, 0) + large(20000, arena=0) + \
    foreign(1, 5, 0) + foreign(0, 3, 2, 1) + reset(1) + foreign(1, 1, 1, 2) + \
    recreate(slot(pooled=True), 0, 1) + verify(0) + verify(1) + verify(2)

# failure injection at several depths, then disarmed
SEEDS['fail'] = header(narenas=2, pool=True, slots=((slot(pooled=True), 0), (0, 0), (0, 0))) + \
    fail_after(0) + small(8) + large(10) + fail_after(2) + burst(90, 5) + \
    burst(90, 5, 1) + large(100, arena=1) + disarm() + verify() + verify(1) + \
    fail_after(1) + recreate(slot(pooled=True)) + recreate(0, 0, 1) + disarm() + \
    small(16) + small(16, arena=1) + fail_after(3) + reset() + upto_page(4096) + \
    upto_page(4096) + disarm() + verify()

# forged integers and adversarial keys
SEEDS['handles'] = header(narenas=2) + burst(20, 2) + burst(20, 2, 1) + \
    forged(1, struct.pack('<H', 42)) + forged(2, struct.pack('<h', -3)) + \
    forged(3, struct.pack('<h', 5)) + forged(4, struct.pack('<H', 0)) + \
    forged(5, struct.pack('<H', 0)) + forged(6, struct.pack('<H', 3) + bytes([40])) + \
    forged(6, struct.pack('<H', 3) + bytes([2])) + forged(7, struct.pack('<H', 1) + bytes([1])) + \
    forged(0, struct.pack('<q', -1)) + \
    op(RAWKEY) + bytes([0, 0, 0]) + struct.pack('<Q', 5) + bytes([0]) + burst(10, 0) + reset() + \
    burst(10, 0) + op(RAWKEY, 1) + bytes([0, 0, 1]) + struct.pack('<Q', 77) + bytes([1]) + \
    burst(10, 0, 1) + op(RAWKEY, 1) + bytes([0, 0, 2]) + struct.pack('<Q', 0) + bytes([0]) + \
    burst(10, 0, 1) + foreign(0, 1, 0, 1) + foreign(1, 2, 2, 0) + all_handles(0) + \
    all_handles(1)

# recycling off: resets give pages back
SEEDS['norecycle'] = header(narenas=2, recycling=False, pool=True,
                            slots=((slot(pooled=True), 0), (slot(shift=4), 0), (0, 0))) + \
    burst(100, 9) + large(5000) + reset() + burst(100, 9) + burst(60, 1, 1) + large(10, arena=1) + \
    reset(1) + recreate(slot(pooled=True)) + small(3) + verify() + verify(1)

# many resets with the old handles kept
SEEDS['resets'] = header() + b''.join(burst(5, i) + reset() + stale_all() for i in range(12)) + \
    all_handles()


# what an isolate does: blocks without handles, an image, calls that
# grow blocks and allocate past it, restores; then a budget and a reset
SEEDS['image'] = header(narenas=2, pool=True, pool_pages=6,
                        slots=((slot(pooled=True), 0), (slot(shift=1), 0), (0, 0))) + \
    b''.join(small(i * 3, 3, handle=False, seed=i) for i in range(12)) + small(8) + take() + \
    b''.join(realloc(i, 40 + i * 10) + upto_page(700, seed=i) for i in range(8)) + \
    large(3000) + restore() + verify() + realloc(11, 60) + realloc(11, 2000) + restore() + \
    restore() + set_budget(slot(budget_sel=14), 1) + burst(50, 2) + restore() + reset() + \
    restore() + take(1) + large(100, arena=1) + realloc(0, 9000, arena=1) + restore(1) + \
    verify(1) + all_handles()


# a key whose generation wraps past 2^32 after a few resets and restores:
# each wrap starts a new lap (the key's bit 31 flips)
SEEDS['laps'] = header() + op(RAWKEY) + bytes([0, 0, 3]) + struct.pack('<Q', 0xfffffffc) + \
    struct.pack('<Q', 0x5a0d0007) + small(8) + small(16, handle=False) + take() + \
    b''.join(small(8, seed=i) + reset() + restore() + small(24, seed=i) for i in range(6)) + \
    stale_all() + all_handles() + verify()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
        print('%-10s %4d bytes' % (name, len(data)))


if __name__ == '__main__':
    main()
