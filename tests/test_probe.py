"""Linear probe (#30 item 3): `medclip probe` on a tiny open_clip folder and on the recipe's untrained model
(tests/golden.py sizes): a run folder and bundle the dashboard opens, features computed once, the bundle's predictions
exactly the fitted head's on the cached features, the regularisation chosen on validation."""
import contextlib, io, json, sys
from pathlib import Path
import numpy as np
import pandas as pd
import panel as pn
import pytest
from medclip_nb.bundle import load_bundle
from medclip_nb.cli import main
from medclip_nb.dashboard import Dashboard
from medclip_nb.probe import PROBE_GRID
from medclip_nb.text import make_tiny_open_clip

sys.path.insert(0, str(Path(__file__).parent))
from golden import TINY

GAIT = [o for o in TINY["clinicalclip_gait"] if not o.startswith("train.")]


def load_run_cfg(run_dir) -> dict:
    import yaml
    return yaml.safe_load((Path(run_dir) / "config.yaml").read_text())


def medclip(*argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def test_open_clip_probe_is_a_run_the_dashboard_opens_and_its_head_is_what_was_scored(tmp_path):
    enc = make_tiny_open_clip(tmp_path / "clip", image_size=32)
    out = tmp_path / "runs" / "gait_probe"
    rc, txt, err = medclip("probe", "clinicalclip_gait", *GAIT, "--encoder", enc, "--out", out, "--bootstrap", "10", "--no-progress")
    assert rc == 0, err
    assert "logistic head, C=" in txt
    pj = json.loads((out / "probe.json").read_text())
    assert (pj["source"], pj["modality"], pj["encoder"]) == ("open_clip", "video", str(enc.resolve()))
    assert [g["C"] for g in pj["grid"]] == sorted(PROBE_GRID)
    best = min(pj["grid"], key=lambda g: g["val_log_loss"])
    assert pj["value"] == best["C"]
    for f in ("config.yaml", "classes.json", "splits.json", "data.json", "probe_head.npz"): assert (out / f).is_file(), f
    # the bundle's test predictions are the saved head applied to the cached test features
    head = np.load(out / "probe_head.npz")
    with np.load(pj["features"]["test"]["cache"]) as f: X, ids = f["X"], f["clip_ids"]
    p = load_bundle(out).predictions.set_index("clip_id").loc[list(ids)]
    assert (p["pred"].to_numpy() == (X @ head["weight"].T + head["bias"]).argmax(1)).all()
    assert not [a for a in Dashboard([out]).views["Summary"]().select(pn.pane.Alert) if a.alert_type == "danger"]
    # a second probe of the same encoder reads its features from the cache; other reader settings do not
    assert medclip("probe", "clinicalclip_gait", *GAIT, "--encoder", enc, "--out", out, "--bootstrap", "10", "--no-progress")[0] == 0
    assert all(v["cached"] for v in json.loads((out / "probe.json").read_text())["features"].values())
    assert medclip("probe", "clinicalclip_gait", "--encoder", enc, "--out", out, "--bootstrap", "10", "--no-progress",
                   *GAIT, "data.frames=2")[0] == 0          # overrides after the options too
    assert load_run_cfg(out)["data"]["frames"] == 2
    assert not any(v["cached"] for v in json.loads((out / "probe.json").read_text())["features"].values())


def test_probe_errors_name_what_is_expected(tmp_path):
    rc, _, err = medclip("probe", "clinicalclip_gait", "--encoder", tmp_path / "nowhere", "--out", tmp_path / "x")
    assert rc == 2 and "open_clip" in err
    rc, _, err = medclip("probe", "--out", tmp_path / "x")
    assert rc == 2 and "needs a recipe" in err
    with pytest.raises(SystemExit):           # one encoder at a time
        with contextlib.redirect_stderr(io.StringIO()): main(["probe", "clinicalclip_gait", "--out", str(tmp_path / "x"),
                                                             "--from-run", "R", "--encoder", "E"])
