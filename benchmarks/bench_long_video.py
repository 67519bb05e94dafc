"""Long recordings (issue 29 item 6): peak memory of `medclip pose` and `medclip predict --bouts` on stitched videos of
1 and 3 minutes. It must not grow with the video's length: pose reads one frame at a time, the report's key frames
are decoded the same way, the overlay is encoded as it is drawn, and per-bout prediction decodes only the frames the
run samples in each bout (decord `get_batch` on those indices).

The videos: the real side-view walk `gait/mobile_gaitlab_input.mp4` (Apache-2.0, stanfordnmbl/mobile-gaitlab; read in
place from ../shared/media) at `--fps` (every k-th frame), then 5 s of the person standing (its first frame held),
then 2 s with nobody in view (grey), repeated up to the length. Each command runs in its own process, which reports
its own peak resident memory (`ru_maxrss`). The predict run is a tiny `clinicalclip_gait` (the plumbing, not accuracy).

Run: .venv/bin/python benchmarks/bench_long_video.py [--minutes 1 3] [--fps 10] [--max-side 320] [--out benchmarks/out/long]
"""
import argparse, json, os, subprocess, sys, time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIP = MEDIA / "gait" / "mobile_gaitlab_input.mp4"

def stitch(out:Path, minutes:float, fps:float, max_side:int) -> dict:
    "Write the stitched video (walk, stand 5 s, empty 2 s, …) frame by frame; returns its frame count and walk segments."
    import av
    from medclip_nb.pose import iter_frames, video_meta
    k = max(1, round(video_meta(CLIP)["fps"] / fps))
    walk = [img for i, img, _ in iter_frames(CLIP, max_side) if i % k == 0]      # the 11 s source clip, small
    h, w = (walk[0].shape[0] // 2 * 2, walk[0].shape[1] // 2 * 2)
    still, empty = walk[0], np.full_like(walk[0], 128)
    total, t, segments = int(minutes * 60 * fps), 0, []
    with av.open(str(out), "w") as c:
        st = c.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001)); st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        def put(img):
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h, :w]), format="rgb24")): c.mux(p)
        while t < total:
            for seg, frames in (("walk", walk), ("stand", [still] * int(5 * fps)), ("empty", [empty] * int(2 * fps))):
                n = min(len(frames), total - t)
                if n <= 0: break
                if seg == "walk": segments.append([t, t + n])
                for img in frames[:n]: put(img)
                t += n
        for p in st.encode(): c.mux(p)
    return {"frames": total, "walk_segments": segments, "height": h, "width": w}

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

def tiny_run(out:Path) -> Path:
    found = sorted(out.glob("runs/tiny*/checkpoints/*.ckpt"))
    if found: return found[0].parents[1]
    lines, _, _ = measured(f"""
from medclip_nb.train import train
TINY = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32", "data.batch_size=6", "train.max_epochs=1", "model.embed_dim=32"]
print(train("clinicalclip_gait", out={str(out / 'runs')!r}, name="tiny", overrides=TINY, progress=False))""")
    return Path(lines[-1])

def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_long_video")
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 3])
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "long"))
    a = ap.parse_args(argv)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    run = tiny_run(out)
    rows = []
    for m in a.minutes:
        video = out / f"stitched_{m:g}min.mp4"
        info = stitch(video, m, a.fps, a.max_side)
        po = out / f"pose_{m:g}min"
        lines, pose_mb, pose_s = measured(f"""
from medclip_nb.pose import pose_main
pose_main([{str(video)!r}, "--out", {str(po)!r}, "--report", "--max-side", "{a.max_side}"])""")
        clip = po / "pose" / video.stem / video.stem
        bouts = json.loads((clip / "bouts.json").read_text())
        km = po / "knowledge_maps" / video.stem / f"{video.stem}.npy"
        lines2, pred_mb, pred_s = measured(f"""
from medclip_nb.predict import predict_main
predict_main([{str(run)!r}, {str(video)!r}, "--bouts", {str(clip / 'bouts.json')!r}, "--kinematics", {str(km)!r}])""")
        rows.append(dict(minutes=m, frames=info["frames"], walks=len(info["walk_segments"]), bouts=len(bouts["bouts"]),
                         pose_mb=pose_mb, pose_s=pose_s, predict_mb=pred_mb, predict_s=pred_s,
                         rgb_mb=info["frames"] * info["height"] * info["width"] * 3 / 2**20))   # the whole video as one array
        print(f"--- {m:g} min: pose says: {[l for l in lines if 'cadence' in l or 'wrote' in l][:2]}")
        print("\n".join(lines2))
        print(f"walk segments stitched (frames): {info['walk_segments']}\nbouts found: {bouts['bouts']}", flush=True)
    print(f"\nstitched videos at {a.fps:g} fps, longer side {a.max_side} px (walk 11 s, stand 5 s, nobody 2 s, repeated)\n")
    print("| length | frames | whole video as one RGB array (MiB) | walks stitched | bouts found | medclip pose --report: peak RSS (MiB) | time (s) | medclip predict --bouts: peak RSS (MiB) | time (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['minutes']:g} min | {r['frames']} | {r['rgb_mb']:.0f} | {r['walks']} | {r['bouts']} | {r['pose_mb']:.0f} | {r['pose_s']:.0f} | "
              f"{r['predict_mb']:.0f} | {r['predict_s']:.0f} |")

if __name__ == "__main__":
    main()
