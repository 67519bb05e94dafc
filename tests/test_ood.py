"""The out-of-distribution warning (#27 item 5) on a tiny run (tests/golden.py's clinicalclip_gait sizes) trained only on
synthetic gait: the model-free input-statistics check flags real videos its embedding check misses, flags at most 5 %
of the held-out synthetic test clips, and reaches `predict`, its `--json`, the run files and the dashboard; a run
evaluated before the input check still predicts, from the embedding check alone, and says so.

Real clips (../shared/media, see its README): `gait/mobile_gaitlab_input.mp4` (Apache-2.0, stanfordnmbl/mobile-gaitlab),
`gait/sports2d_demo.mp4` (BSD-3-Clause, davidpagnon/Sports2D), `negatives/pose2sim_single_person_cam01.mp4`
(BSD-3-Clause, perfanalytics/pose2sim)."""
import json, shutil, subprocess, sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from golden import TINY
from medclip_nb.train import train
from medclip_nb.evaluate import evaluate_run
from medclip_nb.predict import predict, format_table, OOD_NOTE_NO_INPUT_CHECK
from medclip_nb.run import (INPUT_OOD_FILE, INPUT_OOD_KEYS, INPUT_FEATURES, OOD_FILE, input_reference, input_statistics,
                            fit_input_reference)

MEDCLIP = [str(Path(sys.executable).parent / "medclip")]
REAL = ["gait/mobile_gaitlab_input.mp4", "gait/sports2d_demo.mp4", "negatives/pose2sim_single_person_cam01.mp4"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    "A tiny clinicalclip_gait run on synthetic gait only, trained and evaluated."
    r = train("clinicalclip_gait", out=tmp_path_factory.mktemp("runs"), name="ood", overrides=TINY["clinicalclip_gait"],
              progress=False)
    evaluate_run(r, progress=False, n_boot=20)
    return Path(r)


def test_run_files_hold_both_references(run):
    m = json.loads((run / "analysis" / "metrics.json").read_text())
    assert all(m.get(k) is not None for k in INPUT_OOD_KEYS) and m["ood_input_kind"] == "video", m
    feats = np.load(run / "analysis" / INPUT_OOD_FILE)
    assert feats.shape == (m["ood_input_reference_clips"], len(INPUT_FEATURES)) and np.isfinite(feats).all()
    assert (run / "analysis" / OOD_FILE).exists() and m["ood_threshold"] is not None
    print(f"tiny run: input threshold {m['ood_input_threshold']:.2f}; test clips flagged: input {m['ood_input_test_flagged_rate']:.1%}, "
          f"embedding {m['ood_test_flagged_rate']:.1%}, either {m['ood_either_test_flagged_rate']:.1%}")
    assert m["ood_input_test_flagged_rate"] <= 0.05 and m["ood_either_test_flagged_rate"] <= 0.05, m


def test_real_clips_flagged_and_held_out_clips_not(run, media):
    pred = pd.read_parquet(run / "analysis" / "predictions.parquet")
    held = [predict(run, v) for v in pred[pred.split == "test"].video_path]        # each held-out clip uploaded alone
    flagged = np.mean([r.out_of_distribution for r in held])
    assert all(r.ood_checks == ["embedding", "input"] for r in held)
    for f in REAL:
        r = predict(run, media / f)
        print(f"{f}: input statistics {r.input_ood_score:.2f} vs {r.input_ood_threshold:.2f}, embedding distance "
              f"{r.ood_score:.4f} vs {r.ood_threshold:.4f} -> out_of_distribution={r.out_of_distribution}")
        assert r.out_of_distribution is True and r.input_ood_score > r.input_ood_threshold, f
        assert "out of distribution: YES" in format_table(r) and "the file's own statistics" in format_table(r)
    print(f"held-out synthetic test clips flagged: {flagged:.1%} of {len(held)}")
    assert flagged <= 0.05, [(r.ood_score, r.ood_threshold, r.input_ood_score, r.input_ood_threshold) for r in held]


def test_predict_json_has_both_scores(run, media):
    out = subprocess.run(MEDCLIP + ["predict", str(run), str(media / REAL[0]), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)
    assert js["out_of_distribution"] is True and js["ood_checks"] == ["embedding", "input"]
    assert js["input_ood_score"] > js["input_ood_threshold"] and js["ood_score"] >= 0 and js["ood_threshold"] > 0


def test_run_evaluated_before_the_input_check_still_predicts(run, media, tmp_path):
    old = tmp_path / "old"; shutil.copytree(run, old)
    (old / "analysis" / INPUT_OOD_FILE).unlink()
    m = json.loads((old / "analysis" / "metrics.json").read_text())
    (old / "analysis" / "metrics.json").write_text(json.dumps({k: v for k, v in m.items() if not k.startswith("ood_input")}))
    assert input_reference(old) is None
    r = predict(old, media / REAL[0])
    assert r.ood_checks == ["embedding"] and r.input_ood_score is None and isinstance(r.out_of_distribution, bool)
    assert OOD_NOTE_NO_INPUT_CHECK in r.notes and "embedding distance alone" in OOD_NOTE_NO_INPUT_CHECK


def test_image_statistics(media, tmp_path):
    "Images have their own statistics (no motion); a colour photo is far from grey ultrasound frames."
    from PIL import Image
    pngs = sorted((media / "ultrasound_hc18").glob("*_HC.png"))
    X = np.stack([input_statistics(p, "image") for p in pngs])
    assert X.shape == (len(pngs), len(INPUT_FEATURES)) and (X[:, INPUT_FEATURES.index("motion")] == 0).all()
    ref = fit_input_reference(X, [p.stem for p in pngs], "image")
    photo = np.zeros((540, 800, 3), np.uint8); photo[..., 0] = 200; photo[::7] = 255
    Image.fromarray(photo).save(tmp_path / "photo.png")
    assert ref.flags(ref.score(tmp_path / "photo.png")) and not ref.flags(float(ref.distances(X[:1])[0]))
