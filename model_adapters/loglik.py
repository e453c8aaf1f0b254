"""Scoring choices by log-likelihood with a transformers causal LM (the demo cascade's score mode): the summed
log-probability of each continuation's tokens after its context, one pass over each context that rows share. torch
is imported on use, so importing this module is cheap."""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple


class Forward(NamedTuple):
    """What the LM's forward takes: `logits_to_keep`, and the name of its cache argument."""

    keeps_logits: bool
    cache_arg: str


def forward_of(lm: Any) -> Forward:
    takes = inspect.signature(lm.forward).parameters
    # the cache argument is named `cache` from transformers 5.2x
    return Forward("logits_to_keep" in takes, "cache" if "cache" in takes else "past_key_values")


def continuation_logprobs(lm: Any, rows: list[tuple[list[int], list[int]]], pad_id: int, device: str,
                          forward: Forward) -> list[float]:
    """Summed log-probabilities of each row's continuation tokens after its context tokens. Rows with one
    context (a sample's choices; the calibration prompt's) share one pass over it, and logits are taken only
    where a continuation token is predicted: a 10-minute clip's transcript is thousands of tokens, and the
    vocabulary's logits at every position of every padded row were gigabytes."""
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, _) in enumerate(rows):
        by_context.setdefault(tuple(ctx), []).append(i)
    sums = [0.0] * len(rows)
    for ctx, members in by_context.items():
        got = _after_context(lm, list(ctx), [rows[i][1] for i in members], pad_id, device, forward)
        for i, value in zip(members, got, strict=True):
            sums[i] = value
    return sums


def _after_context(lm: Any, ctx: list[int], conts: list[list[int]], pad_id: int, device: str,
                   forward: Forward) -> list[float]:
    """The context once (its last logits predict each continuation's first token), then every continuation's
    other tokens in one right-padded pass over the context's cache, repeated per continuation."""
    import torch

    keep = {"logits_to_keep": 1} if forward.keeps_logits else {}
    with torch.inference_mode():
        head = lm(input_ids=torch.tensor([ctx], dtype=torch.long, device=device), use_cache=True, **keep)
        first = head.logits[0, -1].float().log_softmax(-1)
        sums = [float(first[c[0]]) if c else 0.0 for c in conts]
        width = max(len(c) for c in conts) - 1  # a continuation's last token predicts nothing we need
        if width <= 0:
            return sums
        ids = torch.full((len(conts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(conts), len(ctx) + width), dtype=torch.long)
        mask[:, : len(ctx)] = 1
        for i, c in enumerate(conts):
            if len(c) > 1:
                ids[i, : len(c) - 1] = torch.tensor(c[:-1], dtype=torch.long)
                mask[i, len(ctx) : len(ctx) + len(c) - 1] = 1
        cache = getattr(head, forward.cache_arg)
        if len(conts) > 1:
            cache.batch_repeat_interleave(len(conts))
        logits = lm(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=True,
                   **{forward.cache_arg: cache}).logits
        for i, c in enumerate(conts):
            if len(c) > 1:
                step = logits[i, : len(c) - 1].float().log_softmax(-1)
                target = torch.tensor(c[1:], dtype=torch.long, device=step.device)
                sums[i] += float(step.gather(-1, target[:, None]).sum())
    return sums
