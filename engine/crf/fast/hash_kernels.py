"""Hash tables that deduplicate lattice vertices and find blur neighbours (numba, GIL released).

Two flavours. Generic: keys are d wrapping int16 coordinates, exactly pydensecrf's `short` keys, compared
coordinate by coordinate. Packed: when every key (and neighbour) fits a box, a key is one int64 code and a
table slot holds (code, id) in one cache line: same vertices, several times faster. Vertex ids are first-touch
order; they never change a result, only memory layout.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .build_kernels import _wrap16

_CHUNK = 2048
_MUL = np.int64(-7046029254386353131)
_RECENT = 16384  # entries of the recent-codes cache (256 KiB, L2-resident)


@njit(inline="always")
def _hash(keys, p, r, d, bits):
    """Multiplicative hash of one key; the top `bits` bits pick the slot (our table, not pydensecrf's)."""
    h = np.int64(0)
    for k in range(d):
        h = (h ^ (np.int64(keys[p, r, k]) & 0xFFFF)) * np.int64(-7046029254386353131)
    return (h >> (64 - bits)) & ((np.int64(1) << bits) - 1)


@njit(inline="always")
def _hash_row(key, d, bits):
    h = np.int64(0)
    for k in range(d):
        h = (h ^ (np.int64(key[k]) & 0xFFFF)) * np.int64(-7046029254386353131)
    return (h >> (64 - bits)) & ((np.int64(1) << bits) - 1)


@njit(inline="always")
def _bits(cap):
    b = 0
    while (np.int64(1) << b) < cap:
        b += 1
    return b


@njit(nogil=True, cache=True)
def _rehash(vkeys, m, cap):
    d = vkeys.shape[1]
    table = np.full(cap, -1, np.int32)
    mask = cap - 1
    bits = _bits(cap)
    for v in range(m):
        slot = _hash_row(vkeys[v], d, bits)
        while table[slot] >= 0:
            slot = (slot + 1) & mask
        table[slot] = v
    return table


@njit(nogil=True, cache=True)
def insert_all(keys):
    """Deduplicate all vertex keys (P,d+1,d): returns (offsets (P,d+1) int32, vertex keys (M,d) int16, table)."""
    n, d1, d = keys.shape
    cap = 1024
    while cap < 2 * n:
        cap *= 2
    bits = _bits(cap)
    table = np.full(cap, -1, np.int32)
    vkeys = np.empty((max(n, 64), d), np.int16)
    offsets = np.empty((n, d1), np.int32)
    m = 0
    for p in range(n):
        for r in range(d1):
            if p > 0:
                same = True
                for k in range(d):
                    if keys[p, r, k] != keys[p - 1, r, k]:
                        same = False
                        break
                if same:
                    offsets[p, r] = offsets[p - 1, r]
                    continue
            mask = cap - 1
            slot = _hash(keys, p, r, d, bits)
            found = -1
            while True:
                e = table[slot]
                if e < 0:
                    break
                same = True
                for k in range(d):
                    if vkeys[e, k] != keys[p, r, k]:
                        same = False
                        break
                if same:
                    found = e
                    break
                slot = (slot + 1) & mask
            if found < 0:
                if m == vkeys.shape[0]:
                    bigger = np.empty((2 * m, d), np.int16)
                    bigger[:m] = vkeys[:m]
                    vkeys = bigger
                for k in range(d):
                    vkeys[m, k] = keys[p, r, k]
                table[slot] = m
                found = m
                m += 1
                if 2 * m >= cap:
                    cap *= 2
                    bits += 1
                    table = _rehash(vkeys, m, cap)
            offsets[p, r] = found
    return offsets, vkeys[:m].copy(), table


@njit(inline="always")
def _find(table, bits, vkeys, key, d):
    mask = table.size - 1
    slot = _hash_row(key, d, bits)
    while True:
        e = table[slot]
        if e < 0:
            return -1
        same = True
        for k in range(d):
            if vkeys[e, k] != key[k]:
                same = False
                break
        if same:
            return e
        slot = (slot + 1) & mask


@njit(nogil=True, parallel=True, cache=True)
def neighbours(vkeys, table):
    """Blur neighbours (d+1, M, 2) int32 per axis; a missing neighbour points at the zero row M."""
    m, d = vkeys.shape
    d1 = d + 1
    nbr = np.empty((d1, m, 2), np.int32)
    bits = _bits(table.size)
    nchunk = (m + _CHUNK - 1) // _CHUNK
    for c in prange(nchunk):
        n1 = np.empty(d, np.int16)
        n2 = np.empty(d, np.int16)
        for v in range(c * _CHUNK, min(m, (c + 1) * _CHUNK)):
            for j in range(d1):
                for k in range(d):
                    n1[k] = _wrap16(np.int64(vkeys[v, k]) - 1)
                    n2[k] = _wrap16(np.int64(vkeys[v, k]) + 1)
                if j < d:
                    n1[j] = _wrap16(np.int64(vkeys[v, j]) + d)
                    n2[j] = _wrap16(np.int64(vkeys[v, j]) - d)
                a = _find(table, bits, vkeys, n1, d)
                b = _find(table, bits, vkeys, n2, d)
                nbr[j, v, 0] = a if a >= 0 else m
                nbr[j, v, 1] = b if b >= 0 else m
    return nbr


# ---- packed int64 codes ----

@njit(inline="always")
def _slot(code, bits):
    return ((code * _MUL) >> (64 - bits)) & ((np.int64(1) << bits) - 1)


@njit(nogil=True, cache=True)
def _regrow(table, m, bits):
    new = np.full((table.shape[0] * 2, 2), -1, np.int64)
    mask = new.shape[0] - 1
    for s in range(table.shape[0]):
        if table[s, 1] >= 0:
            slot = _slot(table[s, 0], bits)
            while new[slot, 1] >= 0:
                slot = (slot + 1) & mask
            new[slot, 0] = table[s, 0]
            new[slot, 1] = table[s, 1]
    return new


@njit(inline="always")
def _find_or_add(table, bits, vcodes, m, code):
    """(table, bits, vcodes, m, id of code): the code's vertex id, adding it as vertex m when new (vcodes and the
    table grow by doubling; the table stays under half full)."""
    mask = table.shape[0] - 1
    slot = _slot(code, bits)
    while table[slot, 1] >= 0 and table[slot, 0] != code:
        slot = (slot + 1) & mask
    found = table[slot, 1]
    if found < 0:
        if m == vcodes.shape[0]:
            bigger = np.empty(2 * m, np.int64)
            bigger[:m] = vcodes[:m]
            vcodes = bigger
        vcodes[m] = code
        table[slot, 0] = code
        table[slot, 1] = m
        found = m
        m += 1
        if 2 * m >= table.shape[0]:
            bits += 1
            table = _regrow(table, m, bits)
    return table, bits, vcodes, m, found


@njit(nogil=True, cache=True)
def insert_codes(codes):
    """Deduplicate vertex codes (P,d+1) int64: (offsets (P,d+1) int32, vertex codes (M,), table (cap,2)).

    A direct-mapped cache of recent codes (L2-sized) answers most lookups, because neighbouring pixels
    share vertices; the main table starts small and doubles, so it stays cache-friendly for small lattices.
    """
    n, d1 = codes.shape
    bits = 16
    table = np.full((np.int64(1) << bits, 2), -1, np.int64)
    recent = np.full((_RECENT, 2), -1, np.int64)
    vcodes = np.empty(max(n, 64), np.int64)
    offsets = np.empty((n, d1), np.int32)
    m = 0
    for p in range(n):
        for r in range(d1):
            code = codes[p, r]
            h = (code * _MUL) >> 40
            rs = h & (_RECENT - 1)
            if recent[rs, 0] == code:
                offsets[p, r] = recent[rs, 1]
                continue
            table, bits, vcodes, m, found = _find_or_add(table, bits, vcodes, m, code)
            offsets[p, r] = found
            recent[rs, 0] = code
            recent[rs, 1] = found
    return offsets, vcodes[:m].copy(), table


@njit(nogil=True, cache=True)
def merge_codes(table, vcodes, m, part_codes):
    """Add a later part's vertex codes (in its first-touch order) to table/vcodes holding m vertices.

    Returns (table, vcodes, m, ids): ids[l] is the global id of the part's local vertex l. Codes already present
    keep their id; new ones get the next ids in order, so the ids equal one sequential insert_codes over all
    points (ids are first-touch order either way).
    """
    k = part_codes.shape[0]
    ids = np.empty(k, np.int32)
    bits = _bits(table.shape[0])
    for l in range(k):
        table, bits, vcodes, m, found = _find_or_add(table, bits, vcodes, m, part_codes[l])
        ids[l] = found
    return table, vcodes, m, ids


@njit(nogil=True, parallel=True, cache=True)
def remap(offsets, ids):
    """offsets[:] = ids[offsets] in place (a later part's local vertex ids -> global ids)."""
    n, d1 = offsets.shape
    nchunk = (n + _CHUNK - 1) // _CHUNK
    for c in prange(nchunk):
        for p in range(c * _CHUNK, min(n, (c + 1) * _CHUNK)):
            for r in range(d1):
                offsets[p, r] = ids[offsets[p, r]]


@njit(nogil=True, parallel=True, cache=True)
def neighbours_packed(vcodes, table, deltas):
    """Blur neighbours (d+1, M, 2) int32: code + deltas[j, 0|1]; missing -> M (the zero row)."""
    m = vcodes.shape[0]
    d1 = deltas.shape[0]
    nbr = np.empty((d1, m, 2), np.int32)
    bits = _bits(table.shape[0])
    mask = table.shape[0] - 1
    nchunk = (m + _CHUNK - 1) // _CHUNK
    for c in prange(nchunk):
        for v in range(c * _CHUNK, min(m, (c + 1) * _CHUNK)):
            for j in range(d1):
                for side in range(2):
                    code = vcodes[v] + deltas[j, side]
                    slot = _slot(code, bits)
                    while table[slot, 1] >= 0 and table[slot, 0] != code:
                        slot = (slot + 1) & mask
                    found = table[slot, 1]
                    nbr[j, v, side] = found if found >= 0 else m
    return nbr
