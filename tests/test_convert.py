"""`medclip convert dicom` end to end on DICOM written the way ultrasound scanners write it.

Sources are `medclip synth echo` clips placed on a 600×800 screen in a fan sector, with burned-in patient text, a
depth marker and an ECG trace outside the sector, patient name / ID / birth date in the header; one file per
supported transfer syntax and photometric interpretation, with and without the Sequence of Ultrasound Regions, plus a
still, a truncated file, a non-ultrasound file, a compressed syntax no installed plugin decodes, a DICOMDIR and a
text file. The converted folder must match the sources, carry the labels, leak nothing, and pass `medclip validate`.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest

from medclip_nb.cli import main
from medclip_nb.convert import scanner_canvas, write_us_dicom, deid_name, deid_key
from medclip_nb.synth.echo import render_echo_dataset
from medclip_nb.video import read_frames, probe_video

FRAMES = 12
PATIENT = dict(PatientName="DOE^JANE", PatientID="MRN0042", PatientBirthDate="19700101")
SECRETS = [b"DOE", b"JANE", b"MRN0042", b"19700101", b"SynthScan"]
# name: (syntax, photometric, region?, fps, rate tag, label key)
GOOD = {"a_explicit_rgb.dcm": ("explicit", "RGB", True, 50, "FrameTime", "FileName"),
        "b_implicit_mono.dcm": ("implicit", "MONOCHROME2", False, 30, "CineRate", "SOPInstanceUID"),
        "c_jpeg_ybr422.dcm": ("jpeg", "YBR_FULL_422", True, 25, "RecommendedDisplayFrameRate", "StudyInstanceUID"),
        "d_jpeg_rgb.dcm": ("jpeg", "RGB", False, 50, "FrameTime", "FileName"),
        "nested/deeper/e_jpeg_mono.dcm": ("jpeg", "MONOCHROME2", True, 40, "FrameTime", "SOPInstanceUID"),
        "nested/f_explicit_mono.dcm": ("explicit", "MONOCHROME2", False, 50, "FrameTime", "FileName")}
BAD = {"still.dcm": "single-frame", "truncated.dcm": "truncated", "ct.dcm": "not ultrasound", "htj2k.dcm": "no installed decoder"}


def _write_sources(src:Path, clips:list) -> pd.DataFrame:
    "Every good and bad file under `src`; returns the labels table (EF, ESV, EDV, Split by the key each file uses)."
    rows = []
    for i, (name, (syntax, photo, region, fps, tag, key)) in enumerate(GOOD.items()):
        canvas, box = scanner_canvas(clips[i % len(clips)])
        f = write_us_dicom(src / name, canvas, fps, syntax, photo, box if region else None, PATIENT, tag, uid_seed=name)
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        k = Path(name).name if key == "FileName" else str(ds.get(key))
        rows.append({key: k, "EF": 30.0 + 5 * i, "ESV": 50.0 + i, "EDV": 120.0 + i, "Split": ["TRAIN", "VAL", "TEST"][i % 3]})
    canvas, box = scanner_canvas(clips[0])
    write_us_dicom(src / "still.dcm", canvas[:1], 50, "explicit", "RGB", box, PATIENT, uid_seed="still")
    cut = (src / "d_jpeg_rgb.dcm").read_bytes()
    (src / "truncated.dcm").write_bytes(cut[: len(cut) * 2 // 3])
    for name, change in (("ct.dcm", lambda d: setattr(d, "Modality", "CT")),
                         ("htj2k.dcm", lambda d: setattr(d.file_meta, "TransferSyntaxUID", pydicom.uid.HTJ2KLossless))):
        ds = pydicom.dcmread(write_us_dicom(src / name, canvas, 50, "jpeg", "YBR_FULL_422", box, PATIENT, uid_seed=name))
        change(ds); ds.save_as(src / name, enforce_file_format=True)
    dd = pydicom.Dataset(); dd.file_meta = pydicom.dataset.FileMetaDataset()
    dd.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    dd.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    dd.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dd.FileSetID = "DOE_JANE"; dd.save_as(src / "DICOMDIR", enforce_file_format=True)
    (src / "README.txt").write_text("scanner export notes")
    return pd.DataFrame(rows, columns=["FileName", "SOPInstanceUID", "StudyInstanceUID", "EF", "ESV", "EDV", "Split"])


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dicom")
    echo = render_echo_dataset(tmp / "echo", subjects=3, frames=FRAMES, progress=False)
    clips = [read_frames(v, range(FRAMES))[0][..., 0] for v in sorted((echo / "Videos").glob("*.avi"))]
    labels = _write_sources(tmp / "src", clips)
    labels.to_csv(tmp / "labels.csv", index=False)
    out, key = tmp / "out", tmp / "deid.key"
    argv = ["convert", "dicom", str(tmp / "src"), "--out", str(out), "--labels", str(tmp / "labels.csv"),
            "--id-map", str(tmp / "idmap.csv"), "--key-file", str(key), "-q"]
    return dict(tmp=tmp, out=out, key=deid_key(key), clips=clips, labels=labels, argv=argv)


@pytest.fixture(scope="module")
def first_run(converted):
    import contextlib, io
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out): rc = main(converted["argv"])
    return dict(rc=rc, err=err.getvalue(), out=out.getvalue())


def _rows(converted) -> dict:
    "FileList rows by source file name (through the id map)."
    fl = pd.read_csv(converted["out"] / "FileList.csv", keep_default_na=False)
    ids = pd.read_csv(converted["tmp"] / "idmap.csv")
    src = {r.FileName: Path(r.Source).relative_to(converted["tmp"] / "src").as_posix() for r in ids.itertuples()}
    return {src[r["FileName"]]: r for r in fl.to_dict("records")}


def test_bad_files_reported_by_name_exit_1(converted, first_run):
    assert first_run["rc"] == 1
    lines = first_run["err"].strip().splitlines()
    assert len(lines) == len(BAD), first_run["err"]
    for name, reason in BAD.items():
        line = next(l for l in lines if f"/{name}:" in l)
        assert line.startswith("error: ") and reason in line, line
    notes = [l for l in first_run["out"].splitlines() if l.startswith("note: ")]
    assert any("DICOMDIR" in l for l in notes) and any("README.txt" in l and "not a DICOM" in l for l in notes)
    assert "6 converted" in first_run["out"]


def test_frames_fps_and_labels(converted, first_run):
    rows = _rows(converted)
    assert sorted(rows) == sorted(GOOD)
    lab = converted["labels"]
    for i, (name, (syntax, photo, region, fps, tag, key)) in enumerate(GOOD.items()):
        r = rows[name]
        assert (r["FPS"], r["NumberOfFrames"], r["FrameHeight"], r["FrameWidth"]) == (fps, FRAMES, 112, 112), name
        assert (r["EF"], r["ESV"], r["EDV"], r["Split"]) == tuple(lab.iloc[i][["EF", "ESV", "EDV", "Split"]]), name
        video = converted["out"] / "Videos" / f"{r['FileName']}.avi"
        assert probe_video(video).fps == pytest.approx(fps, rel=1e-3)
        got = read_frames(video, range(FRAMES), allow_blank=True)[0][..., 0].astype(float)
        mae = np.abs(got - converted["clips"][i % len(converted["clips"])]).mean()
        assert mae <= 6, f"{name}: MAE {mae:.2f}/255 against the synthetic source"
        assert got[:, :4, :14].max() <= 12, f"{name}: the depth marker outside the sector was not masked"


def test_nothing_identifying_in_the_output(converted, first_run):
    ids = pd.read_csv(converted["tmp"] / "idmap.csv")
    uids = [u.encode() for u in list(ids.SOPInstanceUID) + list(ids.StudyInstanceUID)]
    assert all(n == deid_name(u, converted["key"]) for n, u in zip(ids.FileName, ids.SOPInstanceUID))
    files = [p for p in converted["out"].rglob("*") if p.is_file()]
    assert len(files) == 1 + len(GOOD)
    for p in files:
        data = p.read_bytes() + p.name.encode()
        leaked = [s for s in SECRETS + uids if s in data]
        assert not leaked, f"{p} holds {leaked}"


def test_rerun_skips_and_validate_passes(converted, first_run, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in (converted["out"] / "Videos").iterdir()}
    assert main(converted["argv"]) == 1
    assert "0 converted, 6 already done" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in (converted["out"] / "Videos").iterdir()} == before
    assert len(pd.read_csv(converted["out"] / "FileList.csv")) == len(GOOD)
    assert main(["validate", str(converted["out"]), "-q"]) == 0, capsys.readouterr().out


def test_two_jobs_same_result(converted, first_run, capsys):
    out2 = converted["tmp"] / "out2"
    argv = [a if a != str(converted["out"]) else str(out2) for a in converted["argv"] if a != "--id-map"]
    argv = [a for a in argv if not a.endswith("idmap.csv")] + ["--jobs", "2"]
    assert main(argv) == 1
    a = pd.read_csv(converted["out"] / "FileList.csv").sort_values("FileName").reset_index(drop=True)
    b = pd.read_csv(out2 / "FileList.csv").sort_values("FileName").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not (out2 / "idmap.csv").exists()


def test_pillow_decodes_jpeg_baseline(converted):
    "Pillow alone (without pylibjpeg) decodes JPEG Baseline YBR_FULL_422 through pydicom, like pylibjpeg does."
    from pydicom.pixels import pixel_array
    f = converted["tmp"] / "src" / "c_jpeg_ybr422.dcm"
    a, b = pixel_array(f, decoding_plugin="pillow"), pixel_array(f, decoding_plugin="pylibjpeg")
    assert a.shape == (FRAMES, 600, 800, 3) and np.abs(a.astype(int) - b).mean() < 1.5
