"""GaitLab knowledge distillation: the student against its teacher, on the student run's own test clips.

For a student run trained with `model.losses.distill > 0` (the teacher is `<run>-teacher`, or `--teacher DIR`), prints
one table: test macro-F1 (from each run's `metrics.json`), parameters (total, the text encoder, trained, the video
encoder), and the median CPU forward time of a batch of the test clips in eval mode without gradients. Ratios are student / teacher, measured in the
same process, one after the other, with the text embedding cache emptied before every pass (new descriptions each time).

    .venv/bin/python benchmarks/bench_kd.py runs/gaitlab_kd                 # teacher: runs/gaitlab_kd-teacher
    .venv/bin/python benchmarks/bench_kd.py RUN --teacher T --batch 1 --repeats 20
"""
import argparse, json, statistics, sys, time
from pathlib import Path


def _params(model) -> dict:
    from medclip_nb.model import model_parts
    parts = model_parts(model)
    n = lambda ps: sum(p.numel() for p in ps)
    text = n(parts["encoders.text"].parameters()) if "encoders.text" in parts else 0
    return {"total": n(model.parameters()), "text encoder": text,
            "trained (requires grad)": n(p for p in model.parameters() if p.requires_grad),
            "video encoder": n(parts["encoders.video"].parameters()) if "encoders.video" in parts else 0}


def _latency_ms(run, batch, repeats:int, warmup:int) -> float:
    import torch
    texts = [m for m in run.model.encoders.values() if hasattr(m, "_emb_cache")]
    def once():
        for t in texts: t._emb_cache.clear()
        t0 = time.perf_counter()
        with torch.no_grad(): run.model(batch)
        return 1000 * (time.perf_counter() - t0)
    for _ in range(warmup): once()
    return statistics.median(once() for _ in range(repeats))


def _macro_f1(run_dir:Path):
    m = json.loads((run_dir / "metrics.json").read_text())
    return m.get("test/macro_f1")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the student run folder")
    p.add_argument("--teacher", help="the teacher run folder (default: <run>-teacher)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the shared machine has 2 cores)")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(a.threads)
    from medclip_nb.core import collate
    from medclip_nb.run import load_run
    student_dir = Path(a.run)
    teacher_dir = Path(a.teacher) if a.teacher else student_dir.parent / f"{student_dir.name}-teacher"
    runs = {"teacher": load_run(teacher_dir), "student": load_run(student_dir)}
    ds = runs["student"].dataset("test")
    if len(ds) == 0: sys.exit(f"{student_dir}: the test split is empty")
    batch = collate([ds[i] for i in range(min(a.batch, len(ds)))])
    rows = {}
    for k, r in runs.items():
        rows[k] = {"macro-F1 (test)": _macro_f1(r.run_dir), **_params(r.model),
                   "forward ms / batch": _latency_ms(r, batch, a.repeats, a.warmup)}
    t, s = rows["teacher"], rows["student"]
    arch = lambda r: f"{r.cfg.model.video_encoder} + {r.cfg.model.text_encoder} text"
    print(f"teacher {teacher_dir}  ({arch(runs['teacher'])})   student {student_dir}  ({arch(runs['student'])});  batch {len(batch)} test clips × {runs['student'].cfg.data.frames} "
          f"frames × {runs['student'].cfg.data.size}², CPU, {a.threads} thread(s), median of {a.repeats}")
    hdr = f"{'':32s} {'teacher':>14s} {'student':>14s} {'student/teacher':>16s}"
    print(hdr); print("-" * len(hdr))
    for key in t:
        tv, sv = t[key], s[key]
        fmt = (lambda v: f"{v:>14,d}") if isinstance(tv, int) else (lambda v: f"{v:>14.3f}" if v is not None else f"{'-':>14s}")
        ratio = f"{sv / tv:>16.3f}" if tv and sv is not None else f"{'-':>16s}"
        print(f"{key:32s} {fmt(tv)} {fmt(sv)} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
