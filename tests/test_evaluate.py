"Evaluation: metrics against scikit-learn, the analysis bundle on synthetic gait data, ablations, determinism."
import json
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from medclip_nb.metrics import classification_metrics, regression_metrics
from medclip_nb.bundle import BUNDLE_FILES, OPTIONAL_BUNDLE_FILES, TABLE_COLUMNS, load_bundle
from medclip_nb.evaluate import evaluate_model, evaluate_main, evaluate_run, evaluate_external, clinical_threshold, model_and_clinician_maps
from medclip_nb.evaluate import EVALUATION_SECTIONS, Evaluation, read_splits, predictions_section, report_section
from medclip_nb.train import train
from medclip_nb.synth.gait import render_gait_dataset

def test_metrics_agree_with_sklearn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, 300); z = rng.normal(size=(300, 4)); z[np.arange(300), y] += 1.0
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    m = classification_metrics(y, p, list("abcd"))
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, p.argmax(1)))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, p.argmax(1)))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, p.argmax(1), average="macro"))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p, multi_class="ovr"))
    yb = (y == 1).astype(int)
    assert classification_metrics(yb, p[:, 1])["pr_auc"] == pytest.approx(skm.average_precision_score(yb, p[:, 1]))
    t, e = rng.normal(50, 10, 100), rng.normal(0, 5, 100)
    r = regression_metrics(t, t + e, threshold=50, positive="below")
    assert r["mae"] == pytest.approx(skm.mean_absolute_error(t, t + e))
    assert r["r2"] == pytest.approx(skm.r2_score(t, t + e))
    assert r["auroc_at_threshold"] == pytest.approx(skm.roc_auc_score(t < 50, -(t + e)))

def test_clinical_thresholds():
    assert clinical_threshold("cardiacclip_lvef") == (50.0, "below")
    assert clinical_threshold("scoligait") == (20.0, "above")
    assert clinical_threshold("clinicalclip_gait")[0] is None

def test_region_maps_on_one_grid():
    T = 8; clin = np.zeros((T, 17)); clin[:, 13:15] = 1.0           # clinician looks at the knees
    regions = ["head_neck", "trunk", "arms", "hips_pelvis", "knees", "ankles_feet"]
    ra = np.full((6, T), 1 / T); rw = np.array([0, 0, 0, 0, 1.0, 0])
    model, c, level = model_and_clinician_maps(np.full(T, 1 / T), ra, rw, regions, clin)
    assert level == "frame×region" and model.shape == c.shape == (T, 6)
    assert c[:, 4].min() == 1.0 and c[:, 0].max() == 0.0 and model[:, 4].sum() == pytest.approx(1.0)
    m2, c2, l2 = model_and_clinician_maps(np.full(T, 1 / T), None, None, None, clin)
    assert l2 == "frame" and m2.shape == c2.shape == (T,)

@pytest.fixture(scope="module")
def gait(tmp_path_factory):
    from medclip_nb.synth.gait import render_gait_dataset
    from medclip_nb.datasets import open_dataset
    root = render_gait_dataset(tmp_path_factory.mktemp("gait"), subjects=6, clips_per_subject=2, frames=8, size=32, progress=False)
    return open_dataset(root, modalities=["video", "attention", "phases", "text"], frames=8, size=32)

class ConstantVideo:
    "A view of a dataset whose video is the same (zeros) for every clip: by construction only the clinician map carries the label."
    def __init__(self, ds): self.ds, self.records, self.root, self.classes = ds, ds.records, ds.root, ds.classes
    def __len__(self): return len(self.ds)
    def __getitem__(self, i):
        s = self.ds[i]; s.inputs["video"] = s.inputs["video"] * 0; return s

def _model(classes, overrides=()):
    import torch
    from medclip_nb.core import load_config
    from medclip_nb.model import build_model
    torch.manual_seed(0)
    return build_model(load_config("clinicalclip_gait", ["model.embed_dim=32", *overrides]), classes)

def test_bundle_complete_loads_and_is_deterministic(gait, tmp_path):
    net = _model(gait.classes, ["model.fusion=gated"]).eval()     # gated fusion: the bundle has every table, gates too
    tr = gait.records.subject_id.isin(["S001", "S002"]).to_numpy()
    by_split = {"train": gait.subset(tr), "test": gait.subset(~tr)}
    with pytest.raises(Exception, match="more than once"):
        evaluate_model(net, {"train": gait, "test": gait}, gait.classes, "classification", tmp_path / "x", progress=False)
    an = evaluate_model(net, by_split, gait.classes, "classification", tmp_path / "run" / "analysis",
                        recipe="clinicalclip_gait", n_boot=50, progress=False)
    no_kinematics = set(BUNDLE_FILES) - {"kinematics_attention.npy"}   # this dataset has no knowledge maps (end-to-end test below)
    assert sorted(f.name for f in an.iterdir()) == sorted(no_kinematics)
    b = load_bundle(tmp_path / "run")
    optional = {f.removesuffix('.parquet') for f in OPTIONAL_BUNDLE_FILES}   # written only when asked for (--clips all, --vote ...)
    assert set(TABLE_COLUMNS) - optional <= set(b.tables)
    p = b.predictions
    assert len(p) == len(gait) and set(p.split) == {"train", "test"}
    assert all(p.video_path.map(lambda v: v.startswith("/"))) and p.text.str.len().min() > 0
    probs = p[[f"prob_{c}" for c in gait.classes]].to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-5) and (p.pred == probs.argmax(1)).all()
    E = np.load(an / "embeddings.npy")
    # one slot per model modality (video, kinematics, attention); this reader loads no knowledge maps: NaN, not zeros
    assert E.shape == (len(p), 3, 32) and np.isnan(E[:, 1]).all()
    assert np.allclose(np.linalg.norm(E[:, [0, 2]], axis=-1), 1, atol=1e-4)
    assert np.allclose(b.frame_attention.sum(1), 1, atol=1e-4)
    m = json.loads((an / "metrics.json").read_text())
    test = p[p.split == "test"]
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(test.label, test.pred))
    assert m["accuracy_ci_low"] <= m["accuracy"] <= m["accuracy_ci_high"]
    assert "subject_accuracy" in m and m["n"] == (~tr).sum()
    ac = b.table("attention_consistency")
    assert set(ac.reference) == {"model", "shuffled", "uniform", "centre", "random"}
    assert set(ac.source) == {"video"} and set(ac.level) == {"frame×region"}   # no knowledge maps read: no kinematic saliency
    assert b.table("confusion")["count"].sum() == (~tr).sum()
    ph = b.table("phase_attention").groupby("clip_id").weight.sum()
    assert np.allclose(ph, 1, atol=1e-4)
    first = {f.name: f.read_bytes() for f in an.iterdir() if f.suffix in (".parquet", ".npy")}
    evaluate_model(net, by_split, gait.classes, "classification", an, recipe="clinicalclip_gait",
                   n_boot=50, progress=False)
    assert {f.name: f.read_bytes() for f in an.iterdir() if f.suffix in (".parquet", ".npy")} == first

def test_sections_write_bundle_files_only(gait, tmp_path):
    "Each section returns bundle files only; a bundle written with fewer sections keeps no file of a fuller earlier one."
    net = _model(gait.classes, ["model.fusion=gated"]).eval()
    tr = gait.records.subject_id.isin(["S001", "S002"]).to_numpy()
    ev = read_splits(Evaluation(net, {"train": gait.subset(tr), "test": gait.subset(~tr)}, gait.classes, "classification", n_boot=20))
    for section in EVALUATION_SECTIONS:
        parts = section(ev)
        assert set(parts.files) <= set(BUNDLE_FILES), section.__name__
    an = evaluate_model(net, ev.datasets, gait.classes, "classification", tmp_path / "analysis", n_boot=20, progress=False)
    assert (an / "gates.parquet").exists()
    evaluate_model(net, ev.datasets, gait.classes, "classification", an, n_boot=20, progress=False,
                   sections=[predictions_section, report_section])
    assert sorted(f.name for f in an.iterdir()) == ["calibration.parquet", "confusion.parquet", "curves.parquet",
                                                    "metrics.json", "predictions.parquet", "schema.json"]
    assert load_bundle(tmp_path).predictions.clip_id.tolist() == ev.predictions.clip_id.tolist()

def test_removing_the_signal_modality_drops_the_score(gait, tmp_path):
    "Video made constant, so only the clinician map can carry the label: a briefly trained model loses its score without it."
    import torch
    from medclip_nb.core import collate
    ds = ConstantVideo(gait)
    net = _model(ds.classes, ["model.modality_dropout=0.3"])
    batch = collate([ds[i] for i in range(len(ds))])
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    net.train()
    for _ in range(120):    # 60 steps left it to the modality-dropout draws: full score 0.33–0.75 over 4 of them
        loss = net.compute_losses(net(batch), batch, {"ce": 1.0})["total"]
        opt.zero_grad(); loss.backward(); opt.step()
    an = evaluate_model(net.eval(), {"test": ds}, ds.classes, "classification", tmp_path / "analysis", n_boot=20, progress=False)
    ab = pd.read_parquet(an / "ablations.parquet").set_index("removed")
    assert ab.loc["attention", "full"] >= 0.4, ab           # it learned something from the maps
    assert ab.loc["attention", "drop"] >= 0.2, ab
    assert ab.loc["attention", "drop"] > ab.loc["video", "drop"] + 0.1, ab

def test_cli_help(capsys):
    with pytest.raises(SystemExit) as e: evaluate_main(["--help"])
    assert e.value.code == 0 and "RUN_DIR" in capsys.readouterr().out

@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    "A tiny clinicalclip_gait run, trained and evaluated: (run folder, analysis folder)."
    tmp = tmp_path_factory.mktemp("e2e")
    root = render_gait_dataset(tmp / "gait", subjects=12, clips_per_subject=2, frames=8, size=32, progress=False)
    run = train("clinicalclip_gait", data=root, out=tmp / "runs",
                      overrides=["train.max_epochs=1", "data.size=32", "data.frames=8", "model.embed_dim=32"])
    return run, evaluate_run(run, progress=False, n_boot=20)

def test_evaluate_run_end_to_end(evaluated_run):
    run, an = evaluated_run
    b = load_bundle(run)
    assert (b.predictions.split == "test").any() and "accuracy" in b.metrics and "temperature" in b.metrics
    assert an == run / "analysis"
    test_clip = b.predictions[b.predictions.split == "test"].clip_id.iloc[0]
    ac = b.table("attention_consistency")   # video attention, the skeleton's attention and the kinematic saliency
    assert set(ac.source) == {"video", "kinematics_attention", "kinematics_saliency"}
    assert set(ac.reference) == {"model", "shuffled", "uniform", "centre", "random"}
    ka = b.kinematics_attention              # the skeleton attention per clip, in predictions order, on the clinician's grid
    assert ka.shape == (len(b.predictions), 8, 17) and np.allclose(ka.sum((1, 2)), 1.0, atol=1e-4)
    pa = b.table("phase_attention")          # per gait phase: the video's frame attention and the skeleton's
    assert set(pa.source) == {"video", "kinematics_attention"}
    assert np.allclose(pa.groupby(["source", "clip_id"]).weight.sum(), 1.0, atol=1e-4)
    assert ac.spearman.between(-1, 1).all() and set(ac.clip_id) == set(b.predictions[b.predictions.split == "test"].clip_id)
    sa = b.spatial_attention(test_clip)                      # Grad-CAM of the tiny3d video encoder
    assert sa is not None and sa.ndim == 3 and np.nanmax(sa) <= 1.001
    from medclip_nb.interpret import write_case_report
    page = write_case_report(run, test_clip).read_text()
    assert "model spatial saliency" in page and page.count("data:image/png;base64,") >= 4

def test_report_cli_writes_one_page_per_test_clip(evaluated_run, tmp_path, capsys):
    "`medclip report RUN --test` writes one self-contained HTML page per test clip; one opens in Chromium without console errors."
    from pathlib import Path
    from medclip_nb.cli import main
    from browser_fixtures import CHROMIUM, launch_chromium, harmless
    run, _ = evaluated_run
    test_ids = load_bundle(run).predictions.query("split == 'test'").clip_id.tolist()
    assert main(["report", str(run), "--test", "--out", str(tmp_path / "cases")]) == 0
    paths = [Path(line) for line in capsys.readouterr().out.split()]
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == sorted(f"{c}.html" for c in test_ids)
    assert [p.stem for p in paths] == test_ids and all(p.exists() for p in paths)
    assert main(["report", str(run), test_ids[0], "no_such_clip"]) == 2          # unknown clip id: named, exit status 2
    assert "no_such_clip" in capsys.readouterr().err
    if not Path(CHROMIUM).exists(): pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        br = launch_chromium(pw)
        try:
            page, errors = br.new_page(), []
            page.on("console", lambda m: m.type == "error" and not harmless(m.text, (m.location or {}).get("url", ""))
                    and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(paths[0].resolve().as_uri(), wait_until="load")
            assert test_ids[0] in page.title() and page.locator("img").count() >= 3
            assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        finally: br.close()
    assert not errors, errors

def test_regression_bundle(tmp_path):
    import torch
    from medclip_nb.core import load_config
    from medclip_nb.model import build_model
    from medclip_nb.datasets import open_dataset
    from medclip_nb.synth.gait import render_gait_dataset
    root = render_gait_dataset(tmp_path / "scoli", subjects=6, clips_per_subject=2, frames=8, size=32, cohort="scoliosis", progress=False)
    ds = open_dataset(root, "scoligait", modalities=["video", "kinematics"], frames=8, size=32, task="regression")
    torch.manual_seed(0)
    net = build_model(load_config("scoligait", ["model.embed_dim=32", "model.modalities=[video, kinematics]"]), None).eval()
    th, pos = clinical_threshold("scoligait")
    evaluate_model(net, {"test": ds}, [], "regression", tmp_path / "run" / "analysis", recipe="scoligait",
                   threshold=th, positive=pos, n_boot=30, progress=False)
    b = load_bundle(tmp_path / "run")
    p = b.predictions
    assert b.task == "regression" and np.isfinite(p.prediction).all() and np.isfinite(p.target).all()
    assert b.metrics["mae"] == pytest.approx(skm.mean_absolute_error(p.target, p.prediction))
    assert b.metrics["auroc_at_threshold"] == pytest.approx(skm.roc_auc_score(p.target >= 20, p.prediction))
    assert b.metrics["mae_ci_low"] <= b.metrics["mae"] <= b.metrics["mae_ci_high"] and "subject_mae" in b.metrics
    assert set(b.table("ablations").metric) == {"mae"}

def test_calibration_is_checked_and_curves_are_saved(evaluated_run):
    "A validation split of a few subjects fits no temperature and says so; test ECE keeps its interval; ROC/PR curves are saved."
    run, _ = evaluated_run
    b = load_bundle(run); m = b.metrics
    assert m["temperature"] is None and "fewer than 20" in m["temperature_note"], m.get("temperature_note")
    assert "ece_scaled" not in m and not b.table("calibration").scaled.any()       # no "after" ECE, no scaled diagram
    assert "ece_ci_note" in m or m["ece_ci_low"] <= m["ece"] <= m["ece_ci_high"]
    cv = b.table("curves")
    assert set(cv.kind) == {"roc", "pr"} and cv.x.between(0, 1).all() and cv.y.between(0, 1).all()
    assert set(cv["class"]) <= set(b.classes)


# --- #28 item 3: a site the model never saw -------------------------------------------------------------------------

def _files(folder):
    "{relative path: bytes} of the files directly in `folder` (the internal bundle; external bundles live in subfolders)."
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}

@pytest.fixture(scope="module")
def echo_sites(tiny_lvef_run, tmp_path_factory):
    "A tiny cardiacclip_lvef run (the golden sizes) evaluated internally, and a second site rendered by another scanner."
    from medclip_nb.synth.echo import render_echo_dataset
    tmp = tmp_path_factory.mktemp("site")
    run = tiny_lvef_run
    internal = evaluate_run(run, progress=False, n_boot=20)
    site2 = render_echo_dataset(tmp / "site2", subjects=6, seed=1, frames=32, fps=30, gain_db=-8, depth=1.3, noise=4,
                                progress=False)
    return run, internal, site2

def test_external_site_bundle(echo_sites, capsys):
    run, internal, site2 = echo_sites
    before = _files(internal)
    assert evaluate_main([str(run), "--data", str(site2), "--bootstrap", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    ext = run / "analysis" / "site2"
    assert f"analysis bundle: {ext}" in out and "mae=" in out
    assert _files(internal) == before                          # the internal bundle is untouched
    fl = pd.read_csv(site2 / "FileList.csv")
    b, m = load_bundle(ext.parent.parent), json.loads((ext / "metrics.json").read_text())
    p = pd.read_parquet(ext / "predictions.parquet")
    assert set(p.split) == {"external"} and len(p) == len(fl) and set(p.clip_id) == set(fl.FileName)   # every clip scored
    assert m["split"] == "external" and m["n"] == len(fl) and np.isfinite(m["mae"])
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(p.target, p.prediction))
    assert b.metrics == json.loads((internal / "metrics.json").read_text())       # the run's own bundle still loads as before
    schema = json.loads((ext / "schema.json").read_text())
    assert schema["split"] == "external" and schema["external"]["name"] == "site2" and schema["external"]["labelled"]
    print(f"internal test MAE {b.metrics['mae']:.2f} (n={b.metrics['n']}), external site2 MAE {m['mae']:.2f} (n={m['n']})")

def test_external_without_targets_gives_predictions_only(echo_sites, monkeypatch, tmp_path):
    import medclip_nb.evaluate as E
    run, internal, site2 = echo_sites
    real = E.external_dataset
    def unlabelled(run, data, layout=None):
        ds = real(run, data, layout); ds.records["target"] = np.nan; return ds
    monkeypatch.setattr(E, "external_dataset", unlabelled)
    ext = E.evaluate_external(run, site2, "blind", progress=False, n_boot=5)
    m = json.loads((ext / "metrics.json").read_text())
    assert "mae" not in m and "predictions only" in m["metrics_note"] and m["split"] == "external"
    p = pd.read_parquet(ext / "predictions.parquet")
    assert np.isfinite(p.prediction).all() and not np.isfinite(p.target).any()
    assert not json.loads((ext / "schema.json").read_text())["external"]["labelled"]

def test_external_labels_unknown_to_the_run(evaluated_run, tmp_path):
    from medclip_nb.core import MedclipError
    run, _ = evaluated_run
    other = render_gait_dataset(tmp_path / "scoli", subjects=3, clips_per_subject=1, frames=8, size=32, cohort="scoliosis",
                                progress=False)
    with pytest.raises(MedclipError) as e: evaluate_external(run, other, progress=False, n_boot=5)
    assert "labels.csv" in str(e.value) and "unknown label" in str(e.value), str(e.value)
    assert not (run / "analysis" / "scoli").exists()
    with pytest.raises(MedclipError, match="external bundle"): evaluate_external(run, other, name="cases", progress=False)

def test_dashboard_lists_the_external_bundle_beside_the_run(echo_sites):
    import panel as pn
    from medclip_nb.bundle import find_runs
    from medclip_nb.dashboard import Dashboard, ExternalBundle, DASHBOARD_VIEWS
    run, internal, site2 = echo_sites
    ext = evaluate_external(run, site2, "site2b", progress=False, n_boot=5)
    assert list(find_runs([run])) == ["lvef"]                         # the run's own bundle only, as before
    d = Dashboard([run])
    assert {"lvef", "lvef · site2b"} <= set(d.runs)
    b = d.bundle("lvef · site2b")
    assert isinstance(b, ExternalBundle) and b.analysis == ext and b.run_dir == run.resolve()
    assert set(b.predictions.split) == {"external"} and b.embeddings() is not None
    assert d.bundle("lvef").metrics == json.loads((internal / "metrics.json").read_text())
    d.w_runs.value = ["lvef", "lvef · site2b"]
    for view in DASHBOARD_VIEWS:
        if view not in d.views or view in ("Case", "Predict"): continue
        alerts = [a.object for a in d.views[view]().select(pn.pane.Alert) if a.alert_type == "danger"]
        assert not alerts, f"{view}: {alerts}"
