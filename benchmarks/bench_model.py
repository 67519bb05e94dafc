"""Forward-pass speed and memory of the demo-sized video branch (Tiny3DCNN + ProjectionHead) against r3d_18.

Run:  .venv/bin/python benchmarks/bench_model.py            (batch of 8 clips, 8 frames, 112x112, CPU)
      .venv/bin/python benchmarks/bench_model.py --backward  (also time a training step: forward + backward)

Each (model, mode) is measured in its own fresh process, so the peak resident memory (ru_maxrss) of one does not
hide the other's. Reported: median / p10 / p90 wall time over `--repeats` timed runs after `--warmup` untimed ones,
clips per second, parameters, the RSS before the first forward (imports, model, input), the peak RSS, and their
difference (`fwd +MB`: the forward's activations and workspace). Ratios are against the baseline (r3d_18) measured
in the same run; nothing here asserts a time.
"""
from __future__ import annotations
import argparse, os, resource, statistics, sys, time
import multiprocessing as mp

def _rss_peak_mb() -> float:
    "Peak resident set size of this process so far, in MiB (ru_maxrss is KiB on Linux)."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def _measure(name:str, mode:str, args, queue):
    import torch
    if args.threads: torch.set_num_threads(args.threads)
    from medclip_nb.encoders import build_video_encoder, ProjectionHead
    torch.manual_seed(0)
    enc = build_video_encoder(name)
    proj = ProjectionHead(enc.out_dim, args.embed_dim)
    params = sum(p.numel() for m in (enc, proj) for p in m.parameters())
    x = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    enc.train(mode == "train"); proj.train(mode == "train")

    def step():
        if mode == "eval":
            with torch.inference_mode():
                _, clip = enc(x); return proj(clip)
        enc.zero_grad(set_to_none=True); proj.zero_grad(set_to_none=True)
        _, clip = enc(x); proj(clip).pow(2).sum().backward()

    before = _rss_peak_mb()          # imports, model and input: everything but the forward's working memory
    for _ in range(args.warmup): step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    q = statistics.quantiles(times, n=10) if len(times) >= 2 else [times[0]] * 9
    queue.put({"model": name, "mode": mode, "params_m": params / 1e6, "threads": torch.get_num_threads(),
               "median_s": statistics.median(times), "p10_s": q[0], "p90_s": q[-1],
               "base_rss_mb": before, "peak_rss_mb": _rss_peak_mb(), "delta_peak_mb": _rss_peak_mb() - before})

def run_in_subprocess(name:str, mode:str, args) -> dict:
    "Measure one (model, mode) in a fresh spawned process: its peak RSS is its own."
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_measure, args=(name, mode, args, q))
    p.start(); res = q.get(); p.join()
    return res

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench_model.py", description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["tiny3d"], help="video encoders to measure (build_video_encoder names)")
    ap.add_argument("--baseline", default="r3d_18", help="baseline encoder measured in the same run")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--embed-dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--backward", action="store_true", help="also time forward + backward in train mode")
    args = ap.parse_args(argv)

    names = [args.baseline] + [m for m in args.models if m != args.baseline]
    modes = ["eval"] + (["train"] if args.backward else [])
    res = {(n, m): run_in_subprocess(n, m, args) for m in modes for n in names}
    print(f"batch {args.batch} clips x {args.frames} frames x {args.size}^2, CPU, {res[names[0], 'eval']['threads']} torch "
          f"threads, {args.repeats} timed runs after {args.warmup} warm-up; python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    hdr = (f"{'model':<12} {'mode':<6} {'params M':>8} {'median s':>9} {'p10 s':>7} {'p90 s':>7} {'clips/s':>8} "
           f"{'base RSS MB':>11} {'peak RSS MB':>11} {'fwd +MB':>8} {'time ratio':>10} {'fwd mem ratio':>13}")
    print(hdr); print("-" * len(hdr))
    for m in modes:
        b = res[args.baseline, m]
        for n in names:
            r = res[n, m]
            print(f"{n:<12} {m:<6} {r['params_m']:>8.2f} {r['median_s']:>9.3f} {r['p10_s']:>7.3f} {r['p90_s']:>7.3f} "
                  f"{args.batch / r['median_s']:>8.1f} {r['base_rss_mb']:>11.0f} {r['peak_rss_mb']:>11.0f} "
                  f"{r['delta_peak_mb']:>8.0f} {r['median_s'] / b['median_s']:>10.3f} "
                  f"{r['delta_peak_mb'] / max(b['delta_peak_mb'], 1e-9):>13.3f}")
    for n in args.models:
        t = res[n, "eval"]["median_s"]
        print(f"target: {n} eval forward of the batch < 1 s -> {'met' if t < 1 else 'NOT met'} ({t:.3f} s)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
