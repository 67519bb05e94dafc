"""`validate`'s cached index (each video checked once per file version) and unlabelled EchoNet folders.

Tiny EchoNet-Dynamic folders (12 frames, 32²) written by the tests; the index goes to a temp `$MEDCLIP_CACHE`.
"""
import json, os, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclip_nb.core import DataError, load_config
from medclip_nb.video import write_video
from medclip_nb import datasets as D

OLD = time.time() - 3600        # a modification time well outside the index's 2-second "racy" window


def clip(seed:int, T:int=12, S:int=32):
    x = np.zeros((T, S, S, 3), np.uint8)
    for t in range(T): x[t, 8:24, (2 * t + 3 * seed) % (S - 4):][:, :4] = 200; x[t, ..., 2] = 10 + 15 * t
    return x

def write_video_old(path:Path, seed:int):
    write_video(path, clip(seed), fps=50); os.utime(path, (OLD, OLD))

def write_echo(d:Path, n:int=4, ef=True, split=True) -> Path:
    (d / "Videos").mkdir(parents=True, exist_ok=True)
    rows = []
    for k in range(n):
        write_video_old(d / "Videos" / f"0X{k:03d}.avi", k)
        rows.append(dict(FileName=f"0X{k:03d}", EF=50.0 + k if ef else "", ESV=30.0 if ef else "", EDV=60.0 if ef else "",
                         FrameHeight=32, FrameWidth=32, FPS=50, NumberOfFrames=12,
                         Split=["TRAIN", "TRAIN", "VAL", "TEST"][k % 4] if split else ""))
    pd.DataFrame(rows).to_csv(d / "FileList.csv", index=False)
    return d

@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDCLIP_CACHE", str(tmp_path / "cache")); return tmp_path / "cache"

def run(d, **kw): return D.validate(d, frames=4, size=16, progress=False, **kw)

def counts(rep): return rep.n_checked, rep.n_cached


def test_second_validate_reads_the_index(tmp_path):
    d = write_echo(tmp_path / "e")
    first = run(d)
    assert first.ok and counts(first) == (4, 0)
    ix = D.validate_index_path(d)
    assert ix.exists() and ix.is_relative_to(tmp_path / "cache") and not list(d.rglob("*.json"))   # nothing written into the data
    stored = json.loads(ix.read_text())
    assert stored["version"] == 1 and sorted(stored["entries"]) == [f"Videos/0X{k:03d}.avi" for k in range(4)]
    assert stored["entries"]["Videos/0X000.avi"]["info"]["frames"] == 12
    second = run(d)
    assert second.ok and counts(second) == (0, 4) and second.summary() == first.summary()

def test_changed_added_and_removed_files(tmp_path):
    d = write_echo(tmp_path / "e"); run(d)
    write_video(d / "Videos" / "0X001.avi", clip(9, T=10), fps=50); os.utime(d / "Videos" / "0X001.avi", (OLD + 5, OLD + 5))
    fl = pd.read_csv(d / "FileList.csv")
    fl.loc[len(fl)] = dict(fl.iloc[0], FileName="0X004"); fl.to_csv(d / "FileList.csv", index=False)
    write_video_old(d / "Videos" / "0X004.avi", 4)
    (d / "Videos" / "0X002.avi").unlink()
    rep = run(d)
    assert counts(rep) == (2, 2)                                        # the changed and the added video
    msgs = [str(e) for e in rep.problems]
    assert len(msgs) == 1 and "row 4, field 'FileName'" in msgs[0] and "not found" in msgs[0]
    assert "Videos/0X002.avi" not in json.loads(D.validate_index_path(d).read_text())["entries"]   # removed: entry gone
    assert any("NumberOfFrames says 12 but the video has 10" in str(w) for w in rep.warnings)

def test_a_broken_video_is_reported_the_same_from_the_index(tmp_path):
    d = write_echo(tmp_path / "e")
    v = d / "Videos" / "0X003.avi"; v.write_bytes(v.read_bytes()[: v.stat().st_size // 2]); os.utime(v, (OLD, OLD))
    first, second = run(d), run(d)
    assert counts(second) == (0, 4)
    assert [str(e) for e in first.problems] == [str(e) for e in second.problems]
    assert len(first.problems) == 1 and "row 5, field 'FileName': Videos/0X003.avi: " in str(first.problems[0])
    with pytest.raises(DataError) as e: D.EchoNetDataset(d, frames=4, size=16)[3]
    assert e.value.problem == first.problems[0].problem                          # training says the same

def test_recent_files_are_checked_again_and_no_index_checks_all(tmp_path):
    d = write_echo(tmp_path / "e")
    os.utime(d / "Videos" / "0X000.avi")                                 # modified just now: racy
    run(d)
    assert counts(run(d)) == (1, 3)
    assert counts(run(d, index=False)) == (4, 0)
    own = tmp_path / "own_index.json"
    assert counts(run(d, index=own)) == (4, 0) and own.exists() and counts(run(d, index=own)) == (1, 3)

def test_jobs_give_the_same_report(tmp_path):
    d = write_echo(tmp_path / "e", n=6)
    a, b = run(d, index=False), run(d, index=False, jobs=2)
    assert (a.ok, a.summary(), counts(a)) == (b.ok, b.summary(), counts(b)) == (True, a.summary(), (6, 0))

def test_cli_jobs_and_no_index(tmp_path, capsys):
    d = write_echo(tmp_path / "e")
    assert D.validate_main([str(d), "--frames", "4", "--size", "16", "--jobs", "2"]) == 0
    assert D.validate_main([str(d), "--frames", "4", "--size", "16"]) == 0
    err = capsys.readouterr().err
    assert "4 video(s) checked, 0 unchanged" in err and "0 video(s) checked, 4 unchanged since the last validate" in err
    assert D.validate_main([str(d), "--frames", "4", "--size", "16", "--no-index"]) == 0
    assert "4 video(s) checked, 0 unchanged" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- unlabelled EchoNet
def test_unlabelled_echonet_reads_for_predictions_only(tmp_path):
    d = write_echo(tmp_path / "e", ef=False, split=False)
    rep = run(d)
    assert rep.ok, str(rep)
    assert any("no EF on any of its 4 rows: an unlabelled folder, read for predictions only" in str(w) for w in rep.warnings)
    ds = D.EchoNetDataset(d, frames=4, size=16)
    assert len(ds) == 4 and np.isnan(ds.targets).all() and ds.records["split"].isna().all()
    s = ds[0]
    assert tuple(s.inputs["video"].shape) == (3, 4, 16, 16)
    cfg = load_config("cardiacclip_lvef")
    with pytest.raises(DataError, match=r"4 of 4 clips have no EF \(rows 2, 3, 4, 5\): this folder can be scored"):
        D.make_splits(ds, cfg)

def test_one_missing_ef_among_labelled_rows_is_still_a_problem(tmp_path):
    d = write_echo(tmp_path / "e")
    fl = pd.read_csv(d / "FileList.csv"); fl.loc[1, "EF"] = np.nan; fl.to_csv(d / "FileList.csv", index=False)
    rep = run(d)
    assert [str(e) for e in rep.problems if "EF" in str(e)] and "row 3, field 'EF': missing value (NaN)" in str(rep.problems[0])
    fl.loc[1, "Split"] = ""; fl.loc[1, "EF"] = 51.0; fl.to_csv(d / "FileList.csv", index=False)
    assert "row 3, field 'Split': unknown split" in str(run(d).problems[0])    # one empty split among given ones

def test_an_unwritable_index_costs_speed_not_the_report(tmp_path, monkeypatch):
    d = write_echo(tmp_path / "e")
    blocker = tmp_path / "not_a_dir"; blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("MEDCLIP_CACHE", str(blocker))
    first, second = run(d), run(d)
    assert first.ok and second.ok and counts(second) == (4, 0)
