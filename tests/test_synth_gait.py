"""`medclip synth gait`: the command end to end, reproducibility across processes, and image facts of the frames.

Everything is rendered tiny (a few clips of 8-16 frames at 48-64 px) so the file runs in seconds on two cores.
"""
import json, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclip_nb.gait import SCOLIOSIS_CLASSES
from medclip_nb.synth.gait import (GAIT_CLASSES, CAMERA_VIEWS, LABEL_COLUMNS, make_subject, render_clip,
                                   render_gait_dataset)

BIN = Path(sys.executable).parent
TINY = ["--subjects", "3", "--clips-per-subject", "2", "--frames", "12", "--size", "64", "--no-progress"]


def _decode_all(path):
    import decord
    vr = decord.VideoReader(str(path))
    return vr.get_batch(list(range(len(vr)))).asnumpy()


def test_cli_end_to_end(tmp_path):
    "The installed `medclip` entry point writes the contract's tree; a second run into the same folder fails cleanly."
    out = tmp_path / "gait"
    r = subprocess.run([str(BIN / "medclip"), "synth", "gait", "--out", str(out), *TINY], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == str(out.resolve())
    df = pd.read_csv(out / "labels.csv")
    assert list(df.columns) == LABEL_COLUMNS and len(df) == 6
    for col in ("video", "attention_map", "attention_spatial", "joints", "phases", "knowledge_map"):
        assert all((out / p).is_file() for p in df[col]), col
    assert all(p.startswith(f"videos/{s}/{c}") for p, s, c in zip(df.video, df.subject_id, df.clip_id))
    assert json.loads((out / "classes.json").read_text()) == {"classes": GAIT_CLASSES, "task": "classification", "label_column": "label"}
    assert _decode_all(out / df.video[0]).shape == (12, 64, 64, 3)
    r = subprocess.run([str(BIN / "medclip"), "synth", "gait", "--out", str(out), *TINY], capture_output=True, text=True)
    assert r.returncode == 2 and "already holds a synthetic dataset" in r.stderr and "Traceback" not in r.stderr


def test_same_seed_same_dataset_across_processes(tmp_path):
    """Two separate processes (1 and 2 workers) give byte-identical tables and arrays and identical decoded frames.

    Separate processes matter: x264's macroblock-tree rate control gave different bits from run to run here."""
    for name, workers in (("a", "1"), ("b", "2")):
        r = subprocess.run([str(BIN / "medclip"), "synth", "gait", "--out", str(tmp_path / name), "--view", "mixed",
                            "--workers", workers, *TINY], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    a, b = tmp_path / "a", tmp_path / "b"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for f in files:
        if f.suffix == ".mp4": assert np.array_equal(_decode_all(a / f), _decode_all(b / f)), f
        else: assert (a / f).read_bytes() == (b / f).read_bytes(), f
    c = render_gait_dataset(tmp_path / "c", subjects=3, clips_per_subject=2, frames=12, size=64, seed=1, view="mixed", progress=False)
    assert not pd.read_csv(c / "labels.csv").text.equals(pd.read_csv(a / "labels.csv").text)   # another seed, another dataset


@pytest.mark.parametrize("view", CAMERA_VIEWS)
def test_body_inside_frame_every_class(view):
    "Image facts: for every class the body is in every frame, never touches the border, and the joints lie inside."
    for i, label in enumerate(GAIT_CLASSES + SCOLIOSIS_CLASSES):
        r = render_clip(make_subject(i, label, seed=5), 0, frames=8, size=48, view=view, seed=5)
        m = r["mask"]
        assert m.sum((1, 2)).min() > 0.03 * 48 * 48, (label, view)                  # a body of some size in every frame
        border = m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any()
        assert not border, (label, view)
        xy = r["joints"][..., :2]
        assert (xy > 0).all() and (xy < 48).all(), (label, view)
        ys, xs = np.nonzero(m.any(0))
        assert ys.max() - ys.min() > 0.45 * 48, (label, view)                        # the body fills the frame height


def test_frames_show_the_body_against_the_room():
    "Pixels under the body differ from the room around it (the walker is visible, not a faint ghost)."
    r = render_clip(make_subject(0, "normal", seed=2), 0, frames=8, size=64, view="side", seed=2)
    f, m = r["frames"].astype(float), r["mask"]
    ring = np.zeros_like(m)
    for t in range(len(m)):                                                         # background just around the body
        ys, xs = np.nonzero(m[t]); ring[t, max(ys.min() - 4, 0):ys.max() + 5, max(xs.min() - 4, 0):xs.max() + 5] = True
    ring &= ~m
    contrast = np.abs(f[m].mean(0) - f[ring].mean(0)).max()
    assert contrast > 8 or abs(f[m].std() - f[ring].std()) > 8, contrast


def test_priors_key_chooses_the_maps(tmp_path):
    """`--priors exact` (config `data.synth.priors`) writes the generator's own maps as the priors; the default `pose`
    writes maps made as `medclip pose` makes them, with the exact ones kept beside them."""
    from medclip_nb.core import ConfigError, load_config
    small = ["--subjects", "2", "--clips-per-subject", "1", "--frames", "8", "--size", "32", "--no-progress"]
    for priors in ("exact", "pose"):
        out = tmp_path / priors
        r = subprocess.run([str(BIN / "medclip"), "synth", "gait", "--out", str(out), "--priors", priors, *small], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        gt, df = json.loads((out / "ground_truth.json").read_text()), pd.read_csv(out / "labels.csv")
        assert gt["priors"]["source"] == gt["arguments"]["priors"] == priors
        assert (df.attention_map == df.attention_map_exact).all() == (priors == "exact")
        assert (out / "knowledge_maps_exact").is_dir() == (priors == "pose")
        assert all((out / p).is_file() for c in ("attention_map_exact", "knowledge_map_exact") for p in df[c])
    r = subprocess.run([str(BIN / "medclip"), "synth", "gait", "--out", str(tmp_path / "x"), "--priors", "guess", *small], capture_output=True, text=True)
    assert r.returncode == 2 and "invalid choice: 'guess'" in r.stderr
    assert load_config("clinicalclip_gait").data.synth.priors == "pose"
    assert load_config("clinicalclip_gait", ["data.synth.priors=exact"]).data.synth.priors == "exact"
    with pytest.raises(ConfigError, match="exact"): load_config("clinicalclip_gait", ["data.synth.priors=guess"])
