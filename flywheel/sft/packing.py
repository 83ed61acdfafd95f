"""Packing: several examples per row of ``max_seq_len`` tokens, with no attention between them.

Rows are filled best-fit-decreasing. Inside a row each example's ``position_ids`` restart at
0, and the model is called with ``use_cache=False`` and *no* attention mask: transformers
then derives a block-diagonal mask from the position resets (and flash-attention takes
its varlen path), so no example attends to another. With an attention mask or a cache the
resets are ignored and later examples would see earlier ones; ``packed_forward_kwargs``
is the one place that builds the call.
"""

from __future__ import annotations

import bisect

from flywheel.sft.tokenize import IGNORE_INDEX


def best_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    """Bins of example indices, each holding at most ``capacity`` tokens; longest examples first,
    each into the fullest bin it still fits. Deterministic for a given input."""
    too_long = [i for i, n in enumerate(lengths) if n > capacity]
    if too_long:
        raise ValueError(f"examples {too_long[:5]} are longer than the row capacity {capacity}")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (space left, bin index), sorted
    for index in order:
        need = lengths[index]
        at = bisect.bisect_left(free, (need, -1))
        if at < len(free):
            space, which = free.pop(at)
            bins[which].append(index)
            bisect.insort(free, (space - need, which))
        else:
            bins.append([index])
            bisect.insort(free, (capacity - need, len(bins) - 1))
    return bins


def pack_rows(examples: list[dict], bins: list[list[int]]) -> list[dict]:
    """One row per bin: concatenated ``input_ids``/``labels`` and ``position_ids`` restarting per example."""
    rows = []
    for members in bins:
        row = {"input_ids": [], "labels": [], "position_ids": [], "n_examples": len(members)}
        for index in members:
            example = examples[index]
            row["input_ids"] += example["input_ids"]
            # The first label of each example never predicts across the boundary: the model's
            # shift makes position t predict t+1, and t+1 belongs to the same example.
            row["labels"] += example["labels"]
            row["position_ids"] += list(range(len(example["input_ids"])))
        rows.append(row)
    return rows


def collate_packed(rows: list[dict], pad_id: int):
    """Tensors for a micro-batch of packed rows. Padding is one more segment (positions restart)
    with label -100, so it neither sees nor is seen by a real example."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["input_ids"])
        ids[i, :n] = torch.tensor(row["input_ids"])
        labels[i, :n] = torch.tensor(row["labels"])
        positions[i, :n] = torch.tensor(row["position_ids"])
        positions[i, n:] = torch.arange(width - n)
    return ids, labels, positions


def packed_forward_kwargs(ids, labels, positions) -> dict:
    """The only correct way to call the model on packed rows: no attention mask, no cache."""
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "use_cache": False}


def packing_efficiency(rows: list[dict], capacity: int) -> float:
    """Real tokens / token slots (rows x capacity)."""
    return sum(len(r["input_ids"]) for r in rows) / max(1, len(rows) * capacity)
