"""Forward time and peak memory of each recipe's `MedClipModel` on CPU, against the bare video encoder.

Batch: 8 clips × 8 frames × 112² (the demo size), every modality of the recipe present. Each row runs in its own
process so that its peak RSS is its own. Times are medians over `--repeats` forward passes in eval mode without
gradients (after `--warmup` passes), plus one training step (forward + backward) per row.

    .venv/bin/python benchmarks/bench_recipes.py                 # hash text encoder: measures the model itself
    .venv/bin/python benchmarks/bench_recipes.py --real-text     # the recipes' own text encoder (MiniLM, loads ~4 s)
"""
import argparse, json, os, subprocess, sys, time

ROWS = ["baseline:tiny3d", "clinicalclip_gait", "gaitlab_kd", "cardiacclip_lvef", "scoligait", "spatialclip_quality"]


def _rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB


def child(row, batch, frames, size, repeats, warmup, threads, real_text):
    import torch
    torch.set_num_threads(threads)
    from medclip_nb.core import load_config, seed_everything
    from medclip_nb.model import build_model, fake_batch
    from medclip_nb.encoders import build_video_encoder
    seed_everything(0)
    rss0 = _rss_mb()
    if row.startswith("baseline:"):
        model = build_video_encoder(row.split(":", 1)[1]).eval()
        b = fake_batch(["video"], batch_size=batch, frames=frames, size=size)
        run = lambda: model(b.inputs["video"])
        step = lambda: model(b.inputs["video"])[1].pow(2).mean()
    else:
        cfg = load_config(row, [] if real_text else ["model.text_encoder=hash"])
        model = build_model(cfg).eval()
        b = fake_batch(model.modalities, batch_size=batch, frames=frames, size=size, num_classes=model.num_classes,
                       target_range=tuple(model.bins.edges[[0, -1]]) if model.bins is not None else (0.0, 60.0))
        run = lambda: model(b)
        def step():
            o = model(b)
            t = torch.randn_like(o.logits) if model.settings["losses"].get("distill") else None
            return model.compute_losses(o, b, teacher_logits=t)["total"]
    params = sum(p.numel() for p in model.parameters())
    rss_built = _rss_mb()
    with torch.no_grad():
        for _ in range(warmup): run()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter(); run(); ts.append(time.perf_counter() - t0)
    model.train()
    t0 = time.perf_counter(); step().backward(); train_s = time.perf_counter() - t0
    ts.sort()
    print(json.dumps({"row": row, "forward_ms": 1000 * ts[len(ts) // 2], "forward_min_ms": 1000 * ts[0],
                      "train_step_ms": 1000 * train_s, "params": params, "rss_start_mb": rss0,
                      "rss_built_mb": rss_built, "rss_peak_mb": _rss_mb()}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the shared machine has 2 cores)")
    p.add_argument("--real-text", action="store_true", help="use the recipes' text encoders instead of the hash baseline")
    p.add_argument("--rows", nargs="*", default=ROWS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        child(a.child, a.batch, a.frames, a.size, a.repeats, a.warmup, a.threads, a.real_text); return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    res = []
    for row in a.rows:
        cmd = [sys.executable, __file__, "--child", row, "--batch", str(a.batch), "--frames", str(a.frames), "--size", str(a.size),
               "--repeats", str(a.repeats), "--warmup", str(a.warmup), "--threads", str(a.threads)] + (["--real-text"] if a.real_text else [])
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0: sys.stderr.write(out.stderr); return out.returncode
        res.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = res[0]
    print(f"batch {a.batch} clips × {a.frames} frames × {a.size}², CPU, {a.threads} thread(s), "
          f"text encoder: {'recipe' if a.real_text else 'hash'}; ratios against {base['row']}")
    hdr = f"{'model':22s} {'params':>10s} {'fwd ms':>8s} {'×base':>6s} {'train ms':>9s} {'×base':>6s} {'peak RSS MB':>12s} {'Δ MB':>7s}"
    print(hdr); print("-" * len(hdr))
    for r in res:
        print(f"{r['row']:22s} {r['params']:>10,d} {r['forward_ms']:>8.1f} {r['forward_ms'] / base['forward_ms']:>6.2f} "
              f"{r['train_step_ms']:>9.1f} {r['train_step_ms'] / base['train_step_ms']:>6.2f} {r['rss_peak_mb']:>12.0f} "
              f"{r['rss_peak_mb'] - r['rss_start_mb']:>7.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
