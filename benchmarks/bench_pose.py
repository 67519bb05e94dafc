"""Speed of pose extraction on this CPU: decoding + resizing, and mediapipe 0.10.14 Pose (model_complexity=1),
at native resolution and downscaled; plus the analysis after pose.

Run: .venv/bin/python benchmarks/bench_pose.py [--frames N] [--repeats R]
The same decoded frames (a stretch where a person walks) are given to mediapipe at each resolution, so the rows differ
only in input size; ratios are against native resolution, one person, measured in the same run.
Media: ../shared/media (see its README for licences).
"""
import argparse, os, time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
import warnings
import numpy as np

from medclip_nb.pose import iter_frames, _grey_box, _mp_landmarks, extract_mediapipe, to_coco17, PoseTrack, analyse_track

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = {"mobile_gaitlab 480×320 H.264": (MEDIA / "gait/mobile_gaitlab_input.mp4", 0),
         "sports2d 1768×994 VP9": (MEDIA / "gait/sports2d_demo.mp4", 60)}     # the walker crosses in frames ~40–200
SIDES = [("native", None), ("640 px", 640), ("480 px", 480), ("320 px", 320)]

def decode(path, side, start, n):
    "Decode frames start..start+n at `side`; returns (frames, scale, seconds)."
    t0 = time.perf_counter(); out = []; scale = None
    for i, img, sc in iter_frames(path, side):
        if i >= start + n: break
        if i >= start: out.append(img); scale = sc
    return out, scale, time.perf_counter() - t0

def run_pose(frames, people):
    "mediapipe on the frames (a fresh tracker), `people` instances as in extract_mediapipe; returns seconds."
    import mediapipe as mp
    poses = [mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) for _ in range(people)]
    h, w = frames[0].shape[:2]
    t0 = time.perf_counter()
    for img in frames:
        work = img
        for p in poses:
            lm = _mp_landmarks(p.process(work), w, h)
            if lm is None: break
            work = _grey_box(work, lm)
    dt = time.perf_counter() - t0
    for p in poses: p.close()
    return dt

def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_pose")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3, help="runs per row; the median is reported")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"{a.frames} frames per row, median of {a.repeats} runs, {os.cpu_count()} CPU cores visible "
          f"(a shared machine: rows vary by ~±15 %)\n")
    print("| clip | input | pose only, 1 person (frames/s) | ratio | pose, 2 people (frames/s) | decode+resize (frames/s) | total, 1 person (frames/s) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    run_pose(decode(CLIPS["mobile_gaitlab 480×320 H.264"][0], None, 0, 5)[0], 1)   # warm-up: load the model once
    for name, (path, start) in CLIPS.items():
        base_pose = base_total = None
        for label, side in SIDES:
            dec, pose1, pose2 = [], [], []
            for _ in range(a.repeats):
                frames, _, t_dec = decode(path, side, start, a.frames); dec.append(t_dec)
                pose1.append(run_pose(frames, 1)); pose2.append(run_pose(frames, 2))
            n = len(frames); h, w = frames[0].shape[:2]
            p1, p2, d = n / np.median(pose1), n / np.median(pose2), n / np.median(dec)
            total = 1 / (1 / p1 + 1 / d)
            base_pose, base_total = base_pose or p1, base_total or total
            print(f"| {name} | {label} ({w}×{h}) | {p1:.1f} | {p1 / base_pose:.2f} | {p2:.1f} | {d:.0f} | {total:.1f} | "
                  f"{total / base_total:.2f} |", flush=True)
    tracks, meta = extract_mediapipe(CLIPS["mobile_gaitlab 480×320 H.264"][0], max_side=640, max_people=1)
    coco, feet = to_coco17(tracks[0], "mediapipe33")
    tr = PoseTrack(coco, feet, tracks[0], meta["fps"], (meta["height"], meta["width"]), "mediapipe")
    t0 = time.perf_counter(); k = 5
    for _ in range(k): analyse_track(tr)
    dt = (time.perf_counter() - t0) / k
    print(f"\nanalysis after pose (clean, kinematics, events, phases, knowledge map, priors, text): "
          f"{len(tr) / dt:.0f} frames/s ({len(tr)} frames in {dt:.2f} s)")

if __name__ == "__main__":
    main()
