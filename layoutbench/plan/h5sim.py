"""Step-by-step simulation of how HDF5 readers turn chunk reads into requests (no I/O).

A chunk read through h5py is not one request. Before the chunk, HDF5 reads the nodes of the
chunk B-tree on its path that it has not read yet, and those nodes lie between the chunks in the
file, where they were allocated while the chunks were appended; HDF5's chunk cache may hold the
chunk already, depending on its slots, its size and the order of earlier reads; and every read
that reaches the file object goes through the reader's own cache (fsspec's readahead block for
h5py-fsspec, remfile's growing block runs for the remfile readers), which decides whether it
becomes a request and how many bytes that request carries. Neither the count nor the bytes
follow from the chunks a selection touches in closed form, so this module replays each of these
mechanisms entry for entry and counts what reaches the network.

It is the HDF5 half of :func:`layoutbench.plan.geometry.plan_reads`, which works out the chunk reads
of a pattern and calls :func:`plan_hdf5` with them. Its constants mirror the options
:mod:`layoutbench.read.readers` opens files with (tests/test_geometry.py checks they agree), and its
counts are checked against logs of the readers' reads and the gateway's counts
(tests/test_model_measured.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

#: fsspec ``readahead`` block of h5py-fsspec: a miss fetches the read plus this much.
READAHEAD_BLOCK = 64 * 1024
#: remfile's block (``min_chunk_size``), growth factor and cap of a sequential load, in blocks.
REMFILE_BLOCK, REMFILE_GROWTH, REMFILE_MAX_BLOCKS = 100 * 1024, 1.7, 1024
#: remfile keeps this many blocks before dropping the oldest half (1e9 bytes).
REMFILE_CACHE_BLOCKS = int(1e9 / REMFILE_BLOCK)
#: h5py chunk cache as readers.h5_file_options sets it: max(1 MiB, one chunk), 521 slots, w0.
H5_CACHE_BYTES, H5_CACHE_SLOTS, H5_CACHE_W0 = 2**20, 521, 0.75
#: HDF5 v1 B-tree of chunk addresses: 2K = 64 entries per node; an appending split keeps 90 %.
BTREE_ENTRIES, BTREE_KEEP = 64, 57


def plan_hdf5(lins: np.ndarray, wanted: np.ndarray, sizes: np.ndarray,
              grid: tuple[int, ...], chunk_bytes: int, root: int, mode: str, *,
              sizes_key: object = None) -> dict[str, int]:
    """Requests and bytes h5py sends for a sequence of chunk reads in one open file.

    A chunk's lookup first reads the B-tree nodes on its path that this open file has not read
    yet, then the chunk is read whole in one call unless the chunk cache holds it. Those file
    reads become requests through the reader's file object (:class:`Readahead` or
    :class:`Remfile`).

    A search plans the same reads on many layouts (one chunk shape with every codec) and the
    same layout for many reader sessions, so the two halves of the work are memoised apart:
    the order of file reads, which depends only on the reads and the grid
    (:func:`access_order`), and where the chunks and nodes lie, which depends only on the
    stored sizes (:func:`placement`). Only the replay through the file object is done anew.

    Parameters
    ----------
    lins, wanted
        The chunk reads in the order h5py makes them (for each selection, the chunks it
        intersects in C order): each chunk's linear (C-order) grid index, and how many bytes of
        it the selection wants.
    sizes
        Stored bytes of every chunk of the grid, in C order (the order HDF5 wrote them in).
    grid
        Number of chunks along each axis.
    chunk_bytes
        Uncompressed bytes of one whole chunk: what the chunk cache holds and a read decodes.
    root
        File offset of the B-tree root (chunk 0 follows the root node).
    mode
        ``"readahead"`` (h5py-fsspec) or ``"remfile"`` (h5py-remfile, pynwb-remfile).
    sizes_key
        A hashable value that decides ``sizes`` (the same key, the same sizes), to memoise
        their placement by; ``None``: memoise by the sizes themselves.

    Returns
    -------
    dict
        The request and byte fields of :class:`~layoutbench.plan.geometry.ReadPlan` it determines.
    """
    grid = tuple(int(g) for g in grid)
    tree = btree(len(sizes), len(grid))
    offsets, node_addr, eof = placement(tree, sizes, root, sizes_key)
    access = access_order(tree, lins, wanted, grid, chunk_bytes)
    where = np.concatenate([*(a[n] for a, n in zip(node_addr, access.nodes, strict=True)),
                            offsets[access.chunks]])[access.sequence]
    length = np.concatenate([np.full(access.n_index, tree.node_size, np.int64),
                             sizes[access.chunks].astype(np.int64)])[access.sequence]
    fobj: Readahead | Remfile = Readahead(eof) if mode == "readahead" else Remfile(eof)
    index_requests = fobj.replay(where.tolist(), length.tolist(), access.is_index)
    chunks_read = len(access.chunks)
    return {"chunks_read": chunks_read, "requests": fobj.requests,
            "index_requests": index_requests, "bytes_transferred": fobj.nbytes,
            "bytes_decoded": chunks_read * chunk_bytes, "rounds": fobj.requests,
            "serial_bytes": fobj.nbytes}


class AccessOrder(NamedTuple):
    """The file reads of a sequence of chunk reads, before knowing where anything lies:
    ``nodes[level]``, the B-tree nodes of each level (leaves first) read for the first time;
    ``chunks``, those the chunk cache missed; ``sequence``, the order h5py reads the nodes
    (level by level) and chunks concatenated in (by access, then root ... leaf, chunk), and
    ``is_index`` in that order, which reads are of nodes."""

    nodes: tuple[np.ndarray, ...]
    chunks: np.ndarray
    sequence: np.ndarray
    n_index: int
    is_index: list[bool]


#: Memoised :func:`access_order` and :func:`placement` results, emptied when they hold this
#: many: orders are reused across the codecs of a chunk shape, placements (a whole grid each)
#: only across the sessions of one layout's workload, scored in a row.
_MEMO_SIZES = {"access": 2048, "placement": 16}
_MEMOS: dict[str, dict[tuple[object, ...], Any]] = {name: {} for name in _MEMO_SIZES}


def _memoised[T](name: str, key: tuple[object, ...], make: Callable[[], T]) -> T:
    """``make()``, or what it gave for ``key`` before (memo ``name``)."""
    memo = _MEMOS[name]
    if key not in memo:
        if len(memo) >= _MEMO_SIZES[name]:
            memo.clear()
        memo[key] = make()
    return memo[key]


def access_order(tree: BTree, lins: np.ndarray, wanted: np.ndarray, grid: tuple[int, ...],
                 chunk_bytes: int) -> AccessOrder:
    """The :class:`AccessOrder` of chunk reads ``lins`` (wanting ``wanted`` bytes of each) in a
    grid whose B-tree is ``tree``, memoised: it is the same for every codec of a chunk shape."""
    lins = np.asarray(lins, np.int64)
    key = (lins.tobytes(), np.asarray(wanted, np.int64).tobytes(), grid, int(chunk_bytes))
    return _memoised("access", key, lambda: _access_order(tree, lins, wanted, grid, chunk_bytes))


def _access_order(tree: BTree, lins: np.ndarray, wanted: np.ndarray, grid: tuple[int, ...],
                  chunk_bytes: int) -> AccessOrder:
    """:func:`access_order`, computed. Reads in increasing chunk order (one selection's, the
    common case) read no chunk twice, so every read misses the cache: no replay needed."""
    increasing = len(lins) < 2 or bool(np.all(lins[1:] > lins[:-1]))
    missed = np.ones(len(lins), bool) if increasing else cache_misses(lins, wanted, grid,
                                                                       chunk_bytes)
    # file reads as (position in the access sequence, order within it): a lookup reads the
    # nodes on its path it has not read before, root first, then the chunk if the cache
    # missed it
    at, order, nodes = [], [], []
    levels = len(tree.counts)
    idx = lins
    for level in range(levels):
        idx = np.minimum(idx // BTREE_KEEP, tree.counts[level] - 1)
        unique, first = np.unique(idx, return_index=True)
        nodes.append(unique)
        at.append(first)
        order.append(np.full(len(first), levels - 1 - level))  # the root (top level) first
    misses = np.flatnonzero(missed)  # the chunk reads that reach the file
    at.append(misses)
    order.append(np.full(len(misses), levels))  # the chunk after its nodes
    n_index = sum(len(a) for a in at[:-1])
    is_index = np.zeros(n_index + len(misses), bool)
    is_index[:n_index] = True
    sequence = np.lexsort((np.concatenate(order), np.concatenate(at)))
    return AccessOrder(tuple(nodes), lins[misses], sequence, n_index,
                       is_index[sequence].tolist())


def placement(tree: BTree, sizes: np.ndarray, root: int, sizes_key: object = None
              ) -> tuple[np.ndarray, list[np.ndarray], int]:
    """(chunk offsets, node addresses per level, end of file) of :meth:`BTree.place`,
    memoised: the sessions of a workload read one layout, whose stored sizes are the same.
    ``sizes_key`` identifies the sizes when given (hashing ~10^5 sizes each time costs)."""
    sizes = np.asarray(sizes, np.int64)
    which = ("key", sizes_key) if sizes_key is not None else ("bytes", sizes.tobytes())
    key = (which, len(sizes), tree.node_size, int(root))
    return _memoised("placement", key, lambda: tree.place(sizes, root))


def cache_misses(lins: np.ndarray, wanted: np.ndarray, grid: tuple[int, ...],
                 chunk_bytes: int) -> np.ndarray:
    """Which chunk reads miss HDF5's chunk cache (True) in a sequence of reads.

    Two cases need no replay: no chunk read twice (every read misses), and a cache that holds
    one chunk (chunks of 1 MiB and more: a chunk is found only when it was the previous read,
    whatever HDF5's pruning and hashing do). Otherwise :class:`ChunkCache` replays the reads.
    """
    n = len(lins)
    capacity = max(H5_CACHE_BYTES, chunk_bytes)
    if capacity // max(1, chunk_bytes) < 2:
        miss = np.ones(n, bool)
        miss[1:] = lins[1:] != lins[:-1]
        return miss
    if len(np.unique(lins)) == n:
        return np.ones(n, bool)
    cache = ChunkCache(capacity, chunk_bytes, grid)
    scaled = np.stack(np.unravel_index(lins, grid), axis=1).tolist() if n else []
    return np.array([not cache.access(lin, tuple(idx), nb) for lin, idx, nb
                     in zip(lins.tolist(), scaled, wanted.tolist(), strict=True)], bool)


# -- HDF5: chunk index, file offsets and chunk cache -------------------------------------------
def btree_groups(n: int) -> int:
    """Nodes needed for ``n`` entries appended in order: a full node (64) splits 57 + 7."""
    return 1 if n <= BTREE_ENTRIES else -(-(n - BTREE_ENTRIES) // BTREE_KEEP) + 1


@functools.lru_cache(maxsize=256)
def btree(n: int, ndim: int) -> BTree:
    """The :class:`BTree` of ``n`` chunks of ``ndim`` axes, built once: its shape depends on
    nothing else, and a search asks for it for every candidate and every session."""
    return BTree(n, ndim)


class BTree:
    """Shape and file placement of the v1 B-tree HDF5 builds while chunks are appended in C order.

    Leaf ``m`` holds chunks ``[57m, 57m+57)`` (the last up to 64), and so on up the levels.
    Nodes are allocated at the end of the file when they are created: right after the chunk
    whose insertion split a node, the new right sibling first, then (when the root split) the
    old root's copy; the root itself never moves. This is what places B-tree nodes between the
    chunks in the file, and therefore which reads share a readahead block or a remfile block.
    """

    def __init__(self, n: int, ndim: int) -> None:
        self.node_size = 24 + (BTREE_ENTRIES + 1) * (8 + 8 * (ndim + 1)) + BTREE_ENTRIES * 8
        self.counts = [btree_groups(n)]
        while self.counts[-1] > 1:
            self.counts.append(btree_groups(self.counts[-1]))
        # creation events: (index of the chunk inserted, nodes allocated in order)
        self.events: list[tuple[int, list[tuple[int, int]]]] = []
        nodes, fill, height = [1], [0], 1
        for m in range(1, self.counts[0]):
            alloc = [(0, m)]
            nodes[0] += 1
            level = 1
            while True:
                if level == height:  # the node that split was the root: it moves, a new root
                    alloc.append((level - 1, 0))
                    nodes.append(1)
                    fill.append(2)
                    height += 1
                    break
                fill[level] += 1
                if fill[level] <= BTREE_ENTRIES:
                    break
                alloc.append((level, nodes[level]))
                nodes[level] += 1
                fill[level] = BTREE_ENTRIES + 1 - BTREE_KEEP
                level += 1
            self.events.append((BTREE_ENTRIES + BTREE_KEEP * (m - 1), alloc))
        self.event_chunks = np.array([j for j, _ in self.events], np.int64)
        # nodes allocated up to and including each event (0 first, for chunks before any)
        self.nodes_through = np.cumsum([0] + [len(a) for _, a in self.events], dtype=np.int64)
        self._allocation()

    def _allocation(self) -> None:
        """Per level, which event allocated each node and its place in that event's nodes
        (event -1: the root, which lies where it was given). :meth:`place` turns these into
        addresses with array arithmetic once chunk sizes are known."""
        made = {(len(self.counts) - 1, 0): (-1, 0)}
        for e, (_, alloc) in enumerate(self.events):
            for i, node in enumerate(alloc):
                made[node] = (e, i)
        self.node_event = [np.full(c, -2, np.int64) for c in self.counts]
        self.node_slot = [np.zeros(c, np.int64) for c in self.counts]
        for (level, idx), (e, i) in made.items():
            self.node_event[level][idx], self.node_slot[level][idx] = e, i

    def path(self, lin: int) -> list[tuple[int, int]]:
        """(level, index) of the nodes a lookup of chunk ``lin`` visits, root first."""
        idx = min(lin // BTREE_KEEP, self.counts[0] - 1)
        out = [(0, idx)]
        for level in range(1, len(self.counts)):
            idx = min(idx // BTREE_KEEP, self.counts[level] - 1)
            out.append((level, idx))
        return out[::-1]

    def layout(self, sizes: np.ndarray, root: int) -> tuple[np.ndarray, dict[tuple[int, int], int],
                                                             int]:
        """(chunk offsets, node addresses, end of file) for chunks of the given stored sizes."""
        offsets, eof = self._offsets(sizes, root)
        addr = {(len(self.counts) - 1, 0): root}
        for j, alloc in self.events:
            end = int(offsets[j] + sizes[j])
            for i, node in enumerate(alloc):
                addr[node] = end + i * self.node_size
        return offsets, addr, eof


    def place(self, sizes: np.ndarray, root: int) -> tuple[np.ndarray, list[np.ndarray], int]:
        """:meth:`layout` with the node addresses as one array per level (indexed by node)
        instead of a dict: the same addresses, computed without a loop over the nodes."""
        offsets, eof = self._offsets(sizes, root)
        # where each event's nodes start: right after the chunk whose insertion made them
        ends = offsets[self.event_chunks] + np.asarray(sizes)[self.event_chunks]
        starts = np.concatenate((np.array([root], np.int64), ends.astype(np.int64)))
        addr = [starts[ev + 1] + slot * self.node_size
                for ev, slot in zip(self.node_event, self.node_slot, strict=True)]
        return offsets, addr, eof

    def _offsets(self, sizes: np.ndarray, root: int) -> tuple[np.ndarray, int]:
        """(chunk offsets, end of file): chunks in C order after the root, each preceded by the
        nodes allocated before it."""
        first = root + self.node_size
        before = np.concatenate(([0], np.cumsum(sizes)[:-1])) if len(sizes) else sizes
        nodes_before = self.nodes_through[np.searchsorted(self.event_chunks,
                                                          np.arange(len(sizes)), side="left")]
        offsets = first + before + self.node_size * nodes_before
        last = self.events[-1] if self.events else (-1, [])
        eof = int(offsets[-1] + sizes[-1])
        eof += self.node_size * len(last[1]) if last[0] == len(sizes) - 1 else 0
        return offsets, eof


class ChunkCache:
    """HDF5's raw-data chunk cache (H5Dchunk.c), entry for entry.

    A miss appends the chunk at the tail after pruning from the head: first chunks already
    read in full (within the first ``w0`` of the list), then anything. A hit moves its entry one
    place towards the tail. A chunk whose hash slot is taken evicts the occupant. Chunks larger
    than the cache are never cached.
    """

    def __init__(self, capacity: int, chunk_bytes: int, grid: tuple[int, ...]) -> None:
        self.capacity, self.size = capacity, chunk_bytes
        self.enabled = chunk_bytes <= capacity
        self.bits = [0] + [max(0, (g - 1).bit_length()) for g in grid[1:]]
        self.nxt: dict[int, int | None] = {}
        self.prv: dict[int, int | None] = {}
        self.head: int | None = None
        self.tail: int | None = None
        self.unread: dict[int, int] = {}  # rd_count: bytes of the chunk not yet read
        self.slot: dict[int, int] = {}
        self.key: dict[int, tuple[int, ...]] = {}

    def _hash(self, scaled: tuple[int, ...]) -> int:
        val = scaled[0]
        for s, b in zip(scaled[1:], self.bits[1:], strict=True):
            val = (val << b) ^ s
        return val % H5_CACHE_SLOTS

    def access(self, lin: int, scaled: tuple[int, ...], nbytes: int) -> bool:
        """Read ``nbytes`` of chunk ``lin``; True if it came from the cache."""
        h = self._hash(scaled)
        if self.slot.get(h) == lin:
            nxt = self.nxt[lin]
            if nxt is not None:  # swap with its successor
                self._unlink(lin)
                self._insert_after(lin, nxt)
            self.unread[lin] -= min(self.unread[lin], nbytes)
            return True
        if self.enabled:
            if h in self.slot:
                self._evict(self.slot[h])
            self._prune()
            self.slot[h], self.key[lin] = lin, scaled
            self.unread[lin] = self.size - min(self.size, nbytes)
            self._insert_after(lin, self.tail)
        return False

    def _prune(self) -> None:
        """Make room for one chunk as H5D__chunk_cache_prune does. Entries are all one size and
        the cache is pruned before each insertion, so one eviction always suffices, and
        HDF5's two-pointer walk reduces to: the first fully read entry among the first
        ``w0`` of the list and the one after them, or else the head."""
        used = len(self.unread) * self.size
        if used + self.size <= self.capacity or self.head is None:
            return
        w0 = int(len(self.unread) * H5_CACHE_W0)
        node: int | None = self.head
        for _ in range(w0 + 1):
            if node is None:
                break
            if self.unread[node] == 0:
                self._evict(node)
                return
            node = self.nxt[node]
        self._evict(self.head)

    def _evict(self, lin: int) -> None:
        self._unlink(lin)
        del self.nxt[lin], self.prv[lin], self.unread[lin]
        del self.slot[self._hash(self.key.pop(lin))]

    def _unlink(self, lin: int) -> None:
        prv, nxt = self.prv[lin], self.nxt[lin]
        if prv is None:
            self.head = nxt
        else:
            self.nxt[prv] = nxt
        if nxt is None:
            self.tail = prv
        else:
            self.prv[nxt] = prv

    def _insert_after(self, lin: int, after: int | None) -> None:
        """Link ``lin`` after ``after`` (``None``: into an empty list)."""
        nxt = None if after is None else self.nxt[after]
        self.prv[lin], self.nxt[lin] = after, nxt
        if after is None:
            self.head = lin
        else:
            self.nxt[after] = lin
        if nxt is None:
            self.tail = lin
        else:
            self.prv[nxt] = lin


# -- the readers' file objects: which file reads become requests ----------------------------
class Readahead:
    """fsspec's ``ReadAheadCache`` (one block in memory): a read outside the block fetches the
    read plus ``READAHEAD_BLOCK``; a read starting inside it fetches only what lies beyond.
    Opening the file has left ``[0, 8 + block)`` in it (h5py's first read is 8 bytes at 0)."""

    def __init__(self, size: int) -> None:
        self.size, self.requests, self.nbytes = size, 0, 0
        self.start, self.end = 0, min(size, 8 + READAHEAD_BLOCK)

    def read(self, start: int, length: int) -> None:
        end = min(start + length, self.size)
        if start >= self.size or start >= end or (self.start <= start and end <= self.end):
            return
        if self.start <= start < self.end:
            start = self.end
        stop = min(self.size, end + READAHEAD_BLOCK)
        self.requests += 1
        self.nbytes += stop - start
        self.start, self.end = start, stop

    def replay(self, starts: list[int], lengths: list[int], flags: list[bool]) -> int:
        """:meth:`read` of every ``(start, length)`` in turn; returns the requests made by the
        reads flagged (B-tree nodes). The same steps as :meth:`read`, with the state in local
        variables: a search replays hundreds of thousands of reads."""
        size, lo, hi = self.size, self.start, self.end
        requests, nbytes, flagged = self.requests, self.nbytes, 0
        for start, length, flag in zip(starts, lengths, flags, strict=True):
            end = start + length
            if end > size:
                end = size
            if start >= size or start >= end or (lo <= start and end <= hi):
                continue
            if lo <= start < hi:
                start = hi
            stop = end + READAHEAD_BLOCK
            if stop > size:
                stop = size
            requests += 1
            nbytes += stop - start
            lo, hi = start, stop
            flagged += flag
        self.requests, self.nbytes, self.start, self.end = requests, nbytes, lo, hi
        return flagged


class Remfile:
    """remfile.File: the file in 100 KiB blocks, every block kept once loaded. A load fetches at
    least the blocks the read needs, and more when reads walk forward: the run length grows by
    1.7x on each load that continues the previous one and shrinks otherwise (1024 blocks at
    most). Opening the file has loaded block 0 (all of a variant's metadata)."""

    def __init__(self, size: int) -> None:
        self.size, self.requests, self.nbytes = size, 0, 0
        self.loaded: set[int] = {0}
        self.order: list[int] = [0]
        self.last, self.run = 0, 1

    def read(self, start: int, length: int) -> None:
        first, last = start // REMFILE_BLOCK, (start + length - 1) // REMFILE_BLOCK
        loaded = self.loaded
        for block in range(first, last + 1):
            if block in loaded:  # what visit does with a loaded block (a chunk spans ~100)
                self.last = block
                continue
            self.visit(block, last - block + 1)

    def replay(self, starts: list[int], lengths: list[int], flags: list[bool]) -> int:
        """:meth:`read` of every ``(start, length)`` in turn; returns the requests made by the
        reads flagged (B-tree nodes)."""
        flagged = 0
        for start, length, flag in zip(starts, lengths, flags, strict=True):
            before = self.requests
            self.read(start, length)
            if flag:
                flagged += self.requests - before
        return flagged

    def visit(self, block: int, needed: int) -> None:
        """One block of a read, ``needed`` blocks of the read from it on."""
        self._load(block, needed)
        if len(self.order) > REMFILE_CACHE_BLOCKS:  # remfile drops the oldest half
            half = int(REMFILE_CACHE_BLOCKS * 0.5)
            self.loaded.difference_update(self.order[:half])
            self.order = self.order[half:]

    def _load(self, block: int, needed: int) -> None:
        if block in self.loaded:
            self.last = block
            return
        if block == self.last + 1:
            self.run = round(self.run * REMFILE_GROWTH + 0.5)
        else:
            self.run = round(self.run / REMFILE_GROWTH + 0.5)
        self.run = min(max(self.run, needed), REMFILE_MAX_BLOCKS)
        for j in range(1, self.run):
            if block + j in self.loaded:
                self.run = j
                break
        start = block * REMFILE_BLOCK
        stop = min(start + self.run * REMFILE_BLOCK, self.size)
        self.requests += 1
        self.nbytes += stop - start
        new = [b for b in range(block, block + self.run) if b * REMFILE_BLOCK < stop]
        self.loaded.update(new)
        self.order.extend(new)
        self.last = block + self.run - 1
