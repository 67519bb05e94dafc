"""Rendering speed of the synthetic gait dataset: clips per second, one process vs the default pool of 2 workers.

Run: `.venv/bin/python benchmarks/bench_synth.py` (about a minute and a half on 2 cores; `--quick` for a smoke run).

1. Per stage, one process, on a sample of clips: simulate the walk, ray-cast the room, draw the body, camera effects,
   H.264 encoding, the kinematic knowledge map, the pose-made priors (simulated 2-D pose observation + `medclip pose`'s
   analysis, `priors="pose"`, the default) — ms per clip, to show where the time goes.
2. The whole demo dataset (`medclip synth gait` defaults: 60 subjects × 3 clips × 32 frames at 112²) rendered with
   1 worker (the baseline) and with 2 workers, in the same run: wall time, clips/s and the ratio to the baseline.
Target (issue 3): the demo dataset in under a minute on 2 cores. Wall-clock numbers on this shared machine are noisy.
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse, shutil, tempfile, time
from pathlib import Path

import numpy as np

from medclip_nb.synth import gait as G


def stage_times(n_clips:int, frames:int, size:int) -> dict:
    "Mean ms per clip of each rendering stage, one process."
    from medclip_nb.video import write_video
    from medclip_nb.gait import kinematic_knowledge_map
    t = dict(simulate=0.0, camera=0.0, background=0.0, body=0.0, effects_and_priors=0.0, encode=0.0, knowledge_map=0.0,
             pose_priors=0.0)
    tmp = Path(tempfile.mkdtemp())
    labels = G.assign_labels(n_clips, "gaitlab", 0)
    for i, lab in enumerate(labels):
        s = G.make_subject(i, lab, 0)
        rng = np.random.default_rng([0, i, 0, 31337])
        c0 = time.perf_counter(); m = G.simulate_walk(s, G._clip_gait(s.gait, rng), frames)
        c1 = time.perf_counter(); cam = G.fit_in_frame(G.make_camera("side", m, s.body, size, rng), m); light = G._light(rng)
        c2 = time.perf_counter(); bg = G.render_background(cam, s.room, m, light)
        c3 = time.perf_counter(); img, mask, zbuf = G.render_body(bg, s, m, cam, light)
        c4 = time.perf_counter()
        frames_u8 = G._camera_effects(img, rng)
        uv, z = G.project(m["joints"], cam)
        joints = np.concatenate([uv, G._visibility(uv, z, zbuf, m, cam)[..., None]], -1).astype(np.float32)
        att = G.clinician_attention(s, m, rng); G.spatial_attention(joints, att, size, 3.0)
        c5 = time.perf_counter(); write_video(tmp / f"{i}.mp4", frames_u8, 25, options=G.X264_OPTIONS)
        c6 = time.perf_counter(); kinematic_knowledge_map(joints, 25)
        c7 = time.perf_counter()
        r = dict(joints=joints, feet=G._feet_points(m, cam, zbuf), body_px=cam["F"] * s.body["height"] / np.median(z), frames=frames_u8)
        G._pose_priors(r, 25.0, G._observation_rng(0, s.subject_id, 0))
        c8 = time.perf_counter()
        for k, a, b in zip(t, (c0, c1, c2, c3, c4, c5, c6, c7), (c1, c2, c3, c4, c5, c6, c7, c8)): t[k] += (b - a) * 1000 / n_clips
    shutil.rmtree(tmp)
    return t


def dataset_time(workers:int, subjects:int, clips:int, frames:int, size:int) -> float:
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    G.render_gait_dataset(tmp / "g", subjects=subjects, clips_per_subject=clips, frames=frames, size=size, workers=workers, progress=False)
    dt = time.perf_counter() - t0
    shutil.rmtree(tmp)
    return dt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: 12 subjects, stage sample of 6 clips")
    p.add_argument("--subjects", type=int, default=60); p.add_argument("--clips-per-subject", type=int, default=3)
    p.add_argument("--frames", type=int, default=32); p.add_argument("--size", type=int, default=112)
    a = p.parse_args(argv)
    subjects, sample = (12, 6) if a.quick else (a.subjects, 27)
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    st = stage_times(sample, a.frames, a.size)
    total = sum(st.values())
    print(f"\nper-stage time, one process, mean of {sample} clips ({a.frames} frames at {a.size}²)")
    print(f"{'stage':<22}{'ms/clip':>9}{'share':>8}")
    for k, v in st.items(): print(f"{k:<22}{v:9.1f}{v / total:8.0%}")
    print(f"{'total':<22}{total:9.1f}")
    n = subjects * a.clips_per_subject
    print(f"\nwhole dataset: {subjects} subjects × {a.clips_per_subject} clips × {a.frames} frames at {a.size}² = {n} clips")
    print(f"{'workers':<10}{'seconds':>9}{'clips/s':>9}{'ratio':>7}")
    base = None
    for w in (1, 2):
        dt = dataset_time(w, subjects, a.clips_per_subject, a.frames, a.size)
        base = base or dt
        print(f"{w:<10}{dt:9.1f}{n / dt:9.2f}{base / dt:7.2f}")
    print("\nratio = wall time with 1 worker / wall time with that many workers (same run)")


if __name__ == "__main__":
    main()
