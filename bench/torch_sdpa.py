"""PyTorch anchor for the fused kernel's bench (optional, not in CI).

Times torch.nn.functional.scaled_dot_product_attention on CPU, float32,
B1 N8 H64, forward and forward+backward, full and causal, on the given number
of threads. Prints one JSON object per line:
  {"case": "fwd"|"fwdbwd", "causal": bool, "T": int, "threads": int, "ms": median, "runs": n}

Usage: python bench/torch_sdpa.py --threads 2 --lengths 1024,2048,4096 [--runs 5]
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", default="1024,2048,4096")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per case at most")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    B, N, H = 1, 8, 64
    for T in [int(x) for x in a.lengths.split(",")]:
        for causal in (False, True):
            q = torch.randn(B, N, T, H)
            k = torch.randn(B, N, T, H)
            v = torch.randn(B, N, T, H)
            for case in ("fwd", "fwdbwd"):
                def run() -> float:
                    qq, kk, vv = (x.detach().requires_grad_(case == "fwdbwd") for x in (q, k, v))
                    t0 = time.perf_counter()
                    o = F.scaled_dot_product_attention(qq, kk, vv, is_causal=causal)
                    if case == "fwdbwd":
                        o.sum().backward()
                    return (time.perf_counter() - t0) * 1000

                run()  # warm-up
                times = []
                start = time.perf_counter()
                while len(times) < a.runs and (not times or time.perf_counter() - start < a.budget):
                    times.append(run())
                print(json.dumps({"case": case, "causal": causal, "T": T, "threads": a.threads,
                                  "ms": statistics.median(times), "runs": len(times)}), flush=True)


if __name__ == "__main__":
    main()
