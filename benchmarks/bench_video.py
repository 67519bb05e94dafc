"""Clip-reading throughput on 720p H.264: medclip_nb.video vs decode-everything-then-sample.

Run: `.venv/bin/python benchmarks/bench_video.py` (about 4 minutes on 2 cores; `--quick` for a smoke run).

What it does, all in one run so the ratios compare like with like:
1. Writes a few 720p, ~300-frame H.264 clips (textured scene panned by a shaky camera, a walking figure, sensor
   noise; x264 preset medium, CRF 23, keyframe every 1 s as phone cameras do) with `medclip_nb.video.write_video`,
   plus one clip with x264's default GOP (keyframe every 250 frames) to show how the GOP changes the picture.
2. Per core (one process, one decoder thread): ms per clip and clips per CPU-second for 8 and 16 uniformly sampled
   frames at 112² and 224², for
   - `medclip` : `read_clip` (PyAV probe + decord decoding only the needed frames, scaled inside the decoder),
   - `opencv`  : decode every frame with OpenCV, BGR→RGB, then sample and resize (what GaitLab does),
   - `pyav`    : decode every frame to RGB with PyAV, then sample and resize (`torchvision.io.read_video`'s
                 method; torchvision 0.29 removed `read_video`, so PyAV is called directly),
   and the ratio to a full sequential decode of the same file (decord, every frame, full size).
3. Total (2 DataLoader workers, batch 4): epochs over videos × 4 uniform clips each: OpenCV decode-all epoch, the
   first `medclip` epoch through a cold `ClipCache`, and two cached epochs.
Wall-clock numbers on this shared 2-core machine are noisy; CPU-seconds (user+sys of the process or the workers)
are the steadier per-core figure. Targets (issue 4): first epoch ≥ 1.4× decode-all-then-sample, cached ≥ 20× first.
"""
import os
os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "threads;1")  # one decoder thread: per-core figures
os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse, resource, shutil, statistics, sys, tempfile, time
from pathlib import Path

import numpy as np

from medclip_nb.video import write_video, read_clip, sample_indices, ClipCache, to_tensor, _probe_memo

CONFIGS = [(8, 112), (8, 224), (16, 112), (16, 224)]
CLIPS_PER_VIDEO = 4


# ---------- test clips ----------

def make_frames(T=300, H=720, W=1280, seed=0):
    "A textured scene panned by a shaky camera, a walking figure, and per-frame sensor noise (uint8 T×H×W×3)."
    from PIL import Image
    rng = np.random.default_rng(seed)
    BW, BH = W + 3 * T // 2 + 64, H + 64
    scene = np.zeros((BH, BW, 3), np.float32)
    for cell, amp in [(64, 70), (16, 35), (4, 20)]:           # multi-scale texture: walls, floor, fine grain
        gh, gw = BH // cell + 2, BW // cell + 2
        small = ((rng.uniform(-1, 1, (gh, gw, 3)) + 1) * 127.5).astype(np.uint8)
        big = np.asarray(Image.fromarray(small).resize((gw * cell, gh * cell), Image.BICUBIC), np.float32)
        scene += (big[:BH, :BW] / 127.5 - 1) * amp
    yy, xx = np.mgrid[:BH, :BW]
    scene += 110 + 40 * np.sin(xx / 37.0)[..., None] * (yy > BH * 0.7)[..., None]   # walkway stripes
    scene = np.clip(scene, 0, 255).astype(np.uint8)
    noise = rng.integers(-3, 4, (H, W, 3), dtype=np.int16)
    frames = np.empty((T, H, W, 3), np.uint8)
    for t in range(T):
        ox = int(t * 1.5 + 10 * np.sin(t / 9 + seed)); oy = int(32 + 12 * np.sin(t / 5 + seed))   # pan + shake
        f = scene[oy:oy + H, ox:ox + W].astype(np.int16) + np.roll(noise, t * 37, axis=1)
        cx, cy, sw = int(200 + t * 3.0) % W, int(H * 0.45), np.sin(t / 4)
        for dx, dy, rx, ry, col in [(0, 0, 40, 110, (180, 60, 50)), (0, -150, 35, 40, (230, 190, 160)),
                                    (int(40 * sw), 170, 22, 90, (40, 40, 120)), (-int(40 * sw), 170, 22, 90, (40, 40, 110)),
                                    (-int(30 * sw), 20, 15, 70, (200, 70, 60))]:     # torso, head, legs, arm
            x0, x1 = max(cx + dx - rx, 0), min(cx + dx + rx, W); y0, y1 = max(cy + dy - ry, 0), min(cy + dy + ry, H)
            if x1 <= x0 or y1 <= y0: continue
            gy, gx = np.mgrid[y0:y1, x0:x1]
            f[y0:y1, x0:x1][((gx - cx - dx) / rx) ** 2 + ((gy - cy - dy) / ry) ** 2 <= 1] = col
        frames[t] = np.clip(f, 0, 255)
    return frames


def make_videos(d:Path, n:int, T:int, keyint:int, fps=30):
    out = []
    for i in range(n):
        t = time.perf_counter()
        p = write_video(d / f"walk720p_g{keyint}_{i}.mp4", make_frames(T, seed=i), fps=fps, crf=23,
                        options={"preset": "medium", "g": keyint})
        print(f"  wrote {p.name}: {p.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.0f} s", flush=True)
        out.append(p)
    return out


# ---------- readers ----------

def read_medclip(path, T, S, clip=0):
    _probe_memo.clear()   # a first epoch probes every file once: count it
    return read_clip(path, T, size=S, num_clips=CLIPS_PER_VIDEO)[clip] if clip else read_clip(path, T, size=S)


def _crop_resize(frames, S):
    "Short side to S, centre crop (as read_clip's default fit='crop')."
    import cv2
    out = []
    for f in frames:
        h, w = f.shape[:2]; s = S / min(h, w)
        r = cv2.resize(f, (max(S, round(w * s)), max(S, round(h * s))), interpolation=cv2.INTER_AREA)
        oy, ox = (r.shape[0] - S) // 2, (r.shape[1] - S) // 2
        out.append(r[oy:oy + S, ox:ox + S])
    return np.stack(out)


def read_opencv(path, T, S, clip=0):
    "GaitLab style: read every frame, convert to RGB, keep them all, then sample."
    import cv2
    cap = cv2.VideoCapture(str(path)); frames = []
    while True:
        ok, f = cap.read()
        if not ok: break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    idx = sample_indices(len(frames), T, num_clips=CLIPS_PER_VIDEO if clip else 1)[clip]
    return _crop_resize([frames[i] for i in idx], S)


def read_pyav(path, T, S, clip=0):
    "torchvision.io.read_video's method: decode every frame to RGB with PyAV, then sample."
    import av
    with av.open(str(path)) as c:
        st = c.streams.video[0]; st.thread_count = 1
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(st)]
    idx = sample_indices(len(frames), T, num_clips=CLIPS_PER_VIDEO if clip else 1)[clip]
    return _crop_resize([frames[i] for i in idx], S)


def full_decode(path):
    "Every frame, in order, at full size (decord, one thread): the cost of touching the whole file."
    import decord
    vr = decord.VideoReader(str(path), num_threads=1)
    for _ in range(len(vr)): vr.next()


READERS = {"medclip": read_medclip, "opencv": read_opencv, "pyav": read_pyav}


def _cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime


def timed(fn, *a):
    c, t = _cpu(), time.perf_counter(); fn(*a); return time.perf_counter() - t, _cpu() - c


# ---------- per-core table ----------

def per_core(videos, configs, reps):
    full = {p: min(timed(full_decode, p) for _ in range(reps)) for p in videos}
    full_wall = statistics.median(w for w, _ in full.values()); full_cpu = statistics.median(c for _, c in full.values())
    rows = []
    for T, S in configs:
        res = {}
        for name, fn in READERS.items():
            ts = [min(timed(fn, p, T, S) for _ in range(reps)) for p in videos]
            res[name] = (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
        for name, (w, c) in res.items():
            rows.append(dict(frames=T, size=f"{S}²", reader=name, ms_wall=1000 * w, clips_per_cpu_s=1 / c,
                             vs_opencv_cpu=res["opencv"][1] / c, vs_opencv_wall=res["opencv"][0] / w,
                             vs_full_decode_cpu=full_cpu / c))
    return rows, full_wall, full_cpu


# ---------- DataLoader table ----------

class ClipDataset:
    "videos × CLIPS_PER_VIDEO uniform clips; `reader` = 'medclip' (through a ClipCache) or 'opencv'."
    def __init__(self, videos, T, S, reader, cache_root=None):
        self.items = [(p, c) for p in videos for c in range(CLIPS_PER_VIDEO)]
        self.T, self.S, self.reader, self.cache_root = T, S, reader, cache_root
        self._cache = None
    def __len__(self): return len(self.items)
    def __getitem__(self, i):
        p, c = self.items[i]
        if self.reader == "opencv": return to_tensor(read_opencv(p, self.T, self.S, c))
        if self._cache is None: self._cache = ClipCache(self.cache_root)
        info = self._cache.info(p)
        idx = sample_indices(info.frames, self.T, num_clips=CLIPS_PER_VIDEO)[c]
        return to_tensor(self._cache.read(p, idx, size=self.S)[0])


def _proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f: parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def run_epochs(ds, n_epochs, workers=2):
    "Wall time and worker CPU-seconds of each epoch through one persistent DataLoader."
    import torch
    dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, persistent_workers=True,
                                     multiprocessing_context="fork")
    out = []
    for _ in range(n_epochs):
        t = time.perf_counter(); it = iter(dl)
        pids = [w.pid for w in it._workers]; c0 = sum(_proc_cpu(p) for p in pids)
        n = sum(len(b) for b in it)
        out.append((n, time.perf_counter() - t, sum(_proc_cpu(p) for p in pids) - c0))
    del it, dl
    return out


def loader_table(videos, configs, tmp):
    rows = []
    for T, S in configs:
        (n, w0, c0), = run_epochs(ClipDataset(videos, T, S, "opencv"), 1)
        root = tmp / f"cache_{T}_{S}"
        eps = run_epochs(ClipDataset(videos, T, S, "medclip", root), 3)
        rows.append(dict(frames=T, size=f"{S}²", epoch="opencv decode-all", clips=n, wall_s=w0, clips_per_s=n / w0,
                         clips_per_cpu_s=n / c0, vs_opencv=1.0, vs_first=float("nan")))
        first = eps[0][1]
        for k, (n, w, c) in enumerate(eps):
            rows.append(dict(frames=T, size=f"{S}²", epoch="medclip first (cold cache)" if k == 0 else f"medclip cached #{k}",
                             clips=n, wall_s=w, clips_per_s=n / w, clips_per_cpu_s=n / max(c, 1e-3),
                             vs_opencv=w0 / w, vs_first=first / w))
        size = sum(f.stat().st_size for f in root.rglob("*.npy")) / 1e6
        print(f"  {T}×{S}²: cache {size:.0f} MB", flush=True)
    return rows


def print_table(rows, cols, title):
    print(f"\n{title}")
    fmt = {k: (lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)) for k in cols}
    cells = [[fmt[k](r[k]) for k in cols] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(cols)]
    print("  ".join(k.rjust(w) for k, w in zip(cols, widths)))
    for c in cells: print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_video.py", description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=4, help="720p clips to generate (default 4)")
    ap.add_argument("--frames", type=int, default=300, help="frames per clip (default 300)")
    ap.add_argument("--keyint", type=int, default=30, help="keyframe interval of the main clips (default 30 = 1 s)")
    ap.add_argument("--reps", type=int, default=1, help="repeats per measurement, best kept (default 1)")
    ap.add_argument("--quick", action="store_true", help="2 short clips, one config: a smoke run")
    a = ap.parse_args(argv)
    import torch, cv2
    torch.set_num_threads(1); cv2.setNumThreads(1)
    configs = [(8, 224)] if a.quick else CONFIGS
    n, T = (2, 90) if a.quick else (a.videos, a.frames)
    tmp = Path(tempfile.mkdtemp(prefix="bench_video_"))
    try:
        print(f"machine: {os.cpu_count()} cores; generating {n} × {T}-frame 720p H.264 clips (keyint {a.keyint}) in {tmp}")
        videos = make_videos(tmp, n, T, a.keyint)
        rows, fw, fc = per_core(videos, configs, a.reps)
        print_table(rows, ["frames", "size", "reader", "ms_wall", "clips_per_cpu_s", "vs_opencv_cpu", "vs_opencv_wall",
                           "vs_full_decode_cpu"], f"Per core (1 process, 1 decoder thread), median over {n} clips. "
                    f"Full sequential decode: {fw:.2f} s wall, {fc:.2f} CPU-s per clip")
        if not a.quick:
            print(f"\nGOP sensitivity: 1 clip with x264's default keyint 250")
            g250 = make_videos(tmp, 1, T, 250)
            rows2, fw2, fc2 = per_core(g250, [(8, 224), (16, 224)], a.reps)
            print_table(rows2, ["frames", "size", "reader", "ms_wall", "clips_per_cpu_s", "vs_opencv_cpu", "vs_opencv_wall",
                                "vs_full_decode_cpu"], f"Per core, keyint 250. Full sequential decode: {fw2:.2f} s wall, {fc2:.2f} CPU-s")
        lrows = loader_table(videos, configs, tmp)
        print_table(lrows, ["frames", "size", "epoch", "clips", "wall_s", "clips_per_s", "clips_per_cpu_s", "vs_opencv",
                            "vs_first"], f"Total: torch DataLoader, 2 workers, batch 4, {n} videos × {CLIPS_PER_VIDEO} clips "
                    "per epoch (clips_per_cpu_s = per core, from the workers' CPU time)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
