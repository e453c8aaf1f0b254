"""The bare transformers baseline harness is compared against: no harness code, just what a careful script does.

Loads the tokenizer and model, renders every item with the chat template, sorts by prompt length, then either
batched greedy generation (left padding) or, with --score, each item's choices scored by summed log-likelihood in
one right-padded forward pass per item. Prints JSON with the loop time so the caller can split start-up from steady
state.

    python benchmarks/bare_hf.py MODEL_DIR ITEMS.jsonl [--batch-size 8] [--max-new-tokens 16] [--score]
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

import torch  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402


def prompt_text(tok, item: dict) -> str:
    options = "\n".join(f"{chr(65 + i)}. {c}" for i, c in enumerate(item["choices"]))
    content = f"{item['question']}\n{options}\nAnswer with the option's letter from the given choices directly."
    return tok.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True,
                                   tokenize=False)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("items")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--score", action="store_true")
    a = p.parse_args()
    tok = AutoTokenizer.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    items = [json.loads(line) for line in open(a.items)]
    t_loop = time.perf_counter()  # rendering prompts is part of the work: harness does it inside its loop too
    prompts = [prompt_text(tok, it) for it in items]
    outputs: list = []
    if not a.score:
        tok.padding_side = "left"
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        for start in range(0, len(order), a.batch_size):
            idx = order[start : start + a.batch_size]
            enc = tok([prompts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=a.max_new_tokens, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
            outputs += tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    else:
        tok.padding_side = "right"
        for prompt, it in zip(prompts, items, strict=True):
            texts = [prompt + c for c in it["choices"]]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            base = len(tok(prompt, add_special_tokens=False).input_ids)
            with torch.inference_mode():
                logp = model(**enc).logits.float().log_softmax(-1)
            lengths = enc["attention_mask"].sum(-1).tolist()
            scores = []
            for row, end in enumerate(lengths):
                ids = enc["input_ids"][row]
                scores.append(sum(float(logp[row, i - 1, ids[i]]) for i in range(base, end)))
            outputs.append(scores)
    t_end = time.perf_counter()
    print(json.dumps({"items": len(outputs), "loop_s": t_end - t_loop, "total_in_process_s": t_end - T0}))


if __name__ == "__main__":
    main()
