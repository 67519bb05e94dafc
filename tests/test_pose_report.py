"""`medclip pose --report`: the self-contained HTML gait report per clip (issue 29 item 5).

Real media (../shared/media, read in place, never copied): gait/mobile_gaitlab_input.mp4 and its OpenPose BODY_25
keypoints (Apache-2.0, stanfordnmbl/mobile-gaitlab). The OpenPose keypoints stand in for mediapipe here (fast); the
report is the same whichever pose source made the track. The browser check opens the written file in Debian's Chromium
(tests/browser_fixtures.py) and fails on any console error or any request that leaves the file.
"""
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclip_nb.pose import (CYCLE_POINTS, PoseTrack, analyse_track, cycle_curves, gait_report_html, key_frame_indices,
                             normative_band, pose_main, write_gait_report)
from medclip_nb.synth.gait import side_view_walk

EXTERNAL = re.compile(r'(?:src|href)\s*=\s*"(?!data:|#)[^"]*"|url\((?!#|data:)[^)]*\)|<link\b|<script\b[^>]*\bsrc=')


def _walk(hide_far_leg=False, **clip):
    joints, truth = side_view_walk(frames=100, **clip)
    feet = truth["feet"].copy()
    if hide_far_leg: joints = joints.copy(); joints[:, [13, 15], 2] = 0; feet[:, :2, 2] = 0
    return analyse_track(PoseTrack(joints, feet, None, 25.0, (240, 320), "joints"))


def test_report_is_self_contained_and_holds_every_part(tmp_path):
    a = _walk(cadence=110.0)
    doc = write_gait_report(a, tmp_path / "r.html", title="walk").read_text()
    assert EXTERNAL.findall(doc) == []                                   # nothing fetched from outside the file
    assert doc.count("data:image/jpeg;base64,") == 5                     # key frames of one stride
    assert doc.count("<svg") >= 2                                        # cycle curves and the event timeline
    for part in ("Joint angles over the gait cycle", "Gait events", "Parameters", "Description", "Winter 1991"):
        assert part in doc, part
    for p in a.summary.parameter: assert f"<td>{p}</td>" in doc, p      # the clinician's table, row by row


def test_cycle_curves_follow_the_normative_band_and_only_the_seen_side_is_drawn():
    a = _walk(cadence=110.0)
    for joint in ("hip", "knee"):
        c = cycle_curves(a.kinematics, a.events, f"{joint}_flex_r", "r", 25.0)
        assert c.shape[1] == CYCLE_POINTS and len(c) >= 2
        assert np.corrcoef(c.mean(0), normative_band(joint)[1])[0, 1] > 0.8, joint
    hidden = _walk(hide_far_leg=True, cadence=110.0)
    assert len(cycle_curves(hidden.kinematics, hidden.events, "knee_flex_l", "l", 25.0)) == 0    # the hidden leg: no curve
    assert len(cycle_curves(hidden.kinematics, hidden.events, "knee_flex_r", "r", 25.0)) >= 2
    assert "right (" in gait_report_html(hidden) and "left (" not in gait_report_html(hidden)


def test_report_of_a_clip_without_a_gait_cycle():
    joints, truth = side_view_walk(frames=60, cadence=110.0)
    still = np.repeat(joints[:1], 60, 0)                                  # a person standing still
    a = analyse_track(PoseTrack(still, np.repeat(truth["feet"][:1], 60, 0), None, 25.0, (240, 320), "joints"))
    assert not a.gait_cycle_found
    assert all(l.startswith("frame ") for _, l in key_frame_indices(a))
    doc = gait_report_html(a)
    assert "gait cycle not found" in doc and EXTERNAL.findall(doc) == []


def test_cli_report_on_the_gaitlab_clip_opens_in_chromium(media, tmp_path):
    "`medclip pose --report` on the real clip (OpenPose keypoints): report.html listed in pose_index.csv, opens cleanly."
    video = media / "gait" / "mobile_gaitlab_input.mp4"
    op = media / "gait" / "mobile_gaitlab_input_openpose_body25.json"
    assert pose_main([str(video), "--openpose", str(op), "--out", str(tmp_path), "--subject", "C1", "--no-overlay", "--report"]) == 0
    idx = pd.read_csv(tmp_path / "pose_index.csv")
    report = tmp_path / idx.at[0, "report"]
    assert report == tmp_path / "pose" / "C1" / video.stem / "report.html" and report.exists()
    doc = report.read_text()
    assert EXTERNAL.findall(doc) == [] and doc.count("data:image/jpeg;base64,") >= 4
    pytest.importorskip("playwright")
    from browser_fixtures import CHROMIUM, launch_chromium
    if not Path(CHROMIUM).exists(): pytest.skip(f"{CHROMIUM} is missing (make browser)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        br = launch_chromium(pw)
        page = br.new_page(viewport={"width": 1200, "height": 900})
        errors, outside = [], []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: r.url.startswith(("data:", "file:")) or outside.append(r.url))
        page.goto(report.as_uri()); page.wait_for_load_state("load")
        n_img = page.locator("img").count()
        loaded = page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        n_svg = page.locator("svg").count()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        br.close()
    assert errors == [] and outside == [], (errors, outside)
    assert n_img >= 4 and loaded and n_svg >= 2
