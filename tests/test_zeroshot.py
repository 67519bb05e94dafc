"""`medclip zeroshot` (#30 item 2): scoring by prompt similarity, no training. Random open_clip towers score at chance
(the pipeline is honest); a run trained CLIP-style on synthetic echo, scored from its own towers, is compared with the
mean predictor on its held-out subjects; the bundles open in the dashboard."""
import json, math
import numpy as np
import panel as pn
import pytest
import yaml
from medclip_nb.bundle import find_runs, load_bundle
from medclip_nb.dashboard import Dashboard
from medclip_nb.evaluate import evaluate_run
from medclip_nb.run import load_run
from medclip_nb.text import make_tiny_open_clip
from medclip_nb.train import train
from medclip_nb.zeroshot import zeroshot, zeroshot_main

GAIT = ["data.synth.subjects=36", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32"]
ECHO = ["data.synth.subjects=60", "data.synth.frames=32", "data.frames=4", "data.size=32", "data.batch_size=4", "train.max_epochs=5",
        "model.embed_dim=32"]


def summary_alerts(run_dir) -> list:
    "The error alerts of the dashboard's Summary view over `run_dir` (none when it renders)."
    d = Dashboard([run_dir])
    out = d.views["Summary"]()
    return [a.object for a in out.select(pn.pane.Alert) if a.alert_type == "danger"]


def band(p:float, n:int, z:float=3.5) -> tuple:
    "A binomial band (z standard errors) around the rate `p` for `n` draws."
    se = math.sqrt(p * (1 - p) / n)
    return p - z * se, p + z * se


def test_random_towers_score_at_chance_on_gait(tmp_path):
    enc = make_tiny_open_clip(tmp_path / "random_clip", image_size=32)
    out = tmp_path / "runs" / "gait_zeroshot"
    assert zeroshot_main(["--encoder", str(enc), "--recipe", "clinicalclip_gait", "--out", str(out), "--no-progress",
                          "--bootstrap", "20", *GAIT]) == 0
    for f in ("config.yaml", "classes.json", "splits.json", "data.json"): assert (out / f).is_file(), f
    splits = json.loads((out / "splits.json").read_text())
    assert list(splits) == ["test"] and len(splits["test"]) == 36          # every subject, scored as the test split
    m = json.loads((out / "analysis" / "metrics.json").read_text())
    k, n = len(json.loads((out / "classes.json").read_text())["classes"]), m["n"]
    print(f"random towers, {n} clips, {k} classes: accuracy {m['accuracy']:.3f}, balanced accuracy "
          f"{m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, ROC-AUC {m['roc_auc']:.3f} (chance 1/{k} = {1/k:.3f})")
    lo, hi = band(1 / k, n)
    assert lo <= m["accuracy"] <= hi and lo <= m["balanced_accuracy"] <= hi, m
    assert m["macro_f1"] <= hi
    assert abs(m["roc_auc"] - 0.5) < 0.15, m["roc_auc"]
    assert list(find_runs([out])) == ["gait_zeroshot"] and len(load_bundle(out).predictions) == n
    assert not summary_alerts(out)


def test_trained_echo_towers_from_run_against_the_mean_predictor(tmp_path):
    run = train("cardiacclip_lvef", out=tmp_path, name="echo", overrides=ECHO, progress=False)
    out = zeroshot(from_run=run, out=tmp_path / "echo_zeroshot", n_boot=20)
    trained = load_run(run)
    assert json.loads((out / "splits.json").read_text()) == {"test": trained.splits["test"]}   # held-out subjects only
    p = load_bundle(out).predictions
    y, pred = p["target"].to_numpy(), p["prediction"].to_numpy()
    mean = float(trained.dataset("train").records["target"].mean())      # the mean predictor knows the training targets only
    zs_mae, mean_mae = float(np.abs(y - pred).mean()), float(np.abs(y - mean).mean())
    print(f"echo, {len(y)} held-out clips: zero-shot from the run's towers MAE {zs_mae:.2f} vs the training-mean "
          f"predictor ({mean:.1f}) MAE {mean_mae:.2f}")
    assert np.isfinite(pred).all() and pred.std() > 0          # not collapsed onto one value
    # Not asserted: at this size (8 held-out clips) it does not reliably beat the mean predictor. Over training seeds and
    # renders of 60 subjects it did on some (11.0-11.9 vs 13.2) and not on others (12.3-14.6 vs 12.0-13.2); with 80
    # subjects and 6 epochs it did (8.2 vs 11.9). The numbers are printed for the record.
    assert ((pred >= 15 - 1e-6) & (pred <= 85 + 1e-6)).all()      # a weighted mean over the value grid (bin anchors 15..85 %)
    assert not summary_alerts(out)
    # the same echo data (every subject) scored with random open_clip towers: chance, no better than the mean
    enc = make_tiny_open_clip(tmp_path / "random_clip", image_size=32)
    rnd = zeroshot("cardiacclip_lvef", data=trained.data_root, out=tmp_path / "echo_random", encoder=enc, n_boot=20,
                   overrides=["data.frames=4", "data.size=32"])
    m = json.loads((rnd / "analysis" / "metrics.json").read_text())
    print(f"echo, random towers, {m['n']} clips: MAE {m['mae']:.2f} vs mean predictor {m['mae_mean_predictor']:.2f}, "
          f"R² {m['r2']:.3f}, AUROC at {m['threshold']:g} % {m['auroc_at_threshold']:.3f}")
    assert abs(m["auroc_at_threshold"] - 0.5) < 0.2 and m["r2"] < 0.1, m
    assert not summary_alerts(rnd)


def test_prompt_head_run_from_run_scores_its_fused_embedding(tmp_path):
    """A run whose head is prompt similarity (model.head=zeroshot) is scored --from-run with every input it reads but text,
    fused as its head fuses them: the zero-shot probabilities are the run's own test probabilities."""
    run = train("clinicalclip_gait", out=tmp_path, name="gait", overrides=GAIT + ["model.head=zeroshot", "train.max_epochs=1",
                "model.embed_dim=32"], progress=False)
    out = zeroshot(from_run=run, out=tmp_path / "gait_zeroshot", n_boot=20)
    reads = yaml.safe_load((out / "config.yaml").read_text())["data"]["modalities"]
    assert reads == [m for m in load_run(run).cfg.data.modalities if m != "text"] and "attention" in reads   # the maps are read
    mine = load_bundle(evaluate_run(run, n_boot=20, progress=False, spatial=False).parent).predictions
    zs = load_bundle(out).predictions
    mine = mine[mine["split"] == "test"].set_index("clip_id").loc[zs["clip_id"]]
    probs = [c for c in zs.columns if c.startswith("prob_")]
    assert len(probs) == 9
    np.testing.assert_allclose(zs[probs].to_numpy(), mine[probs].to_numpy(), atol=2e-3)
