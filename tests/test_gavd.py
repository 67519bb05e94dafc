"""GAVD-style annotations over downloaded videos (`datasets.GAVDDataset`, layout "gavd"): reading, cropping, bad input.

GAVD (Ranjan et al., IEEE Access 2025; github.com/Rahmyyy/GAVD, MIT) publishes one row per annotated frame: seq,
frame_num, cam_view, gait_event, dataset, gait_pat, bbox ({'top', 'left', 'height', 'width'}), vid_info, id, url.
The tests write that table over a synthetic long video, and one over the shared real clip
`gait/sports2d_demo.mp4` (BSD-3-Clause, davidpagnon/Sports2D) linked in as a "downloaded" video.
"""
import os, shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclip_nb.core import DataError
from medclip_nb.video import write_video, from_tensor
from medclip_nb import datasets as D

W, H, T = 128, 96, 60


def long_video(path:Path):
    x = np.full((T, H, W, 3), 40, np.uint8)
    for t in range(T): x[t, 20:80, 10 + t:30 + t] = (220, 200, 60 + 2 * t)
    write_video(path, x, fps=30)

def frame_rows(seq, label, frames, vid="yt_abc", box=lambda f: {"top": 18.0, "left": float(8 + f), "height": 64.0, "width": 24.0}):
    return [dict(seq=seq, frame_num=f, cam_view="right side", gait_event="", dataset="Abnormal", gait_pat=label,
                 bbox=str(box(f)), vid_info="{'height': 96, 'width': 128, 'mime_type': 'video/mp4'}", id=vid,
                 url=f"https://www.youtube.com/watch?v={vid}") for f in frames]

@pytest.fixture
def gavd(tmp_path):
    d = tmp_path / "gavd"; (d / "videos").mkdir(parents=True)
    long_video(d / "videos" / "yt_abc.mp4"); long_video(d / "videos" / "yt_def.mkv")
    rows = frame_rows("s1", "parkinsons", range(0, 20)) + frame_rows("s2", "normal", range(30, 50)) + \
           frame_rows("s3", "normal", range(5, 25), vid="yt_def")
    pd.DataFrame(rows).to_csv(d / "GAVD_Clinical_Annotations_1.csv", index=False)
    return d

def write_table(d, rows, name="GAVD_Clinical_Annotations_1.csv"): pd.DataFrame(rows).to_csv(d / name, index=False)

def report(d, **kw): return D.validate(d, frames=4, size=32, progress=False, index=False, **kw)

def assert_reported(rep, *fragments):
    msgs = [str(e) for e in rep.problems]
    for f in fragments: assert any(f in m for m in msgs), f"{f!r} not in:\n" + "\n".join(msgs)


def test_reads_gavd_table_and_crops_clips(gavd):
    assert D.detect_layout(gavd) == "gavd"
    ds = D.open_dataset(gavd, frames=4, size=32)
    assert type(ds).__name__ == "GAVDDataset" and ds.classes == ["normal", "parkinsons"]
    r = ds.records
    assert list(r.clip_id) == ["s1", "s2", "s3"] and list(r.subject_id) == ["yt_abc", "yt_abc", "yt_def"]
    assert r.video_path.iloc[2].endswith("videos/yt_def.mkv") and r[["start_frame", "end_frame"]].values.tolist() == [[0, 19], [30, 49], [5, 24]]
    assert tuple(r.box.iloc[0]) == (8.0, 18.0, 51.0, 82.0)               # the union of the per-frame boxes
    s = ds[1]
    assert tuple(s.inputs["video"].shape) == (3, 4, 32, 32) and s.label == 0 and s.meta["frame_indices"] == [32, 37, 42, 47]
    assert s.meta["box"] == [38.0, 18.0, 81.0, 82.0] and s.meta["video_ref"] == "yt_abc"
    clip = from_tensor(s.inputs["video"])
    x = [int(np.argmax(f[16, :, 0] > 128)) for f in clip]
    assert x == sorted(x) and x[0] < x[-1]                                 # the person walks across the fixed crop
    rep = report(gavd)
    assert rep.ok and rep.n_items == 3 and rep.n_subjects == 2, str(rep)

def test_clip_rows_and_frame_base(gavd):
    os.remove(gavd / "GAVD_Clinical_Annotations_1.csv")
    write_table(gavd, [dict(clip_id="walk1", video="videos/yt_abc.mp4", start_frame=1, end_frame=20,
                            bbox="[8, 18, 43, 64]", label="normal"),
                       dict(clip_id="walk2", video="videos/yt_def.mkv", start_frame=31, end_frame=60,
                            bbox="{'x': 30, 'y': 10, 'w': 40, 'h': 70}", label="antalgic")], "clips.csv")
    ds = D.GAVDDataset(gavd, frames=4, size=32, frame_base=1)
    assert ds.records[["start_frame", "end_frame"]].values.tolist() == [[0, 19], [30, 59]]
    assert ds[0].meta["start_frame"] == 1 and report(gavd, frame_base=1).ok
    assert "row 3, field 'end_frame': frame 60 of 'walk2' is past the end of videos/yt_def.mkv (60 frames) (expected frame " \
           "numbers 0..59)" in str(report(gavd).problems[0])                  # counted from 0, frame 60 is the 61st

def test_bad_table_rows_are_reported_by_row(gavd):
    rows = frame_rows("s1", "parkinsons", range(0, 6))
    rows[1]["bbox"] = "{'top': 1}"                                         # row 3: unreadable box
    rows[2]["frame_num"] = "4.5"                                           # row 4: not a frame number
    rows[3]["gait_pat"] = "normal"                                         # row 5: a second label for s1
    rows[4]["id"] = "yt_def"                                               # row 6: a second video for s1
    rows[5]["bbox"] = str({"top": 10.0, "left": 10.0, "height": 0.0, "width": 5.0})   # row 7: empty box
    write_table(gavd, rows + frame_rows("s2", "", range(0, 4)))           # rows 8-11: no label
    rep = report(gavd)
    assert_reported(rep, "row 3, field 'bbox': cannot read the box", "row 4, field 'frame_num': '4.5' is not a frame number",
                    "row 5, field 'gait_pat': label 'normal' but earlier rows of 's1' say 'parkinsons'",
                    "row 6, field 'id': 'yt_def' but earlier rows of 's1' name 'yt_abc'",
                    "row 7, field 'bbox': cannot read the box", "row 8, field 'gait_pat': missing label")
    with pytest.raises(DataError, match="row 3, field 'bbox'"): D.GAVDDataset(gavd, frames=4, size=32)[0]

def test_missing_videos_frames_past_the_end_and_boxes_outside(gavd):
    write_table(gavd, frame_rows("s1", "normal", range(0, 10), vid="not_downloaded")
                + frame_rows("s2", "normal", range(50, 70))                                  # video has 60 frames
                + frame_rows("s3", "normal", range(0, 10), box=lambda f: {"top": 50.0, "left": 100.0, "height": 80.0, "width": 40.0})
                + frame_rows("s4", "normal", range(0, 2)))                                   # 2 frames for a 4-frame clip
    rep = report(gavd)
    assert_reported(rep, "row 2, field 'id': videos/not_downloaded.mp4: video file not found",
                    "row 31, field 'frame_num': frame 69 of 's2' is past the end of videos/yt_abc.mp4 (60 frames)",
                    "row 32, field 'bbox': box of 's3' (x 100..140, y 50..130) is not inside the 128×96 video",
                    "row 42, field 'frame_num': 's4' spans frames 0..1: video has 2 frames, too short")
    assert len(rep.problems) == 4
    ds = D.GAVDDataset(gavd, frames=4, size=32)
    with pytest.raises(DataError, match="past the end"): ds[1]
    with pytest.raises(DataError, match="not inside the 128×96 video"): ds[2]

def test_no_annotations_and_no_video_column(tmp_path):
    with pytest.raises(DataError, match="no annotation CSV"): D.GAVDDataset(tmp_path)
    write_table(tmp_path, [dict(seq="s1", frame_num=0, bbox="[0, 0, 4, 4]", gait_pat="normal")])
    with pytest.raises(DataError, match="no column names the video"): D.GAVDDataset(tmp_path)

def test_real_video_from_the_shared_media(tmp_path, media):
    "A GAVD table over a real downloaded video (VP9, 1768×994): the walking woman's box, frames 60-180."
    d = tmp_path / "gavd"; (d / "videos").mkdir(parents=True)
    os.symlink(media / "gait" / "sports2d_demo.mp4", d / "videos" / "sports2d.mp4")
    write_table(d, frame_rows("walk", "normal", range(60, 181, 4), vid="sports2d",
                              box=lambda f: {"top": 380.0, "left": 1500.0 - 6 * f, "height": 480.0, "width": 220.0}))
    rep = report(d)
    assert rep.ok, str(rep)
    s = D.GAVDDataset(d, frames=4, size=64)[0]
    assert tuple(s.inputs["video"].shape) == (3, 4, 64, 64) and s.meta["frame_indices"][0] >= 60
