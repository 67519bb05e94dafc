"#28 item 4: site recalibration (`medclip evaluate RUN --data SITE --calibrate N`)."
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from medclip_nb.core import MedclipError
from medclip_nb.evaluate import evaluate_main, evaluate_external, fit_recalibration, recalibrated, calibration_draw
from medclip_nb.run import Inference


@pytest.fixture(scope="module")
def sites(tiny_lvef_run, tmp_path_factory):
    "A tiny cardiacclip_lvef run (the golden sizes) and a second site rendered by another scanner (12 subjects)."
    from medclip_nb.synth.echo import render_echo_dataset
    tmp = tmp_path_factory.mktemp("recal")
    run = tiny_lvef_run
    site2 = render_echo_dataset(tmp / "site2", subjects=12, seed=1, frames=32, fps=30, gain_db=-8, depth=1.3, noise=4,
                                progress=False)
    return run, site2


def test_calibrate_holds_out_subjects_and_reports_before_after(sites, capsys):
    run, site2 = sites
    args = [str(run), "--data", str(site2), "--name", "site2_cal", "--calibrate", "4", "--bootstrap", "20", "--no-progress",
            "--no-spatial"]
    assert evaluate_main(args) == 0
    assert "recalibrated: mae=" in capsys.readouterr().out
    out = Path(run) / "analysis" / "site2_cal"
    m, pred = json.loads((out / "metrics.json").read_text()), pd.read_parquet(out / "predictions.parquet")
    clips, tab = pd.read_parquet(out / "recalibration_clips.parquet"), pd.read_parquet(out / "recalibration.parquet")
    fl = pd.read_csv(Path(site2) / "FileList.csv")
    assert len(clips) == 4 and len(pred) == len(fl) - 4 and m["n"] == len(fl) - 4               # held out of the scoring
    assert not set(clips.subject_id) & set(pred.subject_id) and set(clips.clip_id) | set(pred.clip_id) == set(fl.FileName)
    fit = LinearRegression().fit(clips[["prediction"]].to_numpy(), clips.target.to_numpy())   # fitted on those clips only
    assert m["recalibration"] == "linear" and m["recalibration_clips"] == 4
    assert m["recalibration_slope"] == pytest.approx(fit.coef_[0]) and m["recalibration_intercept"] == pytest.approx(fit.intercept_)
    after = fit.predict(pred[["prediction"]].to_numpy())
    t = tab.set_index("metric")
    assert t.loc["mae", "before"] == pytest.approx(m["mae"]) and t.loc["mae", "after"] == pytest.approx(np.abs(pred.target - after).mean())
    assert m["mae_recalibrated"] == pytest.approx(t.loc["mae", "after"])
    assert t.loc["mae", "after_ci_low"] <= t.loc["mae", "after"] <= t.loc["mae", "after_ci_high"]
    ext = json.loads((out / "schema.json").read_text())["external"]
    assert ext["calibrate"] == 4 and ext["calibration_seed"] is not None
    # seeded: the same clips again; without --calibrate the folder is scored whole and the old tables go
    assert evaluate_main(args) == 0
    assert pd.read_parquet(out / "recalibration_clips.parquet").clip_id.tolist() == clips.clip_id.tolist()
    assert evaluate_main(args[:5] + args[7:]) == 0
    assert not (out / "recalibration.parquet").exists() and len(pd.read_parquet(out / "predictions.parquet")) == len(fl)


def test_calibrate_asks_for_what_it_can_use(sites, capsys):
    run, site2 = sites
    with pytest.raises(MedclipError, match="--calibrate 12: the folder has 12 labelled clips"):
        evaluate_external(run, site2, "x", calibrate=12, progress=False, n_boot=5, spatial=False)
    with pytest.raises(SystemExit) as e: evaluate_main([str(run), "--calibrate", "4"])
    assert e.value.code == 2 and "--calibrate needs --data" in capsys.readouterr().err


def test_a_known_scanner_distortion_is_undone():
    "Predictions squeezed by a scanner (0.5·EF + 20) come back exactly; the draw keeps subjects whole."
    t = np.linspace(20, 80, 12)
    r = Inference([f"c{i}" for i in range(12)], targets=t, prediction=(0.5 * t + 20)[:, None])
    rc = fit_recalibration(r, "regression")
    assert rc.slope == pytest.approx(2.0) and rc.intercept == pytest.approx(-40.0)
    df, _ = recalibrated(pd.DataFrame({"prediction": 0.5 * t + 20}), None, rc, [])
    assert np.allclose(df.prediction, t)
    recs = pd.DataFrame({"subject_id": np.repeat(list("abcdef"), 2), "label": -1, "target": np.arange(12.0)})
    keep = calibration_draw(recs, 3, "regression", seed=5)
    assert keep.sum() == 4 and recs.subject_id[keep].value_counts().eq(2).all()               # two whole subjects
