"""PyTorch's time for the steps `synthgrad bench` measures, on the same GGUF weights.

    python3 scripts/bench/torch_step.py --model F.gguf [--batch 10] [--length 32] [--runs 3]
        [--threads 1,2]

For each thread count: the forward (last-position logits) and the forward+backward to the
input embeddings of the same scalar objective `synthgrad bench model` differentiates
(mean over the batch of max log-softmax at the last position), on the same B x L token ids;
and one GRADMM projection step's core, a KV-cached greedy decode of L tokens for B sequences.
Prints one JSON object. Exits 3 with {"skipped": why} when torch/transformers/gguf are missing,
so the caller can report the competitor as absent instead of failing.

Needs: pip install torch transformers gguf accelerate (CPU build is enough).
"""
import argparse
import json
import os
import statistics
import sys
import time


def timed(fn, runs, warmup=1):
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return round(statistics.median(samples), 4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--length", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    try:
        import torch
        from transformers import AutoModelForCausalLM
        import gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError as e:
        print(json.dumps({"skipped": f"PyTorch competitor not installed ({e.name}); pip install torch transformers gguf accelerate"}))
        sys.exit(3)

    model_dir, model_name = os.path.split(os.path.abspath(args.model))
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_name, dtype=torch.float32, attn_implementation="sdpa")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    B, L = args.batch, args.length
    # The same ids as packages/cli/src/bench/model.ts.
    ids = torch.tensor([[100 + ((b * 7919 + i * 104729) % 40000) for i in range(L)] for b in range(B)])
    emb = model.get_input_embeddings()(ids).detach()
    table = model.get_input_embeddings().weight

    def forward():
        with torch.no_grad():
            out = model(inputs_embeds=emb, logits_to_keep=1)
            out.logits.sum().item()

    def forward_backward():
        x = emb.clone().requires_grad_(True)
        logits = model(inputs_embeds=x, logits_to_keep=1).logits[:, -1]
        obj = torch.log_softmax(logits, -1).max(-1).values.mean()
        (g,) = torch.autograd.grad(obj, x)
        g.sum().item()

    def projection():
        # Z-step core: per position, top-200 tokens by cosine to a target row, then the LM's
        # choice among them with a KV cache (one token per step for all B sequences).
        with torch.no_grad():
            unit = table / table.norm(dim=-1, keepdim=True)
            y = emb / emb.norm(dim=-1, keepdim=True)
            past = None
            nxt = ids[:, :1]
            for i in range(L):
                out = model(input_ids=nxt, past_key_values=past, use_cache=True)
                past = out.past_key_values
                cand = torch.topk(y[:, i] @ unit.T, 200, dim=-1).indices
                pick = torch.gather(out.logits[:, -1], 1, cand).argmax(-1)
                nxt = torch.gather(cand, 1, pick[:, None])
            nxt.sum().item()

    results = {}
    for t in [int(x) for x in args.threads.split(",")]:
        torch.set_num_threads(t)
        results[str(t)] = {
            "forward_s": timed(forward, args.runs),
            "forward_backward_s": timed(forward_backward, args.runs),
            "projection_s": timed(projection, max(1, args.runs - 1)),
        }
    print(json.dumps({"competitor": "pytorch", "torch": torch.__version__, "batch": B, "length": L, "by_threads": results}))


if __name__ == "__main__":
    main()
