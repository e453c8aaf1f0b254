#!/usr/bin/env bash
# On a machine with CUDA: the tiny checkpoints through hf: and vllm:, bf16, batch 1 vs 16, and (with 2+ GPUs) hf:
# data parallel over every GPU under torchrun; prints samples/s of each (the model loop only, from run.json).
#
#   bash benchmarks/gpu_check.sh [N_ITEMS]        (default 256 text items, 16 new tokens each)
#
# Needs .venv (make install) and, for the vllm rows, .venv-vllm (make install-vllm: the CUDA build of vLLM where
# nvidia-smi answers). A row whose environment is missing says so and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=${1:-256}

if ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_check: no CUDA GPU answers nvidia-smi here; run it on a GPU machine" >&2
    exit 2
fi
GPUS=$(nvidia-smi -L | wc -l)
nvidia-smi -L

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
PY=.venv/bin/python
VPY=.venv-vllm/bin/python
[ -x "$PY" ] || { echo "gpu_check: .venv missing: run make install" >&2; exit 1; }

# the checkpoints (random weights, built offline in seconds) and a text task of N items
"$PY" - "$WORK" "$N" <<'EOF'
import json, sys
from pathlib import Path
from model_adapters.tiny_checkpoints import build, build_wide
work, n = Path(sys.argv[1]), int(sys.argv[2])
build("qwen2", work)            # head_dim 16: the hf adapter's tiny text model
build_wide(work)                # head_dim 64: what vLLM's attention kernels take
words = "red green blue yellow cat dog horse river mountain city train music voice".split()
with open(work / "items.jsonl", "w") as f:
    for i in range(n):
        q = " ".join(words[(i * 7 + k) % len(words)] for k in range(3 + i % 9))
        f.write(json.dumps({"id": f"t{i}", "question": f"Which word fits best after: {q}?",
                            "choices": [words[i % 13], words[(i + 3) % 13], words[(i + 5) % 13]],
                            "answer": words[i % 13]}) + "\n")
EOF

rate() {  # samples/s of the last invocation of the run under $1 (output folder)
    "$PY" - "$1" <<'EOF'
import json, sys
from pathlib import Path
[info] = [json.loads(p.read_text()) for p in Path(sys.argv[1]).rglob("run.json")]
last = info["invocations"][-1]
print(f"{last.get('samples_per_s')} samples/s  (loop {last.get('loop_s')} s, load {last.get('load_s')} s, "
      f"{last.get('new_records')} samples, status {info['status']})")
EOF
}

row() {  # label, python, then harness run arguments
    local label=$1 py=$2
    shift 2
    local out="$WORK/out-${label// /_}"
    if [ ! -x "$py" ]; then
        printf '%-34s %s\n' "$label" "skipped: $py missing (make install-vllm)"
        return
    fi
    if "$py" -m cli run --task "file:$WORK/items.jsonl" --mode generate --model-arg max_new_tokens=16 \
        --model-arg dtype=bfloat16 --fresh -o "$out" "$@" >"$out.log" 2>&1; then
        printf '%-34s %s\n' "$label" "$(rate "$out")"
    else
        printf '%-34s %s\n' "$label" "FAILED (exit $?): $(grep -m1 '^error' "$out.log" || tail -n1 "$out.log")"
    fi
}

echo
echo "tiny checkpoints, $N text items, 16 new tokens, bf16, one GPU unless said"
row "hf qwen2 batch 1" "$PY" --model "hf:$WORK/qwen2" --batch-size 1
row "hf qwen2 batch 16" "$PY" --model "hf:$WORK/qwen2" --batch-size 16
row "hf qwen2-wide batch 1" "$PY" --model "hf:$WORK/qwen2-wide" --batch-size 1
row "hf qwen2-wide batch 16" "$PY" --model "hf:$WORK/qwen2-wide" --batch-size 16
# vLLM streams: chunk is how many requests go to the engine per call (its scheduler batches inside a call)
row "vllm qwen2-wide chunk 1" "$VPY" --model "vllm:$WORK/qwen2-wide" --model-arg chunk=1 \
    --model-arg gpu_memory_utilization=0.5
row "vllm qwen2-wide chunk 16" "$VPY" --model "vllm:$WORK/qwen2-wide" --model-arg chunk=16 \
    --model-arg gpu_memory_utilization=0.5
row "vllm qwen2-wide chunk 512" "$VPY" --model "vllm:$WORK/qwen2-wide" --model-arg chunk=512 \
    --model-arg gpu_memory_utilization=0.5
if [ "$GPUS" -ge 2 ]; then
    # data parallel: one rank per GPU (torchrun); rank 0 reports the slowest rank's loop time
    out="$WORK/out-dp"
    if "$PY" -m torch.distributed.run --standalone --nproc-per-node "$GPUS" -m cli run \
        --task "file:$WORK/items.jsonl" --mode generate --model "hf:$WORK/qwen2-wide" --batch-size 16 \
        --model-arg max_new_tokens=16 --model-arg dtype=bfloat16 --fresh -o "$out" >"$out.log" 2>&1; then
        printf '%-34s %s\n' "hf qwen2-wide batch 16 x $GPUS ranks" "$(rate "$out")"
    else
        printf '%-34s %s\n' "hf qwen2-wide batch 16 x $GPUS ranks" "FAILED: see $out.log"
        cat "$out.log" | tail -n 20
    fi
fi
echo "(logs were in $WORK, removed on exit)"
