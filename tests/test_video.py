"""Video I/O on the real sample media and on corrupt files made in a temp dir.

Real clips (../shared/media/gait, see its README):
- mobile_gaitlab_input.mp4: Apache-2.0, stanfordnmbl/mobile-gaitlab demo/in/input.mp4 (Kidziński et al.)
- sports2d_demo.mp4: BSD-3-Clause, davidpagnon/Sports2D Sports2D/Demo/demo.mp4
"""
import os, json
from pathlib import Path

import numpy as np
import pytest

from medclip_nb.core import DataError, VideoDecodeError
from medclip_nb.video import (write_video, probe_video, read_clip, read_frames, sample_indices, ClipCache,
                              read_image, to_tensor, echo_zoom, letterbox, hflip, center_crop)
from medclip_nb.gait import COCO17_FLIP


def _texture(T=48, H=96, W=128, seed=0):
    "Moving stripes + noise texture: every frame differs, no frame is black; the blue channel encodes the frame number."
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    noise = rng.integers(0, 40, (H, W))
    fr = [np.stack([(np.sin(xx / 7 + t / 3) * 90 + 120 + noise) % 256, (np.cos(yy / 5 - t / 4) * 90 + 120),
                    np.full((H, W), 20 + 4 * t)], -1) for t in range(T)]
    return np.clip(np.stack(fr), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    d = tmp_path_factory.mktemp("video")
    return {"dir": d, "frames": _texture(), "mp4": write_video(d / "good.mp4", _texture(), fps=25, crf=14),
            "avi": write_video(d / "good.avi", _texture(), fps=50)}


# ---------- real media ----------

@pytest.mark.parametrize("name,frames,wh,fps,codec", [
    ("mobile_gaitlab_input.mp4", 344, (320, 480), 29.97, "h264"),   # portrait H.264
    ("sports2d_demo.mp4", 230, (1768, 994), 30.0, "vp9")])           # VP9
def test_real_media_probe_and_full_decode(media, name, frames, wh, fps, codec):
    path = media / "gait" / name
    info = probe_video(path)
    assert (info.frames, (info.width, info.height), info.codec) == (frames, wh, codec)
    assert abs(info.fps - fps) < 0.01
    # every frame decodes (at a small size, fast) and the count is exact
    allf, aff = read_frames(path, np.arange(info.frames), size=64, fit="short")
    assert allf.shape[0] == frames and allf.dtype == np.uint8
    assert allf.reshape(frames, -1).std(1).min() > 5          # no blank frame anywhere
    with pytest.raises(DataError, match=f"indices in 0..{frames - 1}"): read_frames(path, [frames], size=64)


@pytest.mark.parametrize("name", ["mobile_gaitlab_input.mp4", "sports2d_demo.mp4"])
def test_real_media_sampled_frames_match_sequential_decode(media, name):
    "decord's seek + get_batch returns exactly the frames a plain sequential PyAV decode gives (no off-by-one)."
    import av
    path = media / "gait" / name
    idx = [5, 41, 77, 110]                            # the walker is moving in all of these
    clip = read_frames(path, idx)[0]
    want = {j for i in idx for j in (i - 1, i, i + 1)}; ref = {}
    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in want: ref[i] = f.to_ndarray(format="rgb24").astype(np.int16)
            if i >= max(want): break
    for k, i in enumerate(idx):
        d = {j: np.abs(clip[k] - ref[j]).mean() for j in (i - 1, i, i + 1)}
        assert d[i] < 1.0 and d[i] < min(d[i - 1], d[i + 1]) / 2, (name, i, d)


def test_real_media_size_fit_and_clips(media):
    path = media / "gait" / "mobile_gaitlab_input.mp4"
    c = read_clip(path, 8, size=112)                                       # short side 112, centre crop
    assert c.shape == (8, 112, 112, 3)
    lb, idx = read_clip(path, 8, size=(112, 112), fit="letterbox", num_clips=2, return_indices=True)
    assert lb.shape == (2, 8, 112, 112, 3) and idx.shape == (2, 8)
    assert lb[..., :18, :].max() == 0 and lb[..., 19:93, :].mean() > 50     # portrait → bars left and right
    v = read_clip(media / "gait" / "sports2d_demo.mp4", 16, size=(224, 224), fit="stretch", sampling="segment", seed=1)
    assert v.shape == (16, 224, 224, 3)
    t = to_tensor(v, "clip"); assert tuple(t.shape) == (3, 16, 224, 224)


# ---------- corrupt and wrong files ----------

def _corrupt_cases(d:Path, good_mp4:Path, good_avi:Path, frames):
    from PIL import Image
    b = good_mp4.read_bytes(); ba = good_avi.read_bytes()
    cases = {}
    def put(name, data, expect):
        p = d / name; p.write_bytes(data); cases[name] = (p, expect)
    put("zero.mp4", b"", "empty file")
    put("trunc_head.mp4", b[:len(b) // 10], "truncated or damaged")     # index at the front (faststart)
    nofs = write_video(d / "nofs_src.mp4", frames, faststart=False).read_bytes()
    put("trunc_head_nofs.mp4", nofs[:len(nofs) // 2], "not a readable video")  # index at the end: lost
    put("trunc_half.mp4", b[:len(b) // 2], "truncated or damaged")
    put("trunc_tail.mp4", b[:-60], "truncated or damaged")            # only the last frame is cut short
    put("trunc_half.avi", ba[:len(ba) // 2], "truncated or damaged")
    put("random.mp4", np.random.default_rng(0).integers(0, 256, 30000, dtype=np.uint8).tobytes(), "not a readable video")
    put("text.mp4", b"this is not a video\n" * 50, "not a readable video")
    g = bytearray(b); g[len(b) // 2:len(b) // 2 + len(b) // 4] = np.random.default_rng(1).integers(0, 256, len(b) // 4, dtype=np.uint8).tobytes()
    put("garbage_mid.mp4", bytes(g), "cannot be decoded")              # container intact, frame data garbage
    z = bytearray(b); z[len(b) // 3:] = bytes(len(b) - len(b) // 3); put("zeroed_data.mp4", bytes(z), "cannot be decoded")
    Image.fromarray(frames[0]).save(d / "frame.png"); (d / "frame.png").rename(d / "png_renamed.mp4")
    cases["png_renamed.mp4"] = (d / "png_renamed.mp4", "still image")
    Image.fromarray(frames[0]).save(d / "frame.jpg"); (d / "frame.jpg").rename(d / "jpg_renamed.mp4")
    cases["jpg_renamed.mp4"] = (d / "jpg_renamed.mp4", "still image")
    return cases


@pytest.fixture(scope="module")
def corrupt(good, tmp_path_factory):
    return _corrupt_cases(tmp_path_factory.mktemp("corrupt"), good["mp4"], good["avi"], good["frames"])


CORRUPT_NAMES = ["zero.mp4", "trunc_head.mp4", "trunc_head_nofs.mp4", "garbage_mid.mp4", "trunc_half.mp4", "trunc_tail.mp4", "trunc_half.avi", "random.mp4",
                 "text.mp4", "zeroed_data.mp4", "png_renamed.mp4", "jpg_renamed.mp4"]


@pytest.mark.parametrize("name", CORRUPT_NAMES)
def test_corrupt_file_gives_clear_error(corrupt, name):
    path, expect = corrupt[name]
    with pytest.raises(VideoDecodeError) as e:
        read_clip(path, 8, size=32)        # every sampled frame sits in the damaged part or the file never opens
    msg = str(e.value)
    assert str(path) in msg and "(expected " in msg and expect in msg, msg
    assert e.value.path == path


def test_corrupt_files_in_a_worker_pool(corrupt, good):
    "A DataLoader with 2 workers over good and corrupt files: the corrupt one raises VideoDecodeError in the main process, no worker dies."
    import torch
    paths = [good["mp4"], corrupt["trunc_half.mp4"][0], good["avi"]]

    class DS(torch.utils.data.Dataset):
        def __len__(self): return len(paths)
        def __getitem__(self, i): return to_tensor(read_clip(paths[i], 4, size=32))

    dl = torch.utils.data.DataLoader(DS(), batch_size=1, num_workers=2, multiprocessing_context="fork")
    with pytest.raises(VideoDecodeError, match="trunc_half.mp4.*truncated or damaged"):
        for _ in dl: pass
    # the same pool setup over good files only completes
    ok = torch.utils.data.DataLoader([0, 2], batch_size=1, num_workers=2, multiprocessing_context="fork",
                                     collate_fn=lambda b: to_tensor(read_clip(paths[b[0]], 4, size=32)))
    assert [tuple(x.shape) for x in ok] == [(3, 4, 32, 32)] * 2


def test_missing_folder_and_short_video(good, tmp_path):
    with pytest.raises(DataError, match="not found.*expected an existing video file"): read_clip(tmp_path / "nope.mp4")
    with pytest.raises(DataError, match="is a folder"): read_clip(tmp_path)
    with pytest.raises(DataError) as e: read_clip(good["mp4"], 64)
    assert "good.mp4" in str(e.value) and "48 frames, too short for 64 frames" in str(e.value)
    assert e.value.field == "frames" and "at least 64 frames" in str(e.value)
    with pytest.raises(DataError, match=r"stride 2 \(63 frames\)"): read_clip(good["mp4"], 32, stride=2)
    assert read_clip(good["mp4"], 64, on_short="repeat", size=32).shape == (64, 32, 32, 3)


def test_black_video_is_not_silent(tmp_path):
    p = write_video(tmp_path / "black.mp4", np.zeros((10, 32, 32, 3), np.uint8))
    with pytest.raises(VideoDecodeError, match="every decoded frame is black"): read_clip(p, 4)
    assert read_clip(p, 4, allow_blank=True).max() == 0


def test_image_errors(tmp_path, good):
    from PIL import Image
    Image.fromarray(good["frames"][0]).save(tmp_path / "a.png")
    img, aff = read_image(tmp_path / "a.png", (64, 64))
    assert img.shape == (64, 64, 3) and aff.out_size == (64, 64)
    (tmp_path / "t.png").write_bytes((tmp_path / "a.png").read_bytes()[:200])
    with pytest.raises(DataError, match="t.png: cannot read image"): read_image(tmp_path / "t.png")
    (tmp_path / "z.bmp").write_bytes(b"")
    with pytest.raises(DataError, match="z.bmp: empty file"): read_image(tmp_path / "z.bmp")
    with pytest.raises(DataError, match="image file not found"): read_image(tmp_path / "none.jpg")


# ---------- writer ----------

@pytest.mark.parametrize("name,codec,want", [("a.mp4", None, "h264"), ("b.avi", None, "mpeg4"), ("c.avi", "mjpeg", "mjpeg")])
def test_write_video_roundtrip(tmp_path, name, codec, want):
    fr = _texture(T=20, H=61, W=83)                                   # odd sizes: cropped to even for 4:2:0
    p = write_video(tmp_path / name, fr, fps=12.5, codec=codec)
    info = probe_video(p)
    assert (info.codec, info.frames, info.width, info.height) == (want, 20, 82, 60) and abs(info.fps - 12.5) < 1e-6
    back = read_frames(p, np.arange(20))[0]
    assert np.abs(back.astype(int) - fr[:, :60, :82].astype(int)).mean() < 8
    assert [x.name for x in tmp_path.iterdir()] == [name]              # atomic: no temp file left
    with pytest.raises(DataError, match="uint8"): write_video(tmp_path / "f.mp4", fr.astype(float))


# ---------- sampling ----------

@pytest.mark.parametrize("sampling", ["uniform", "random", "segment"])
@pytest.mark.parametrize("n,T,stride", [(300, 16, None), (300, 8, 4), (17, 16, None), (33, 16, 2)])
def test_sample_indices_in_range_sorted_deterministic(sampling, n, T, stride):
    a = sample_indices(n, T, sampling, stride=stride, num_clips=3, seed=7)
    assert a.shape == (3, T) and a.min() >= 0 and a.max() < n
    assert (np.diff(a, axis=1) >= 0).all()
    if stride: assert (np.diff(a, axis=1) <= (2 * stride if sampling == "segment" else stride + 1)).all()
    np.testing.assert_array_equal(a, sample_indices(n, T, sampling, stride=stride, num_clips=3, seed=7))


def test_random_sampling_varies_with_seed():
    draws = {tuple(sample_indices(300, 8, "segment", seed=s)[0]) for s in range(5)}
    assert len(draws) == 5
    assert len({tuple(sample_indices(300, 8, "random", stride=2, seed=s)[0]) for s in range(5)}) == 5


# ---------- geometry follows the pixels ----------

def test_flip_moves_keypoints_and_names():
    img = np.zeros((40, 60, 3), np.uint8); img[5, 10] = 255                # a bright "left wrist" at x=10, y=5
    f, aff = hflip(img)
    (x, y, c), = aff.points([[10, 5, 0.9]])
    assert f[int(y), int(round(x))].max() == 255 and c == np.float32(0.9) and aff.mirrored
    assert COCO17_FLIP[9] == 10 and COCO17_FLIP[COCO17_FLIP[15]] == 15


def test_echo_zoom_views_same_size(good):
    clip = read_clip(good["avi"], 4, size=(96, 128), fit="stretch")
    views, affs = echo_zoom(clip, 64, (1.0, 0.7, 0.4))
    assert views.shape == (3, 4, 64, 64, 3) and len(affs) == 3
    assert affs[2].sx > affs[1].sx > affs[0].sx


# ---------- cache ----------

# Each filler is a fresh interpreter (not a fork of this possibly threaded pytest worker): it fills the cache as a
# DataLoader worker would, waiting at a start line so that both write the same entries at the same time.
_FILL = """
import json, sys, time
from pathlib import Path
import numpy as np
from medclip_nb.video import ClipCache, read_clip
root, path, seed, ready, go, out = sys.argv[1:]
c = ClipCache(root)
Path(ready).touch()
while not Path(go).exists(): time.sleep(0.005)
clips = [read_clip(path, 8, size=32, cache=c) for _ in range(3)]
clips.append(read_clip(path, 8, size=32, sampling="random", seed=int(seed), cache=c))
np.save(out, clips[0])
print(json.dumps([c.hits, c.misses]))
"""


def _fill_at_once(root, path, seeds, tmp, timeout=120):
    "Start one filler process per seed, release them together, and return [(first clip, hits, misses)]."
    import subprocess, sys, time
    import medclip_nb
    paths = [str(Path(medclip_nb.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]   # the same medclip_nb
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    go = tmp / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _FILL, str(root), str(path), str(s), str(tmp / f"ready{s}"), str(go),
                               str(tmp / f"clip{s}.npy")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for s in seeds]
    try:
        t0 = time.time()
        while not all((tmp / f"ready{s}").exists() for s in seeds):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.time() - t0 < timeout, "filler processes did not start"
            time.sleep(0.01)
        go.touch()                                             # both start reading at the same moment
        outs = [p.communicate(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None: p.kill()
    for p, (so, se) in zip(procs, outs): assert p.returncode == 0, se
    return [(np.load(tmp / f"clip{s}.npy"), *json.loads(so.strip().splitlines()[-1])) for s, (so, _) in zip(seeds, outs)]


def test_cache_two_processes_at_once(good, tmp_path):
    root = tmp_path / "cache"
    res = _fill_at_once(root, good["mp4"], [1, 2], tmp_path)
    ref = read_clip(good["mp4"], 8, size=32)
    for clip, hits, misses in res:
        np.testing.assert_array_equal(clip, ref)
        assert hits + misses == 4 and hits >= 2
    assert sorted(p.suffix for p in root.glob("*/*")) == [".json"] * 3 + [".npy"] * 2   # info, clip, whole video
    assert not [p for p in root.rglob(".*")]                                              # no temp files left


def test_cache_damaged_entry_is_rewritten(good, tmp_path):
    c = ClipCache(tmp_path)
    a = read_clip(good["mp4"], 8, size=32, cache=c)
    (npy,) = tmp_path.glob("*/*.npy")
    npy.write_bytes(npy.read_bytes()[:100])                                   # e.g. a full disk
    b = read_clip(good["mp4"], 8, size=32, cache=c)
    np.testing.assert_array_equal(a, b); assert c.misses == 2
    np.testing.assert_array_equal(np.load(npy)[0], a)                        # stored again, complete
    c2 = ClipCache(tmp_path); read_clip(good["mp4"], 8, size=32, cache=c2); assert c2.hits == 1
