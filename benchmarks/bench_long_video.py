"""Long recordings (issue 29 item 6): peak memory of `medclip pose --report` and `medclip predict --bouts` on stitched
videos of 1 and 3 minutes. It must not grow with the video's length: pose reads one frame at a time, the report's key
frames are decoded the same way, the overlay is encoded as it is drawn, and per-bout prediction decodes only the frames
the run samples in each bout (decord `get_batch` on those indices).

The videos (`--source`):
- `synthetic` (default): walking bouts of different subjects and classes from the project's gait generator, rendered
  as `render_clip` renders them and as `benchmarks/bench_pose.py` uses them (side view, far side hidden by the near side,
  the camera panning with the walker, lighting, vignetting, sensor noise), blurred (Gaussian σ 1 px) and H.264-compressed
  (CRF 28). Each bout (6–10 s, one subject: class `GAIT_CLASSES[k % 9]`, subject k) is followed by the walker standing
  still (the bout's last frame held, fresh sensor noise per frame, 4 s) and the same room with nobody in it (3 s).
  A video that has no room left for a whole bout (6 s) ends with nobody in view. One bout is rendered at a time and
  written frame by frame, so the writer's memory is one bout's, whatever the length.
- `real`: the real side-view walk `gait/mobile_gaitlab_input.mp4` (Apache-2.0, stanfordnmbl/mobile-gaitlab; read in
  place from ../shared/media) at `--fps` (every k-th frame), then 5 s of the person standing (its first frame held),
  then 2 s with nobody in view (grey), repeated up to the length.

Every step runs in its own process and reports its own peak resident memory (`ru_maxrss`): writing the video, pose,
predict. The bouts `medclip pose` finds are matched against the walks written (frame ranges, overlap and IoU).
The predict run is a tiny `clinicalclip_gait` (the plumbing, not accuracy).

Run: .venv/bin/python benchmarks/bench_long_video.py [--source synthetic|real] [--minutes 1 3] [--fps 15] [--size 256]
     [--max-side 320] [--out benchmarks/out/long]
"""
import argparse, json, os, subprocess, sys, time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIP = MEDIA / "gait" / "mobile_gaitlab_input.mp4"
WALK_S, STAND_S, EMPTY_S = (6.0, 10.0), 4.0, 3.0           # synthetic: bout length range, then standing, then nobody

class Sink:
    "An H.264 writer fed one RGB frame at a time (nothing of the video is kept in memory)."
    def __init__(self, path:Path, fps:float, h:int, w:int, crf:int=23):
        import av
        self.c = av.open(str(path), "w")
        self.st = self.c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001), options={"crf": str(crf)})
        self.h, self.w = h // 2 * 2, w // 2 * 2
        self.st.width, self.st.height, self.st.pix_fmt = self.w, self.h, "yuv420p"
        self.frames = 0
    def put(self, img:np.ndarray):
        import av
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:self.h, :self.w]), format="rgb24")
        for p in self.st.encode(frame): self.c.mux(p)
        self.frames += 1
    def close(self):
        for p in self.st.encode(): self.c.mux(p)
        self.c.close()

def render_bout(label:str, index:int, frames:int, size:int, fps:float, seed:int=0) -> tuple:
    """Subject `index` of class `label` walking (uint8 T×S×S×3, the pipeline of `render_clip` for its clip 0, side view)
    and one frame of the same room seen by the same camera with nobody in it (no walker, no shadow), with the same
    exposure, white balance, vignetting and gamma; and the subject."""
    from medclip_nb.synth.gait import (make_subject, simulate_walk, make_camera, fit_in_frame, render_background,
                                       render_body, _clip_gait, _light, _camera_effects)
    subject = make_subject(index, label, seed)
    rng = np.random.default_rng([seed, int(subject.subject_id[1:]), 0, 31337])       # render_clip's draw for clip 0
    motion = simulate_walk(subject, _clip_gait(subject.gait, rng), frames, fps)
    cam = fit_in_frame(make_camera("side", motion, subject.body, size, rng), motion)
    light = _light(rng)
    img, _, _ = render_body(render_background(cam, subject.room, motion, light), subject, motion, cam, light)
    last = dict(cam, pos=cam["pos"][-1:], c=cam["c"][-1:])
    away = {"extra": {"pelvis": motion["extra"]["pelvis"][-1:] + np.array([0.0, 0.0, 1e3])}}   # the shadow leaves too
    room = render_background(last, subject.room, away, light)
    out = _camera_effects(np.concatenate([img, room]), rng)
    return out[:-1], out[-1], subject

def held(img:np.ndarray, rng, a:int=2) -> np.ndarray:
    "A held frame as a live camera gives it: fresh triangular sensor noise (±2a grey levels)."
    noise = rng.integers(-a, a + 1, img.shape, dtype=np.int16) + rng.integers(-a, a + 1, img.shape, dtype=np.int16)
    return np.clip(img + noise, 0, 255).astype(np.uint8)

def stitch_synthetic(out:Path, minutes:float, fps:float, size:int, seed:int=0) -> dict:
    "Write bouts of synthetic walkers (walk, stand, nobody, next subject …) frame by frame; returns frames and segments."
    import cv2
    from medclip_nb.synth.gait import GAIT_CLASSES
    rng = np.random.default_rng([seed, 2029])
    total, sink, segments, k = int(round(minutes * 60 * fps)), Sink(out, fps, size, size, crf=28), [], 0
    put = lambda img: sink.put(cv2.GaussianBlur(img, (0, 0), 1.0))
    while sink.frames < total:
        if k and total - sink.frames < WALK_S[0] * fps:                       # no room for a whole bout: nobody till the end
            t0 = sink.frames
            for _ in range(total - t0): put(held(room, rng))
            segments.append(dict(kind="empty", start=t0, end=total, label=label, subject=subject.subject_id, device=subject.device))
            break
        label = GAIT_CLASSES[k % len(GAIT_CLASSES)]
        n_walk = min(int(round(rng.uniform(*WALK_S) * fps)), total - sink.frames)
        walk, room, subject = render_bout(label, k, n_walk, size, fps, seed)
        for kind, n, frame in (("walk", n_walk, None), ("stand", int(STAND_S * fps), walk[-1]), ("empty", int(EMPTY_S * fps), room)):
            n, t0 = min(n, total - sink.frames), sink.frames
            if n <= 0: break
            for i in range(n): put(walk[i] if frame is None else held(frame, rng))
            segments.append(dict(kind=kind, start=t0, end=t0 + n, label=label, subject=subject.subject_id, device=subject.device))
        del walk; k += 1
    sink.close()
    return {"frames": total, "fps": fps, "height": sink.h, "width": sink.w, "segments": segments}

def stitch_real(out:Path, minutes:float, fps:float, max_side:int) -> dict:
    "Write the real clip stitched (walk, stand 5 s, empty 2 s, …) frame by frame; returns its frame count and segments."
    from medclip_nb.pose import iter_frames, video_meta
    k = max(1, round(video_meta(CLIP)["fps"] / fps))
    walk = [img for i, img, _ in iter_frames(CLIP, max_side) if i % k == 0]      # the 11 s source clip, small
    still, empty = walk[0], np.full_like(walk[0], 128)
    total, sink, segments = int(minutes * 60 * fps), Sink(out, fps, *walk[0].shape[:2]), []
    while sink.frames < total:
        for kind, frames in (("walk", walk), ("stand", [still] * int(5 * fps)), ("empty", [empty] * int(2 * fps))):
            n, t0 = min(len(frames), total - sink.frames), sink.frames
            if n <= 0: break
            for img in frames[:n]: sink.put(img)
            segments.append(dict(kind=kind, start=t0, end=t0 + n, label="real", subject="mobile_gaitlab", device="none"))
    sink.close()
    return {"frames": total, "fps": fps, "height": sink.h, "width": sink.w, "segments": segments}

def match_bouts(written:list, found:list) -> tuple:
    """Per written walk [a, b): the found bouts that overlap it, the frames they share, recall (shared / written) and IoU
    (shared / union of the written walk and those bouts); and the found bouts that overlap no written walk."""
    inter = lambda p, q: max(0, min(p[1], q[1]) - max(p[0], q[0]))
    rows = []
    for w in written:
        hits = [f for f in found if inter(w, f) > 0]
        shared = sum(inter(w, f) for f in hits)
        union = (w[1] - w[0]) + sum(f[1] - f[0] for f in hits) - shared
        rows.append(dict(written=list(w), found=[list(f) for f in hits], shared=shared,
                         recall=shared / (w[1] - w[0]), iou=shared / union))
    spurious = [list(f) for f in found if not any(inter(w, f) > 0 for w in written)]
    return rows, spurious

def measured(code:str) -> tuple:
    "Run Python `code` in a fresh process that prints its result then its peak RSS; returns (stdout lines, MiB, seconds)."
    wrap = code + "\nimport resource; print('PEAK_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "GLOG_minloglevel": "2"}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", wrap], capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode != 0: raise RuntimeError(p.stderr[-3000:])
    lines = p.stdout.splitlines()
    kb = int(next(l for l in lines if l.startswith("PEAK_KB")).split()[1])
    return [l for l in lines if not l.startswith("PEAK_KB")], kb / 1024, time.perf_counter() - t0

def stitched(video:Path, source:str, minutes:float, fps:float, size:int, max_side:int) -> tuple:
    "Write the stitched video in its own process; returns (its info dict, the writer's peak MiB, seconds)."
    call = (f"stitch_synthetic(Path({str(video)!r}), {minutes!r}, {fps!r}, {size!r})" if source == "synthetic" else
            f"stitch_real(Path({str(video)!r}), {minutes!r}, {fps!r}, {max_side!r})")
    lines, mb, s = measured(f"""
import json, sys; from pathlib import Path
sys.path.insert(0, {str(ROOT / 'benchmarks')!r})
from bench_long_video import stitch_synthetic, stitch_real
print(json.dumps({call}))""")
    return json.loads(lines[-1]), mb, s

def tiny_run(out:Path) -> Path:
    found = sorted(out.glob("runs/tiny*/checkpoints/*.ckpt"))
    if found: return found[0].parents[1]
    lines, _, _ = measured(f"""
from medclip_nb.train import train
TINY = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32", "data.batch_size=6", "train.max_epochs=1", "model.embed_dim=32"]
print(train("clinicalclip_gait", out={str(out / 'runs')!r}, name="tiny", overrides=TINY, progress=False))""")
    return Path(lines[-1])

def print_bouts(info:dict, found:list) -> dict:
    "Print the walks written beside the bouts found (frames and seconds, shared frames, IoU); returns the summary."
    walks = [s for s in info["segments"] if s["kind"] == "walk"]
    rows, spurious = match_bouts([[s["start"], s["end"]] for s in walks], found)
    sec = lambda r: f"{r[0] / info['fps']:.1f}–{r[1] / info['fps']:.1f} s"
    print("| walk | class (subject, aid) | written (frames) | written | found (frames) | shared frames | recall | IoU |")
    print("|---|---|---|---|---|---|---|---|")
    for i, (s, r) in enumerate(zip(walks, rows)):
        print(f"| {i + 1} | {s['label']} ({s['subject']}, {s['device']}) | {r['written'][0]}–{r['written'][1]} | {sec(r['written'])} | "
              f"{', '.join(f'{a}–{b}' for a, b in r['found']) or '–'} | {r['shared']} | {r['recall']:.0%} | {r['iou']:.2f} |")
    print(f"found bouts overlapping no written walk: {spurious or 'none'}\n", flush=True)
    return dict(walks=len(walks), found=len(found), matched=sum(r["iou"] >= 0.5 for r in rows),
                iou=float(np.mean([r["iou"] for r in rows])) if rows else float("nan"), spurious=len(spurious))

def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_long_video")
    ap.add_argument("--source", choices=["synthetic", "real"], default="synthetic",
                    help="synthetic walkers from the gait generator (default) or the real mobile-gaitlab clip")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3])
    ap.add_argument("--fps", type=float, default=None, help="frame rate of the stitched video (default: synthetic 15, real 10)")
    ap.add_argument("--size", type=int, default=256, help="synthetic: rendered frame side in px (default 256)")
    ap.add_argument("--max-side", type=int, default=320, help="pose input's longer side; real: also the stitched size")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "long"))
    a = ap.parse_args(argv)
    fps = a.fps or (15.0 if a.source == "synthetic" else 10.0)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    run = tiny_run(out)
    rows = []
    for m in a.minutes:
        video = out / f"{a.source}_{m:g}min.mp4"
        info, write_mb, write_s = stitched(video, a.source, m, fps, a.size, a.max_side)
        po = out / f"pose_{a.source}_{m:g}min"
        lines, pose_mb, pose_s = measured(f"""
from medclip_nb.pose import pose_main
pose_main([{str(video)!r}, "--out", {str(po)!r}, "--report", "--max-side", "{a.max_side}"])""")
        clip = po / "pose" / video.stem / video.stem
        found = json.loads((clip / "bouts.json").read_text())["bouts"]
        km = po / "knowledge_maps" / video.stem / f"{video.stem}.npy"
        lines2, pred_mb, pred_s = measured(f"""
from medclip_nb.predict import predict_main
predict_main([{str(run)!r}, {str(video)!r}, "--bouts", {str(clip / 'bouts.json')!r}, "--kinematics", {str(km)!r}])""")
        print(f"--- {m:g} min ({info['frames']} frames): pose says: {[l for l in lines if 'cadence' in l or 'wrote' in l][:2]}")
        print("\n".join(lines2) + "\n")
        match = print_bouts(info, found)
        rows.append(dict(minutes=m, frames=info["frames"], write_mb=write_mb, write_s=write_s, pose_mb=pose_mb, pose_s=pose_s,
                         predict_mb=pred_mb, predict_s=pred_s, **match,
                         rgb_mb=info["frames"] * info["height"] * info["width"] * 3 / 2**20))   # the whole video as one array
    what = (f"synthetic walkers at {fps:g} fps, {a.size}×{a.size} px (walk {WALK_S[0]:g}–{WALK_S[1]:g} s, stand {STAND_S:g} s, "
            f"nobody {EMPTY_S:g} s, next subject/class; blur σ 1 px, H.264 CRF 28)" if a.source == "synthetic" else
            f"the real clip at {fps:g} fps, longer side {a.max_side} px (walk 11 s, stand 5 s, nobody 2 s, repeated)")
    print(f"\nstitched videos: {what}; pose at longer side ≤ {a.max_side} px; peak RSS per process (ru_maxrss)\n")
    print("| length | frames | whole video as one RGB array (MiB) | writing: peak RSS (MiB) | walks written | bouts found | "
          "walks matched (IoU ≥ 0.5) | mean IoU | found, no walk | medclip pose --report: peak RSS (MiB) | time (s) | "
          "medclip predict --bouts: peak RSS (MiB) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['minutes']:g} min | {r['frames']} | {r['rgb_mb']:.0f} | {r['write_mb']:.0f} | {r['walks']} | {r['found']} | "
              f"{r['matched']}/{r['walks']} | {r['iou']:.2f} | {r['spurious']} | {r['pose_mb']:.0f} | {r['pose_s']:.0f} | "
              f"{r['predict_mb']:.0f} | {r['predict_s']:.0f} |")
    if len(rows) > 1:
        f, l = rows[0], rows[-1]
        print(f"\n{l['minutes']:g} min against {f['minutes']:g} min: the video ×{l['frames'] / f['frames']:.1f}, peak RSS of "
              f"writing ×{l['write_mb'] / f['write_mb']:.2f}, pose ×{l['pose_mb'] / f['pose_mb']:.2f}, "
              f"predict ×{l['predict_mb'] / f['predict_mb']:.2f}")
    return rows

if __name__ == "__main__":
    main()
