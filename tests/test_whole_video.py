"#28 item 2: the whole video, as EchoNet-Dynamic scores it (`medclip evaluate --clips all`, `medclip predict --clips all`)."
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

from medclip_nb.evaluate import evaluate_main
from medclip_nb.predict import predict, predict_main
from medclip_nb.run import load_run, clip_period


@pytest.fixture(scope="module")
def echo_run(tiny_lvef_run):
    "A tiny cardiacclip_lvef run (the golden sizes): 64-frame videos read as 4 frames, 16 apart."
    return tiny_lvef_run


def test_evaluate_all_clips_beside_single_clip(echo_run, capsys):
    run = echo_run
    assert clip_period(load_run(run).dataset("train")) == 16.0
    assert evaluate_main([str(run), "--clips", "all", "--stride", "4", "--bootstrap", "20", "--no-progress", "--no-spatial"]) == 0
    assert "all clips: mae=" in capsys.readouterr().out
    an = Path(run) / "analysis"
    m, pred = json.loads((an / "metrics.json").read_text()), pd.read_parquet(an / "predictions.parquet")
    ac, prot = pd.read_parquet(an / "all_clips.parquet"), pd.read_parquet(an / "protocols.parquet")
    test = pred[pred.split == "test"]
    assert ac.clip_id.tolist() == test.clip_id.tolist() and (ac.n_windows == 4).all()      # starts 0, 4, 8, 12 (span 49 of 64)
    assert np.allclose(ac.single_clip_prediction, test.prediction) and (ac.prediction_sd > 0).all()
    v = prot.pivot(index="metric", columns="protocol", values="value")
    assert v.loc["mae", "single_clip"] == pytest.approx(m["mae"])                          # the report's own number
    assert v.loc["mae", "all_clips"] == pytest.approx(np.abs(ac.target - ac.prediction).mean())
    assert m["all_clips_mae"] == pytest.approx(v.loc["mae", "all_clips"]) and m["all_clips_windows_mean"] == 4
    assert m["all_clips_mae_ci_low"] <= m["all_clips_mae"] <= m["all_clips_mae_ci_high"]
    # a plain evaluation afterwards leaves no all-clips table of the earlier one behind
    assert evaluate_main([str(run), "--bootstrap", "5", "--no-progress", "--no-spatial"]) == 0
    assert not (an / "all_clips.parquet").exists() and not (an / "protocols.parquet").exists()


def test_predict_all_clips_is_the_mean_of_every_window(echo_run, capsys):
    run = echo_run
    rec = load_run(run).dataset("test").records.iloc[0]
    one, every = predict(run, rec["video_path"]), predict(run, rec["video_path"], clips="all")
    assert every.n_windows == 64 - 48 and every.window_period == 16.0 and every.window_stride == 1
    assert every.window_predictions[8] == pytest.approx(one.prediction, abs=1e-4)   # frames 8, 24, 40, 56: the single clip
    assert every.prediction == pytest.approx(np.mean(every.window_predictions), abs=1e-6)
    assert every.prediction_sd == pytest.approx(np.std(every.window_predictions), abs=1e-6)
    assert predict_main([str(run), rec["video_path"], "--clips", "all", "--stride", "8", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_windows"] == 2 and d["clips"] == "all" and len(d["window_predictions"]) == 2
    assert predict_main([str(run), rec["video_path"], "--clips", "all"]) == 0
    assert "over 16 windows" in capsys.readouterr().out
    with pytest.raises(SystemExit): predict_main([str(run), rec["video_path"], "--clips", "every"])


def test_stride_needs_all_clips(echo_run, capsys):
    with pytest.raises(SystemExit) as e: evaluate_main([str(echo_run), "--stride", "2"])
    assert e.value.code == 2 and "--stride needs --clips all" in capsys.readouterr().err
