"""The order in which training reads its examples: global batches that depend only on (seed, epoch),
shared among data-parallel processes, and seeds derived from (seed, step, rank). Both are functions of
where a run is, not of what happened before, which is what makes resume exact (see fewgen.train)."""

from __future__ import annotations

import hashlib

import torch
from torch.utils.data import Sampler


class ShardedBatches(Sampler[list[int]]):
    """One process's share of each global batch of one epoch, from global batch ``start`` on.

    Epoch ``e``'s order is ``randperm(n)`` seeded by ``(seed, e)`` alone; global batch ``j`` is
    ``order[j*B : (j+1)*B]`` (the last, incomplete one is dropped) and process ``rank`` of ``world``
    reads rows ``[rank*B/world, (rank+1)*B/world)`` of it. The order depends neither on the number of
    processes nor on where a run was resumed, so a resumed run, with any number of processes, sees
    the images an uninterrupted run would have seen, in the same global batches. (accelerate's
    ``prepare`` shards a DataLoader too, but its order depends on the sampler's generator state,
    which would have to be saved and restored; this order is a function of the step.)
    """

    def __init__(self, n: int, batch_size: int, epoch: int, seed: int, rank: int = 0, world: int = 1, start: int = 0):
        self.n, self.batch_size, self.epoch, self.seed = n, batch_size, epoch, seed
        self.rank, self.world, self.start = rank, world, start

    def __len__(self) -> int:
        return max(0, self.n // self.batch_size - self.start)

    def __iter__(self):
        order = torch.randperm(self.n, generator=torch.Generator().manual_seed(derived_seed(self.seed, "epoch", self.epoch)))
        share = self.batch_size // self.world
        for j in range(self.start, self.n // self.batch_size):
            first = j * self.batch_size + self.rank * share
            yield order[first : first + share].tolist()


def derived_seed(seed: int, *parts) -> int:
    """A 31-bit seed from ``seed`` and ``parts`` (a hash, so nearby steps or ranks give unrelated streams)."""
    text = ":".join(map(str, (seed, *parts))).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=4).digest(), "little") & 0x7FFFFFFF
