"""Dataset readers, bad-input reporting, corrupt videos through DataLoader workers, `medclip validate` end to end.

Every dataset here is written by the test itself in a temp dir, in the exact contract layouts, with tiny videos
(≤ 12 frames, 32²) so the whole file runs in seconds.
"""
import json, math, pickle, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medclip_nb.core import DataError, VideoDecodeError
from medclip_nb.video import write_video
from medclip_nb import datasets as D

BIN = Path(sys.executable).parent
T, S = 10, 32


# ---------------------------------------------------------------------------------------------------------------- data
def frames(T=T, S=S, seed=0):
    "Moving bar; blue channel = 20·t + 10 so a decoded frame tells its index (never all black)."
    x = np.zeros((T, S, S, 3), np.uint8)
    for t in range(T):
        x[t, ..., 2] = 20 * t + 10
        c = (2 * t + 3 * seed) % (S - 4)
        x[t, 8:24, c:c + 4, 0] = 255
    return x

def write_tree(d: Path, subjects=("S001", "S002", "S003", "S004"), clips=2, splits=("train", "train", "val", "test")):
    "ClinicalCLIP tree in the labels.csv contract."
    rows = []
    for si, s in enumerate(subjects):
        for c in range(clips):
            cid = f"{s}_c{c}"
            write_video(d / f"videos/{s}/{cid}.mp4", frames(seed=si * 2 + c))
            for sub, arr in [("attention_maps", np.tile((np.arange(T, dtype=np.float32) / T)[:, None], (1, 17))),
                             ("attention_spatial", np.ones((T, S // 4, S // 4), np.float16)),
                             ("joints", np.concatenate([np.full((T, 17, 2), 16, np.float32), np.ones((T, 17, 1), np.float32)], -1)),
                             ("phases", np.stack([np.arange(T) % 8, np.arange(T) % 2, 1 - np.arange(T) % 2], 1).astype(np.int8)),
                             ("knowledge_maps", np.ones((T, 6), np.float32))]:
                (d / sub / s).mkdir(parents=True, exist_ok=True)
                np.save(d / sub / s / f"{cid}.npy", arr)
            rows.append(dict(clip_id=cid, subject_id=s, video=f"videos/{s}/{cid}.mp4", label=["normal", "koa_mild"][si % 2],
                             attention_map=f"attention_maps/{s}/{cid}.npy", attention_spatial=f"attention_spatial/{s}/{cid}.npy",
                             joints=f"joints/{s}/{cid}.npy", phases=f"phases/{s}/{cid}.npy",
                             knowledge_map=f"knowledge_maps/{s}/{cid}.npy",
                             text=("" if (si, c) == (0, 1) else f"walk {c} of {s}"),
                             severity="mild", cobb_angle=4.0 * si, split=splits[si]))
    pd.DataFrame(rows).to_csv(d / "labels.csv", index=False)
    (d / "classes.json").write_text(json.dumps({"classes": ["normal", "koa_mild"], "task": "classification", "label_column": "label"}))
    return d

def write_echo(d: Path, n=4, S=32, T=12):
    rows, tr = [], []
    yy, xx = np.mgrid[:S, :S]
    for k in range(n):
        name = f"0X{k:03d}"
        rad = 6 + 3 * np.cos(2 * np.pi * np.arange(T) / 8)
        fr = np.stack([np.repeat(((((yy - S / 2) ** 2 + (xx - S / 2) ** 2) < r * r) * 200 + 30)[..., None], 3, -1)
                       for r in rad]).astype(np.uint8)
        write_video(d / "Videos" / f"{name}.avi", fr, fps=50)
        rows.append(dict(FileName=name, EF=50.0 + k, ESV=30.0, EDV=60.0, FrameHeight=S, FrameWidth=S, FPS=50,
                         NumberOfFrames=T, Split=["TRAIN", "TRAIN", "VAL", "TEST"][k]))
        for f, r in [(4, 3.0), (0, 9.0)]:
            tr.append(dict(FileName=name + ".avi", X1=S / 2, Y1=S / 2 - r, X2=S / 2, Y2=S / 2 + r, Frame=f))
            for y in np.linspace(S / 2 - .9 * r, S / 2 + .9 * r, 5):
                h = math.sqrt(max(r * r - (y - S / 2) ** 2, 0))
                tr.append(dict(FileName=name + ".avi", X1=S / 2 - h, Y1=y, X2=S / 2 + h, Y2=y, Frame=f))
    pd.DataFrame(rows).to_csv(d / "FileList.csv", index=False)
    pd.DataFrame(tr).to_csv(d / "VolumeTracings.csv", index=False)
    return d

def write_us(d: Path, n=4, H=60, W=80):
    from PIL import Image
    (d / "images").mkdir(parents=True, exist_ok=True)
    recs = {"train": [], "val": [], "test": []}
    for k in range(n):
        img = np.full((H, W, 3), 50, np.uint8); img[10:30, 20:60] = 230
        Image.fromarray(img).save(d / "images" / f"u{k}.png")
        recs[["train", "train", "val", "test"][k]].append(dict(
            image_path=f"images/u{k}.png", description=f"view {k}", class_label=["standard", "non-standard"][k % 2],
            coordinates=[{"label": "CB", "bbox": [20, 10, 60, 30], "confidence": 0.75},
                         {"label": "CP1", "bbox": [0, 0, 8, 8], "confidence": 0.5}], subject_id=f"P{k}"))
    for s, r in recs.items(): (d / f"{s}.json").write_text(json.dumps(r))
    (d / "anatomy.json").write_text(json.dumps({"codes": D.DEFAULT_ANATOMY_CODES}))
    return d

def write_scoli(d: Path, n_subj=4):
    rows = []
    for si in range(n_subj):
        for c in range(2):
            v = f"videos/P{si}_{c}.mp4"; write_video(d / v, frames(seed=si + c))
            km = f"knowledge_maps/P{si}_{c}.npy"; (d / "knowledge_maps").mkdir(exist_ok=True)
            np.save(d / km, np.full((T, 4), si, np.float32))
            rows.append(dict(video=v, text=f"trunk lean {si}", knowledge_map=km, cobb_angle=[5.0, 15.0, 30.0, 50.0][si],
                             subject=f"P{si}"))
    pd.DataFrame(rows).to_csv(d / "scoligait.csv", index=False)
    return d

@pytest.fixture(scope="module")
def tree(tmp_path_factory): return write_tree(tmp_path_factory.mktemp("tree"))

@pytest.fixture(scope="module")
def echo(tmp_path_factory): return write_echo(tmp_path_factory.mktemp("echo"))

@pytest.fixture(scope="module")
def us(tmp_path_factory): return write_us(tmp_path_factory.mktemp("us"))

@pytest.fixture(scope="module")
def scoli(tmp_path_factory): return write_scoli(tmp_path_factory.mktemp("scoli"))

@pytest.fixture
def tree_copy(tree, tmp_path):
    "A private copy of the gait tree to break."
    d = tmp_path / "tree"; shutil.copytree(tree, d); return d

def edit_labels(d, fn):
    df = pd.read_csv(d / "labels.csv", keep_default_na=False); fn(df); df.to_csv(d / "labels.csv", index=False)

def problems(d, **kw):
    rep = D.validate(d, progress=False, **kw)
    return rep, [str(e) for e in rep.problems]

def assert_reported(msgs, *fragments):
    for f in fragments:
        assert any(f in m for m in msgs), f"{f!r} not in:\n" + "\n".join(msgs)


# ------------------------------------------------------------------------------------------------------------ readers
def test_clinicalclip_reads_every_modality(tree):
    ds = D.open_dataset(tree, frames=4, size=16)
    assert type(ds) is D.ClinicalCLIPDataset and len(ds) == 8 and ds.classes == ["normal", "koa_mild"]
    assert ds.modalities == ["video", "attention", "joints", "phases", "kinematics", "text"]
    assert {"clip_id", "subject_id", "label", "label_name", "target", "split", "video_path", "attention_path", "severity"} <= set(ds.records)
    s = ds[0]
    assert (s.clip_id, s.subject_id, s.label, s.target) == ("S001_c0", "S001", 0, 0.0)
    assert tuple(s.inputs["video"].shape) == (3, 4, 16, 16) and s.inputs["video"].dtype == torch.float32
    idx = s.meta["frame_indices"]; assert idx == [1, 3, 6, 8]
    assert torch.allclose(s.inputs["attention"][:, 0], torch.tensor(idx, dtype=torch.float32) / T)   # rows of the sampled frames
    assert torch.allclose(s.inputs["joints"][0, 0], torch.tensor([7.75, 7.75, 1.0]))               # 32 px → 16 px frame
    assert s.inputs["phases"].tolist() == [i % 8 for i in idx] and tuple(s.inputs["kinematics"].shape) == (4, 6)
    assert "text" not in ds[1].inputs                                                                # empty cell → absent
    sp = D.ClinicalCLIPDataset(tree, ["attention"], frames=4, size=64, attention="attention_spatial")
    assert tuple(sp[0].inputs["attention"].shape) == (4, 16, 16)
    assert D.ClinicalCLIPDataset(tree, frames=4, size=16, split="val").records.subject_id.unique().tolist() == ["S003"]

def test_collate_masks_missing_modality(tree):
    ds = D.ClinicalCLIPDataset(tree, ["video", "text"], frames=4, size=16)
    b = D.make_loader(ds, batch_size=2, shuffle=False).__iter__().__next__()
    assert b.present["text"].tolist() == [True, False] and b.inputs["text"][1] is None

def test_echonet_reads_targets_and_tracings(echo):
    ds = D.open_dataset(echo, frames=4, size=16, masks=True)
    assert type(ds) is D.EchoNetDataset and ds.task == "regression" and len(ds) == 4
    s = ds[1]
    assert s.target == 51.0 and s.meta["EF"] == 51.0 and (s.meta["ed_frame"], s.meta["es_frame"]) == (0, 4)
    assert s.meta["lv_mask_ed"].shape == (16, 16) and s.meta["lv_mask_ed"].sum() > 4 * s.meta["lv_mask_es"].sum()
    assert D.EchoNetDataset(echo, frames=4, size=16, target="EDV")[0].target == 60.0
    assert D.EchoNetDataset(echo, frames=4, size=16, split="val").records.clip_id.tolist() == ["0X002"]

def test_echonet_traced_ef_by_discs(echo):
    "EDV, ESV and EF from VolumeTracings.csv by the method of discs, beside FileList's values, never the target."
    def discs(r):                                      # the fixture's chords: 5 across a circle of radius r, long axis 2r
        y = np.linspace(-.9 * r, .9 * r, 5)
        return np.pi / 4 * np.sum(4 * (r * r - y * y)) * 2 * r / 5
    ds = D.open_dataset(echo, frames=4, size=16)
    rec = ds.records
    assert list(rec.columns[-3:]) == D.TRACED_COLUMNS == ["EF_traced", "EDV_traced", "ESV_traced"]
    np.testing.assert_allclose(rec.EDV_traced, discs(9.0), rtol=1e-5)
    np.testing.assert_allclose(rec.ESV_traced, discs(3.0), rtol=1e-5)
    np.testing.assert_allclose(rec.EF_traced, 100 * (1 - 1 / 27), atol=1e-4)       # volumes scale as r³
    assert list(rec.EF) == [50.0, 51.0, 52.0, 53.0] and ds[1].target == 51.0         # FileList's EF stays the target
    assert "EF_traced" not in ds[1].meta
    off = D.EchoNetDataset(echo, frames=4, size=16, tracings=False).records
    assert off[D.TRACED_COLUMNS].isna().all().all()
    assert D.EchoNetDataset(echo, frames=4, size=16, tracings=False).ef_disagreements() == []

def test_traced_ef_with_a_missing_or_broken_tracing(echo, tmp_path):
    "A clip whose tracing is dropped or unusable gets NaN traced values (the tracing problem is reported as before)."
    d = tmp_path / "echo"; shutil.copytree(echo, d)
    tr = pd.read_csv(d / "VolumeTracings.csv")
    tr = tr[tr.FileName != "0X001.avi"]
    tr.loc[tr.index[(tr.FileName == "0X002.avi") & (tr.Frame == 4)][1:], "Frame"] = 7   # 0X002 now traced on 3 frames
    tr.to_csv(d / "VolumeTracings.csv", index=False)
    rec = D.read_echonet(d).records.set_index("clip_id")
    assert rec.loc[["0X001", "0X002"], "EF_traced"].isna().all() and rec.loc[["0X000", "0X003"], "EF_traced"].notna().all()
    rep, msgs = problems(d, frames=4, size=16)
    assert_reported(msgs, "field 'Frame': '0X002' is traced on 3 frame(s) [0, 4, 7]")
    assert not [w for w in map(str, rep.warnings) if "method of discs" in w and ("'0X001'" in w or "'0X002'" in w)]

def test_spatialclip_boxes_normalised_after_letterbox(us):
    ds = D.open_dataset(us, size=40)
    assert type(ds) is D.SpatialCLIPDataset and ds.classes == ["non-standard", "standard"]
    s = ds[0]
    assert tuple(s.inputs["image"].shape) == (3, 40, 40) and s.label == 1
    # 80×60 → 40×30 letterboxed into 40×40 (5 px pad on top): [20, 10, 60, 30] → (10, 10, 20, 10) px
    assert torch.allclose(s.inputs["boxes"][0], torch.tensor([10, 10, 20, 10]) / 40, atol=1e-5)
    assert s.inputs["box_labels"].tolist() == [0, 1] and torch.allclose(s.inputs["box_conf"], torch.tensor([0.75, 0.5]))
    assert ds.records.split.tolist() == ["train", "train", "val", "test"]

def test_scoligait_regression_and_cobb_classes(scoli):
    ds = D.open_dataset(scoli, frames=4, size=16)
    assert type(ds) is D.ScoliGaitDataset and ds.task == "regression"
    s = ds[2]
    assert (s.subject_id, s.target, s.inputs["text"]) == ("P1", 15.0, "trunk lean 1") and tuple(s.inputs["kinematics"].shape) == (4, 4)
    cl = D.ScoliGaitDataset(scoli, frames=4, size=16, task="classification")
    assert cl.classes == D.COBB_CLASSES and cl.records.label.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]

def test_filename_pattern_reader(tmp_path):
    for n in ("015_NM_02", "015_NM_03", "021_KOA_01"): write_video(tmp_path / f"{n}.MOV", frames())
    write_video(tmp_path / "notes" / "calibration.mp4", frames())
    ds = D.open_dataset(tmp_path, frames=4, size=16)
    assert type(ds) is D.FilenameDataset and ds.classes == ["KOA", "NM"]
    r = ds.records.set_index("clip_id")
    assert r.loc["015_NM_02", ["subject_id", "label_name", "clip"]].tolist() == ["015", "NM", "02"]
    assert ds[0].subject_id == "015"
    rep, msgs = problems(tmp_path, frames=4, size=16)          # the odd file is reported, never silently dropped
    assert_reported(msgs, "calibration.mp4, field 'file name': file name does not match the pattern")
    custom = D.FilenameDataset(tmp_path, pattern=r"notes/(?P<subject>[a-z]+)", frames=4, size=16)
    assert custom.records.subject_id.tolist().count("calibration") == 1

def test_detect_layout(tree, echo, us, scoli, tmp_path):
    assert [D.detect_layout(d) for d in (tree, echo, us, scoli)] == ["clinicalclip", "echonet", "spatialclip", "scoligait"]
    with pytest.raises(DataError, match="cannot tell the dataset layout"): D.detect_layout(tmp_path)

def test_unavailable_modality_is_an_error(echo):
    with pytest.raises(DataError, match="modality 'text' was asked for but this echonet dataset has none"):
        D.open_dataset(echo, modalities=["video", "text"])

def test_every_reader_validates_clean(tree, echo, us, scoli):
    for d in (tree, echo, us, scoli):
        rep = D.validate(d, frames=4, size=16, progress=False)
        assert rep.ok, str(rep)


# --------------------------------------------------------------------------------------- bad inputs: file, row, field
def test_missing_video(tree_copy):
    edit_labels(tree_copy, lambda df: df.__setitem__("video", df["video"].where(df.index != 2, "videos/S002/gone.mp4")))
    _, msgs = problems(tree_copy, frames=4, size=16)
    msg = "labels.csv, row 4, field 'video': videos/S002/gone.mp4: video file not found"
    assert_reported(msgs, msg)
    with pytest.raises(DataError, match="row 4, field 'video': videos/S002/gone.mp4: video file not found"):
        D.ClinicalCLIPDataset(tree_copy, frames=4, size=16)[2]

@pytest.mark.parametrize("kind", ["zero_bytes", "garbage", "png_renamed", "truncated_half", "truncated_tail"])
def test_unreadable_video(tree_copy, kind):
    v = tree_copy / "videos/S002/S002_c1.mp4"
    data = v.read_bytes()
    if kind == "zero_bytes": v.write_bytes(b"")
    elif kind == "garbage": v.write_bytes(bytes(range(256)) * 40)
    elif kind == "png_renamed":
        from PIL import Image
        Image.fromarray(frames()[0]).save(tree_copy / "x.png"); v.write_bytes((tree_copy / "x.png").read_bytes())
    elif kind == "truncated_half": v.write_bytes(data[: len(data) // 2])
    else: v.write_bytes(data[:-200])
    _, msgs = problems(tree_copy, frames=4, size=16)
    assert_reported(msgs, "labels.csv, row 5, field 'video': videos/S002/S002_c1.mp4: ")
    with pytest.raises(VideoDecodeError, match=r"row 5, field 'video': videos/S002/S002_c1.mp4"):
        D.ClinicalCLIPDataset(tree_copy, frames=4, size=16)[3]

def test_video_shorter_than_frames(tree_copy):
    _, msgs = problems(tree_copy, frames=16, size=16)
    assert_reported(msgs, "row 2, field 'video': videos/S001/S001_c0.mp4: video has 10 frames, too short for 16 frames")
    with pytest.raises(DataError, match="too short for 16 frames"): D.ClinicalCLIPDataset(tree_copy, frames=16, size=16)[0]

def test_attention_map_shape_mismatch(tree_copy):
    np.save(tree_copy / "attention_maps/S001/S001_c1.npy", np.zeros((7, 17), np.float32))
    np.save(tree_copy / "joints/S002/S002_c0.npy", np.zeros((T, 15, 3), np.float32))
    _, msgs = problems(tree_copy, frames=4, size=16)
    m1 = ("row 3, field 'attention_map': attention_maps/S001/S001_c1.npy has 7 frames (shape (7, 17)) but its video "
          "videos/S001/S001_c1.mp4 has 10")
    assert_reported(msgs, m1, "row 4, field 'joints': joints/S002/S002_c0.npy has shape (10, 15, 3)")
    with pytest.raises(DataError, match=r"has 7 frames \(shape \(7, 17\)\)"): D.ClinicalCLIPDataset(tree_copy, frames=4, size=16)[1]
    # the shape is checked against the video even when the clip is too short to use
    _, msgs = problems(tree_copy, frames=16, size=16)
    assert_reported(msgs, m1)

def test_unknown_label_against_classes_json_and_recipe_classes(tree_copy):
    edit_labels(tree_copy, lambda df: df.__setitem__("label", df["label"].where(df.index != 4, "KOA_x")))
    _, msgs = problems(tree_copy, frames=4, size=16)
    assert_reported(msgs, "labels.csv, row 6, field 'label': unknown label 'KOA_x' (expected one of ['normal', 'koa_mild']")
    with pytest.raises(DataError, match="row 6, field 'label': unknown label 'KOA_x'"): D.ClinicalCLIPDataset(tree_copy, frames=4, size=16)[4]
    (tree_copy / "classes.json").unlink()                       # then against the classes given (a recipe's, or --classes)
    _, msgs = problems(tree_copy, frames=4, size=16, classes=["normal", "koa_mild"])
    assert_reported(msgs, "row 6, field 'label': unknown label 'KOA_x'")

def test_nan_and_out_of_range_targets(echo, tmp_path):
    d = tmp_path / "echo"; shutil.copytree(echo, d)
    fl = pd.read_csv(d / "FileList.csv"); fl.loc[0, "EF"] = np.nan; fl.loc[1, "EF"] = 120.0; fl.loc[2, "ESV"] = -3
    fl.to_csv(d / "FileList.csv", index=False)
    _, msgs = problems(d, frames=4, size=16)
    assert_reported(msgs, "FileList.csv, row 2, field 'EF': missing value (NaN)",
                    "FileList.csv, row 3, field 'EF': value 120 is outside 0–100",
                    "FileList.csv, row 4, field 'ESV': negative value -3")
    ds = D.EchoNetDataset(d, frames=4, size=16)
    with pytest.raises(DataError, match="row 3, field 'EF': value 120 is outside 0–100"): ds[1]

def test_negative_cobb_angle(tree_copy, scoli, tmp_path):
    edit_labels(tree_copy, lambda df: df.__setitem__("cobb_angle", df["cobb_angle"].where(df.index != 0, -7.5)))
    _, msgs = problems(tree_copy, frames=4, size=16)
    assert_reported(msgs, "labels.csv, row 2, field 'cobb_angle': negative value -7.5")
    d = tmp_path / "scoli"; shutil.copytree(scoli, d)
    t = pd.read_csv(d / "scoligait.csv"); t.loc[3, "cobb_angle"] = -2; t.loc[4, "cobb_angle"] = np.nan; t.to_csv(d / "scoligait.csv", index=False)
    _, msgs = problems(d, frames=4, size=16)
    assert_reported(msgs, "scoligait.csv, row 5, field 'cobb_angle': negative value -2",
                    "scoligait.csv, row 6, field 'cobb_angle': missing value (NaN)")

def test_bad_boxes(us, tmp_path):
    d = tmp_path / "us"; shutil.copytree(us, d)
    recs = json.loads((d / "train.json").read_text())
    recs[0]["coordinates"][0]["bbox"] = [20, 10, 95, 30]           # x_max 95 > width 80
    recs[1]["coordinates"][1]["bbox"] = [30, 10, 30, 20]           # x_min == x_max
    recs[1]["coordinates"][0]["label"] = "XYZ"                     # unknown anatomy code
    (d / "train.json").write_text(json.dumps(recs))
    _, msgs = problems(d, size=40)
    assert_reported(msgs, "train.json, row 0, field 'coordinates[0].bbox': bbox [20.0, 10.0, 95.0, 30.0] goes outside the 80×60 image",
                    "train.json, row 1, field 'coordinates[1].bbox': bbox [30.0, 10.0, 30.0, 20.0] has x_min ≥ x_max",
                    "train.json, row 1, field 'coordinates[0].label': unknown anatomy code 'XYZ'")
    with pytest.raises(DataError, match="goes outside the 80×60 image"): D.SpatialCLIPDataset(d, size=40)[0]

def test_duplicate_clip_ids(tree_copy):
    edit_labels(tree_copy, lambda df: df.__setitem__("clip_id", df["clip_id"].where(df.index != 3, "S002_c0")))
    _, msgs = problems(tree_copy, frames=4, size=16)
    assert_reported(msgs, "labels.csv, row 5, field 'clip_id': duplicate clip id 'S002_c0' (first used in labels.csv row 4)")

def test_subject_in_two_splits(tree_copy):
    edit_labels(tree_copy, lambda df: df.__setitem__("split", df["split"].where(df.index != 7, "train")))
    _, msgs = problems(tree_copy, frames=4, size=16)
    assert_reported(msgs, "labels.csv, row 9, field 'split': subject 'S004' is in several splits: test (labels.csv row 8); train (labels.csv row 9)")
    with pytest.raises(DataError, match="subject 'S004' is in several splits"):
        D.ClinicalCLIPDataset(tree_copy, frames=4, size=16, split="train")

def test_missing_required_column(tree_copy):
    edit_labels(tree_copy, lambda df: df.drop(columns=["subject_id"], inplace=True))
    rep, msgs = problems(tree_copy)
    assert not rep.ok and msgs == [f"{tree_copy / 'labels.csv'}, field 'subject_id': missing required column(s) ['subject_id']; "
                                   f"found {list(pd.read_csv(tree_copy / 'labels.csv').columns)} "
                                   "(expected columns ['subject_id', 'video', 'label'])"]

def test_validate_reports_everything_at_once(tree_copy):
    edit_labels(tree_copy, lambda df: (df.__setitem__("label", df["label"].where(df.index != 0, "x")),
                                       df.__setitem__("cobb_angle", df["cobb_angle"].where(df.index != 0, -1))))
    (tree_copy / "videos/S003/S003_c0.mp4").write_bytes(b"")
    np.save(tree_copy / "attention_maps/S003/S003_c1.npy", np.zeros((3, 17), np.float32))
    np.save(tree_copy / "phases/S003/S003_c1.npy", np.zeros((3, 3), np.float32))     # float phases, wrong length
    rep, msgs = problems(tree_copy, frames=4, size=16)
    assert len(msgs) == 5, msgs                                  # two in one row, two for one item, and the video
    assert_reported(msgs, "row 2, field 'label'", "row 2, field 'cobb_angle'", "row 6, field 'video'",
                    "row 7, field 'attention_map'", "row 7, field 'phases'")


# ------------------------------------------------------------------------------- corrupt videos through worker pools
@pytest.fixture
def quick_worker_shutdown(monkeypatch):
    """After a worker raised, torch 2.14.1's DataLoader waits 5 s per worker before stopping them (reproduced with a
    plain torch Dataset; see the report): shorten that join timeout so these tests stay fast."""
    import torch.utils.data._utils as U
    monkeypatch.setattr(U, "MP_STATUS_CHECK_INTERVAL", 0.2)

def drain(loader):
    "Iterate a loader to the end (or its first error), shutting its workers down before returning."
    it = iter(loader); n = 0
    try:
        for b in it: n += len(b)
    finally:
        it._shutdown_workers()
    return n

@pytest.mark.parametrize("kind", ["truncated", "zero_bytes", "png_renamed"])
def test_corrupt_video_through_dataloader_workers(tree_copy, kind, quick_worker_shutdown):
    v = tree_copy / "videos/S002/S002_c0.mp4"
    if kind == "truncated": v.write_bytes(v.read_bytes()[: v.stat().st_size // 2])
    elif kind == "zero_bytes": v.write_bytes(b"")
    else:
        from PIL import Image
        Image.fromarray(frames()[0]).save(tree_copy / "f.png"); v.write_bytes((tree_copy / "f.png").read_bytes())
    ds = D.ClinicalCLIPDataset(tree_copy, ["video"], frames=4, size=16)
    loader = D.make_loader(ds, batch_size=2, shuffle=False, num_workers=2)
    with pytest.raises(VideoDecodeError) as ei: drain(loader)
    msg = str(ei.value)
    assert "labels.csv, row 4, field 'video': videos/S002/S002_c0.mp4:" in msg, msg   # the worker's error, intact
    assert "killed by signal" not in msg

def test_skip_mode_logs_and_counts_across_workers(tree_copy):
    (tree_copy / "videos/S002/S002_c0.mp4").write_bytes(b"")
    (tree_copy / "videos/S004/S004_c1.mp4").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    ds = D.ClinicalCLIPDataset(tree_copy, ["video"], frames=4, size=16, on_error="skip", skip_log=tree_copy / "skipped.jsonl")
    n = drain(D.make_loader(ds, batch_size=2, shuffle=False, num_workers=2))
    assert n == 8                                                  # replaced, not dropped
    assert ds.n_skipped == 2 and sorted(ds.skipped.clip_id) == ["S002_c0", "S004_c1"]
    assert all("field 'video'" in e for e in ds.skipped.error)
    assert (tree_copy / "skipped.jsonl").read_text().count("\n") == 2


# ------------------------------------------------------------------------------------------------- CLI end to end
def _cli(*args):
    return subprocess.run([str(BIN / "medclip"), "validate", *map(str, args)], capture_output=True, text=True, timeout=300)

def test_cli_validate_clean_is_one_line(tree):
    r = _cli(tree, "--frames", 4, "--size", 16, "-q")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().count("\n") == 0 and r.stdout.strip().endswith(": OK")
    assert "clinicalclip, 8 items, 4 subjects, 2 classes, train 4, val 2, test 2" in r.stdout

def test_cli_validate_lists_every_problem(tree_copy):
    edit_labels(tree_copy, lambda df: df.__setitem__("label", df["label"].where(df.index != 1, "??")))
    (tree_copy / "videos/S004/S004_c0.mp4").write_bytes(b"")
    r = _cli(tree_copy, "--frames", 4, "--size", 16, "--layout", "clinicalclip", "--csv", tree_copy / "problems.csv")
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3 and lines[-1].endswith("2 problem(s)")
    assert "row 3, field 'label': unknown label '??'" in lines[0] and "row 8, field 'video': videos/S004/S004_c0.mp4: empty file" in lines[1]
    assert "validate" in r.stderr and "100%" in r.stderr           # the progress bar
    assert len(pd.read_csv(tree_copy / "problems.csv")) == 2
    r = _cli(tree_copy, "--layout", "nope")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_validate_warns_when_listed_and_traced_ef_disagree(echo):
    "The fixture lists EF 50–53 but traces a disc shrinking from radius 9 to 3 (EF 96.3): one warning per clip."
    rep = D.validate(echo, frames=4, size=16, progress=False)
    assert rep.ok, str(rep)
    w = [str(e) for e in rep.warnings if "method of discs" in str(e)]
    assert len(w) == 4
    assert ("FileList.csv, row 3, field 'EF': '0X001': EF 51.0 but 96.3 traced by the method of discs "
            "(VolumeTracings.csv rows 14–25), 45.3 points apart (expected the listed and traced EF within 5 points)") in w[1], w[1]
    assert not [e for e in D.validate(echo, frames=4, size=16, progress=False, ef_tolerance=50).warnings
                if "method of discs" in str(e)]
    r = _cli(echo, "--frames", 4, "--size", 16, "-q", "--ef-tolerance", 45)       # 46.3 and 45.3 apart: warned; 44.3, 43.3 not
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK, 2 warning(s)"), r.stdout + r.stderr
    assert "warning: " in r.stdout and "EF 50.0 but 96.3 traced" in r.stdout and "EF 52.0" not in r.stdout

# --------------------------------------------------------------------------------- splits, few-shot, batches, priors
def test_one_split_policy_for_readers_and_training(tmp_path):
    "An index without a split column: the reader's `split=` and training's `make_splits` hold out the same subjects."
    from medclip_nb.core import load_config
    d = write_tree(tmp_path / "t", subjects=tuple(f"S{i:03d}" for i in range(10)), splits=("train",) * 10)
    edit_labels(d, lambda df: df.drop(columns=["split"], inplace=True))
    val = D.ClinicalCLIPDataset(d, frames=4, size=16, split="val")
    assert val.split_source == "held_out_splits(val=0.2, test=0.2, seed=0)"
    assert val.records.split.eq("val").all()
    cfg = load_config("clinicalclip_gait", ["data.val_fraction=0.2", "data.test_fraction=0.2", "seed=0"])
    want = D.make_splits(D.ClinicalCLIPDataset(d, frames=4, size=16), cfg)
    assert sorted(val.records.subject_id.unique()) == want["val"]
    assert sorted(D.ClinicalCLIPDataset(d, frames=4, size=16, split="test").records.subject_id.unique()) == want["test"]

def test_subject_splits_kfold_and_leak_check(tree):
    rec = D.ClinicalCLIPDataset(tree, frames=4, size=16).records
    big = pd.concat([rec.assign(subject_id=rec.subject_id + f"_{k}") for k in range(5)], ignore_index=True)
    s = D.subject_splits(big, val=0.2, test=0.2, seed=3)
    D.assert_subject_disjoint(big.assign(split=s))
    assert set(s) == {"train", "val", "test"} and s.equals(D.subject_splits(big, val=0.2, test=0.2, seed=3))
    for f in D.subject_kfold(big, n_splits=4, seed=0): D.assert_subject_disjoint(big.assign(split=f))
    with pytest.raises(DataError, match="1 subject"):
        D.assert_subject_disjoint({"train": ["a", "b"], "val": ["c"], "test": ["b"]})

def test_few_shot_per_class_and_per_bin(echo, tree):
    ds = D.ClinicalCLIPDataset(tree, frames=4, size=16)
    k = D.few_shot(ds.records, 2, seed=0)
    assert ds.records.loc[k].label.value_counts().to_dict() == {0: 2, 1: 2} and ds.records.loc[k].subject_id.nunique() == 4
    e = D.EchoNetDataset(echo, frames=4, size=16)
    kb = D.few_shot(e.records, 1, by="target", bins=[0, 51, 100], seed=0)
    assert sorted(D.target_bins(e.records.loc[kb].target, [0, 51, 100])) == [0, 1]
    assert len(ds.subset(k)) == 4

def test_subject_batches_span_subjects(tree):
    ds = D.ClinicalCLIPDataset(tree, ["video"], frames=4, size=16)
    for b in D.make_loader(ds, batch_size=4, seed=1):
        assert len(set(b.subject_ids)) == 4                       # 4 subjects → one clip of each per batch

def test_priors_from_regions_and_mmaction_keypoints(tree, tmp_path):
    pd.DataFrame({"video": ["S001_c0", "S001_c0"], "annotator": ["a", "b"], "regions": ["knees;ankles", "knees"]}).to_csv(tmp_path / "r.csv", index=False)
    kp = np.full((1, T, 17, 2), 16, np.float32); sc = np.full((1, T, 17), 0.5, np.float32)
    with open(tmp_path / "k.pkl", "wb") as f: pickle.dump([{"frame_dir": "S001_c0", "keypoint": kp, "keypoint_score": sc}], f)
    pri = D.ClinicianPriors(tmp_path / "r.csv", tmp_path / "k.pkl", kind="joint")
    ds = D.ClinicalCLIPDataset(tree, ["video", "attention"], frames=4, size=16, priors=pri)
    ds.records = ds.records.assign(attention_path=None)          # use the priors instead of the ready maps
    a = ds[0].inputs["attention"]
    assert tuple(a.shape) == (4, 17) and a[0, 13].item() == 0.5 and a[0, 15].item() == 0.25 and a[0, 0].item() == 0
    assert ds[0].meta["prior_key"] == "ankles+knees|knees" and "attention" not in ds[2].inputs
    bad = tmp_path / "bad.csv"; pd.DataFrame({"video": ["S001_c0"], "regions": ["elbowz"]}).to_csv(bad, index=False)
    rep = D.validate(tree, frames=4, size=16, progress=False, priors=D.ClinicianPriors(bad))
    assert_reported([str(e) for e in rep.problems], "bad.csv, row 2, field 'regions': unknown region(s) ['elbowz']")

def test_frame_level_and_region_level_maps(tree_copy):
    "Frame-level (T,) and region-level (T×R) clinician maps are resampled at the decoded frames like joint-level ones."
    np.save(tree_copy / "attention_maps/S001/S001_c0.npy", np.arange(T, dtype=np.float32))
    np.save(tree_copy / "attention_maps/S001/S001_c1.npy", np.tile(np.arange(T, dtype=np.float32)[:, None], (1, 6)))
    ds = D.ClinicalCLIPDataset(tree_copy, ["video", "attention"], frames=4, size=16)
    a0, a1 = ds[0], ds[1]
    assert a0.inputs["attention"].tolist() == a0.meta["frame_indices"]
    assert tuple(a1.inputs["attention"].shape) == (4, 6) and a1.inputs["attention"][:, 5].tolist() == a1.meta["frame_indices"]

def test_real_gait_clips_through_a_reader(media, tmp_path):
    """The real clips (H.264 portrait 320×480, 344 frames; VP9 1768×994, 230 frames) load through `FilenameDataset`.
    mobile_gaitlab_input.mp4: Apache-2.0, stanfordnmbl/mobile-gaitlab; sports2d_demo.mp4: BSD-3-Clause, davidpagnon/Sports2D."""
    ds = D.FilenameDataset(media / "gait", pattern=r"(?P<subject>[a-z0-9]+)_(?P<clip>.+)", frames=8, size=64)
    got = {s.clip_id: s for s in (ds[i] for i in range(len(ds)))}
    assert {k: v.meta["n_frames"] for k, v in got.items()} == {"mobile_gaitlab_input": 344, "sports2d_demo": 230}
    for s in got.values():
        v = s.inputs["video"]
        assert tuple(v.shape) == (3, 8, 64, 64) and v.std() > 0.1       # real content, not a blank clip

def test_readers_load_the_synthetic_datasets(tmp_path):
    "Each reader loads what `medclip synth` writes, and the synthetic folders pass validation."
    from medclip_nb.synth.gait import render_gait_dataset
    from medclip_nb.synth.echo import render_echo_dataset
    from medclip_nb.synth.ultrasound import render_ultrasound_dataset
    g = render_gait_dataset(tmp_path / "gait", subjects=4, clips_per_subject=1, frames=8, size=32, workers=1, progress=False)
    e = render_echo_dataset(tmp_path / "echo", subjects=3, frames=16, size=32, progress=False)
    u = render_ultrasound_dataset(tmp_path / "us", subjects=3, images_per_subject=1, progress=False)
    for d, layout, cls in [(g, "clinicalclip", D.ClinicalCLIPDataset), (g, "scoligait", D.ScoliGaitDataset),
                           (e, "echonet", D.EchoNetDataset), (u, "spatialclip", D.SpatialCLIPDataset)]:
        rep = D.validate(d, layout, frames=8, size=32, progress=False)
        assert rep.ok, str(rep)
        ds = D.open_dataset(d, layout, frames=8, size=32)
        assert type(ds) is cls and len(ds) == rep.n_items > 0
        s = ds[0]
        assert ("video" in s.inputs) != ("image" in s.inputs) and (s.label is not None or s.target is not None)

def test_empty_index_is_a_problem(tmp_path):
    (tmp_path / "labels.csv").write_text("subject_id,video,label\n")
    rep = D.validate(tmp_path, progress=False)
    assert not rep.ok and "labels.csv: no items (the index has no rows)" in str(rep.problems[0])
