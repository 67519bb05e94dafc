"""Long recordings (issue 29 item 6): walking bouts kept, the overlay encoded frame by frame, bouts.json for
`medclip predict --bouts`. The peak-memory measurement on 1- and 3-minute videos is `benchmarks/bench_long_video.py`.

Real media (../shared/media, read in place): gait/mobile_gaitlab_input.mp4 and its OpenPose BODY_25 keypoints
(Apache-2.0, stanfordnmbl/mobile-gaitlab).
"""
import json

import numpy as np
import pandas as pd

from medclip_nb.pose import PoseTrack, pose_main, walking_bouts
from medclip_nb.synth.gait import side_view_walk
from medclip_nb.video import probe_video


def test_bouts_of_a_stitched_walk_with_the_far_leg_hidden():
    "stand 3 s, walk 5 s, nobody 3 s, walk 5 s, stand 3 s: two bouts, at the walks (±0.5 s), far leg hidden throughout."
    fps = 25.0
    jw, tr = side_view_walk("koa_mild", frames=125, fps=fps)
    jw = jw.copy(); jw[:, [13, 15], 2] = 0
    stand, gone = np.repeat(jw[:1], 75, 0), np.zeros((75, 17, 3), np.float32)
    seq = np.concatenate([stand, jw, gone, jw, np.repeat(jw[-1:], 75, 0)])
    bouts = walking_bouts(PoseTrack(seq, None, None, fps, (240, 320), "joints"))
    assert len(bouts) == 2, bouts
    for (a, b), (ta, tb) in zip(bouts, [(75, 200), (275, 400)]):
        assert abs(a - ta) <= 13 and abs(b - tb) <= 13, bouts


def test_cli_writes_bouts_and_a_streamed_overlay_on_the_gaitlab_clip(media, tmp_path):
    video = media / "gait" / "mobile_gaitlab_input.mp4"
    op = media / "gait" / "mobile_gaitlab_input_openpose_body25.json"
    assert pose_main([str(video), "--openpose", str(op), "--out", str(tmp_path), "--subject", "C1", "--overlay-side", "240"]) == 0
    clip = tmp_path / "pose" / "C1" / video.stem
    b = json.loads((clip / "bouts.json").read_text())
    assert b["frames"] == 344 and len(b["bouts"]) >= 1
    walked = sum(e - s for s, e in b["bouts"])
    assert walked >= 0.6 * b["frames"], b                              # the child walks for most of the clip
    assert pd.read_csv(tmp_path / "pose_index.csv").at[0, "walking_bouts"] == len(b["bouts"])
    ov = probe_video(clip / "overlay.mp4")
    assert ov.frames == 344 and max(ov.size) == 240
