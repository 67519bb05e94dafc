"Training end to end on tiny synthetic data: run folder, determinism, resume (also after kill -9), stages, KD, DDP, predict."
import json, os, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from medclip_nb.core import load_config
from medclip_nb.datasets import few_shot_train, open_run_reader, make_splits, split_dataset
from medclip_nb.run import load_run
from medclip_nb.train import train, render_synth, synth_dir
from medclip_nb.predict import predict, format_table

ROOT = Path(__file__).resolve().parents[1]
TINY = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32", "data.batch_size=6", "model.embed_dim=32"]
MEDCLIP = [str(Path(sys.executable).parent / "medclip")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    "A runs folder whose tiny synthetic gait data is rendered once."
    out = tmp_path_factory.mktemp("runs")
    render_synth(load_config("clinicalclip_gait", TINY), synth_dir(load_config("clinicalclip_gait", TINY), out), progress=False)
    return out


def _metrics(run): return json.loads((Path(run) / "metrics.json").read_text())


def _weights(run, name="last"):
    return torch.load(Path(run) / "checkpoints" / f"{name}.ckpt", map_location="cpu", weights_only=True)["state_dict"]


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def run_a(runs):
    "Uninterrupted 3-epoch run."
    return train("clinicalclip_gait", out=runs, name="a", overrides=TINY + ["train.max_epochs=3"], progress=False)


def test_run_folder_layout(run_a):
    for f in ("config.yaml", "env.json", "classes.json", "splits.json", "data.json", "metrics.json",
              "checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/csv/metrics.csv"):
        assert (run_a / f).exists(), f
    assert any((run_a / "logs" / "tb").glob("events.out.tfevents.*"))
    splits = json.loads((run_a / "splits.json").read_text())
    assert not set(splits["val"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["test"])
    env = json.loads((run_a / "env.json").read_text())
    assert env["seed"] == 0 and env["torch"] == torch.__version__
    ckpt = torch.load(run_a / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and {"python", "numpy", "torch"} <= set(ckpt["rng_states"])
    m = _metrics(run_a)
    assert 0 <= m["val/macro_f1"] <= 1 and 0 <= m["test/accuracy"] <= 1


def test_same_seed_same_metrics(runs, run_a):
    c = train("clinicalclip_gait", out=runs, name="c", overrides=TINY + ["train.max_epochs=3"], progress=False)
    assert _metrics(c) == _metrics(run_a)
    assert _same_weights(c, run_a)


def test_other_seed_differs(runs, run_a):
    d = train("clinicalclip_gait", out=runs, name="d", overrides=TINY + ["train.max_epochs=3", "seed=1"], progress=False)
    assert not _same_weights(d, run_a)


def test_resume_same_name_matches_uninterrupted(runs, run_a):
    "Stopped after epoch 1, re-run with the same name to 3 epochs: same weights and metrics as never stopping."
    b = train("clinicalclip_gait", out=runs, name="b", overrides=TINY + ["train.max_epochs=1"], progress=False)
    assert torch.load(b / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 0
    b2 = train("clinicalclip_gait", out=runs, name="b", overrides=TINY + ["train.max_epochs=3"], progress=False)
    assert b2 == b
    assert _same_weights(b, run_a)
    assert _metrics(b) == _metrics(run_a)
    import pandas as pd   # the CSV log keeps the epochs before the interruption
    assert sorted(pd.read_csv(b / "logs" / "csv" / "metrics.csv")["epoch"].unique().tolist()) == [0, 1, 2]


def test_resume_flag(runs, run_a):
    """Extending a finished run to more epochs ends like a run planned that long. A cosine schedule is stretched to the
    new length (its past epochs ran at the old one), so the property is exact for a constant schedule: compared here."""
    const = TINY + ["train.schedule=constant"]
    ref = train("clinicalclip_gait", out=runs, name="e_ref", overrides=const + ["train.max_epochs=3"], progress=False)
    e = train("clinicalclip_gait", out=runs, name="e", overrides=const + ["train.max_epochs=2"], progress=False)
    train(None, resume=e, overrides=["train.max_epochs=3"], progress=False)
    assert _same_weights(e, ref)


def test_kill9_mid_training_then_resume(runs, run_a):
    "kill -9 the CLI once the first epoch's checkpoint is on disk, re-run with the same --name: ends like run A."
    args = MEDCLIP + ["train", "clinicalclip_gait", "--out", str(runs), "--name", "k", "--quiet"] + TINY + [
        "train.max_epochs=3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = runs / "k" / "checkpoints" / "last.ckpt"
    t0 = time.time()
    while not last.exists() and p.poll() is None and time.time() - t0 < 120: time.sleep(0.02)
    time.sleep(0.3)                       # let the write finish, then kill in the middle of epoch 2
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (runs / "k" / "metrics.json").exists()
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == str(runs / "k")
    assert _same_weights(runs / "k", run_a)
    assert _metrics(runs / "k") == _metrics(run_a)


def test_stages_as_data(runs):
    st = "[{epochs: 1, stage: 0, lr_scale: 1.0}, {epochs: 1, stage: 2, lr_scale: 0.1, losses: {feature_preservation: 0.5}}]"
    run = train("clinicalclip_gait", out=runs, name="stages", overrides=TINY + ["train.max_epochs=2", f"train.stages={st}"],
                progress=False)
    import pandas as pd
    log = pd.read_csv(run / "logs" / "csv" / "metrics.csv")
    assert sorted(log["stage"].dropna().unique().tolist()) == [0.0, 2.0]
    assert log["train/feature_preservation"].dropna().gt(0).any()
    ck = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert "initial_snapshot" in ck          # the stage-2 reference survives a resume
    # stage 0 trains no backbone: the video encoder's first conv is unchanged by epoch 0, changed in stage 2
    lr = load_run(run, "last")
    assert lr.model.training is False


def test_few_shot_k_per_class(runs):
    from medclip_nb.core import Config
    d = load_config("clinicalclip_gait", TINY).to_dict()
    cfg = Config({**d, "data": {**d["data"], "shots_per_bin": 1}}, "clinicalclip_gait")
    root = synth_dir(cfg, runs)
    full = open_run_reader(root, "clinicalclip", cfg)
    tr = split_dataset(full, make_splits(full, cfg)["train"])
    few = few_shot_train(tr, cfg)
    counts = np.bincount(few.labels)
    assert counts.max() == 1 and len(few) == len(set(tr.labels.tolist()))


def test_distillation_teacher_then_student(runs):
    ov = TINY + ["train.max_epochs=1", "model.text_encoder=hash",
                 "train.teacher_overrides=[model.embed_dim=48, model.losses.distill=0.0, model.losses.ce=1.0]"]
    run = train("gaitlab_kd", out=runs, name="kd", overrides=ov, progress=False)
    teacher = runs / "kd-teacher"
    assert (teacher / "checkpoints" / "best.ckpt").exists()
    t, s = load_run(teacher), load_run(run)
    assert t.cfg.model.embed_dim == 48 and s.cfg.model.embed_dim == 32
    assert t.classes == s.classes
    log = __import__("pandas").read_csv(run / "logs" / "csv" / "metrics.csv")
    assert log["train/distill"].dropna().gt(0).all()


def test_ddp_two_cpu_processes(runs):
    "DDP through Lightning with 2 CPU processes: one tiny epoch, a valid checkpoint (took ~22 s here)."
    args = MEDCLIP + ["train", "clinicalclip_gait", "--out", str(runs), "--name", "ddp", "--quiet"] + TINY + [
        "train.max_epochs=1", "train.strategy=ddp", "train.devices=2", "train.accelerator=cpu"]
    t0 = time.time()
    r = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip().splitlines()[-1] == str(runs / "ddp")
    lr = load_run(runs / "ddp")
    assert lr.checkpoint.name == "best.ckpt" and len(lr.classes) == 9
    print(f"DDP 2 CPU processes, 1 epoch: {time.time() - t0:.1f} s")


def test_predict_end_to_end(run_a, media):
    classes = json.loads((run_a / "classes.json").read_text())["classes"]
    vid = sorted(Path(json.loads((run_a / "data.json").read_text())["root"]).glob("videos/*/*.mp4"))[0]
    for v in (vid, media / "gait" / "mobile_gaitlab_input.mp4"):
        r = predict(run_a, v)
        assert r.class_names == classes
        assert abs(sum(r.probabilities) - 1) < 1e-5 and r.predicted in classes
        assert len(r.frame_attention) == 4 and r.modalities_missing == ["kinematics", "attention"]
    # the loaded model gives the same probabilities as the evaluation reader for the same clip
    lr = load_run(run_a)
    ds = lr.dataset("train")
    i = [str(x) for x in ds.records["video_path"]].index(str(vid))
    from medclip_nb.core import collate
    p = torch.softmax(lr.predict_batch(collate([ds[i]])).logits, -1)[0]
    # the reader also loads the priors; a bare upload masks them, so compare with them absent
    s = ds[i]; s.inputs.pop("attention"); s.inputs.pop("kinematics")
    p2 = torch.softmax(lr.predict_batch(collate([s])).logits, -1)[0].tolist()
    assert np.allclose(p2, predict(run_a, vid).probabilities, atol=1e-5)
    # and with the clip's priors given as files, predict equals the reader with everything
    row = pd.read_csv(Path(json.loads((run_a / "data.json").read_text())["root"]) / "labels.csv")
    row = row[row["video"] == str(vid.relative_to(vid.parents[2]))].iloc[0]
    root = vid.parents[2]
    full = predict(run_a, vid, priors={"kinematics": root / row["knowledge_map"], "attention": root / row["attention_map"]})
    assert np.allclose(p.tolist(), full.probabilities, atol=1e-5)
    ka = np.asarray(full.kinematics_attention)             # the skeleton branch's attention over the clip's frames × joints
    assert ka.shape == (4, 17) and abs(ka.sum() - 1) < 1e-4 and predict(run_a, vid).kinematics_attention is None
    assert "skeleton attention: " in format_table(full)


def test_frozen_text_encoder_embeddings_cached():
    "A stage that freezes the text encoder computes each text's embedding once (the text module's cache), training or not."
    from medclip_nb.model import build_model, fake_batch, apply_stage
    cfg = load_config("gaitlab_kd", ["model.text_encoder=hash", "model.embed_dim=32"])
    m = build_model(cfg, [f"c{i}" for i in range(9)])
    apply_stage(m, 0)
    m.train()
    m(fake_batch(["video", "text"], batch_size=3, frames=4, size=32, num_classes=9))
    caches = [mod._emb_cache for mod in m.modules() if hasattr(mod, "_emb_cache")]
    assert caches and all(len(c) > 0 for c in caches)


SPATIAL_TINY = ["data.synth.subjects=16", "data.synth.clips_per_subject=2", "data.size=64", "data.batch_size=8",
                "train.max_epochs=3", "train.stages=[{epochs: 2, stage: 0, losses: {clip: 0.0}}, {epochs: 1, stage: joint}]",
                "model.embed_dim=32", "model.text_encoder=hash"]   # the golden test's spatialclip_quality sizes


def test_predict_image_equals_bundle(tmp_path):
    "An image run predicts each test image (its record of test.json as the boxes file) as its row of the analysis bundle."
    from medclip_nb.evaluate import evaluate_run
    run = train("spatialclip_quality", out=tmp_path, name="sc", overrides=SPATIAL_TINY, progress=False)
    evaluate_run(run, progress=False, n_boot=20)
    root = Path(json.loads((run / "data.json").read_text())["root"])
    classes = json.loads((run / "classes.json").read_text())["classes"]
    bundle = pd.read_parquet(run / "analysis" / "predictions.parquet").set_index("clip_id")
    records = json.loads((root / "test.json").read_text())
    assert len(records) >= 2
    for k, rec in enumerate(records):
        boxes = tmp_path / f"boxes{k}.json"; boxes.write_text(json.dumps(rec))
        r = predict(run, root / rec["image_path"], text=rec["description"], boxes=boxes)
        row = bundle.loc[str(Path(rec["image_path"]).with_suffix(""))]
        assert r.class_names == classes and r.tta == ["hflip"] and r.modalities_missing == []
        assert np.allclose(r.probabilities, [row[f"prob_{c}"] for c in classes], atol=1e-5), (rec["image_path"], r.probabilities)
        assert r.predicted == row["pred_name"]
    # the command line: one image with its boxes, and one without (the boxes masked)
    out = subprocess.run(MEDCLIP + ["predict", str(run), str(root / rec["image_path"]), "--boxes", str(boxes),
                                    "--text", rec["description"], "--json"], capture_output=True, text=True, check=True)
    assert np.allclose(json.loads(out.stdout)["probabilities"], r.probabilities, atol=1e-6)
    bare = predict(run, root / rec["image_path"])
    assert bare.modalities_missing == ["text", "boxes"] and abs(sum(bare.probabilities) - 1) < 1e-5
    bad = subprocess.run(MEDCLIP + ["predict", str(run), str(tmp_path / "clip.mp4")], capture_output=True, text=True)
    assert bad.returncode == 2 and "is a video file but this run predicts on images" in bad.stderr



def _ood_run(runs, name, overrides):
    "Train and evaluate a clinicalclip_gait run on synthetic gait only; return it with the real phone clip's prediction."
    from medclip_nb.evaluate import evaluate_run
    run = train("clinicalclip_gait", out=runs, name=name, overrides=overrides, progress=False)
    evaluate_run(run, progress=False, n_boot=20)
    return run


def test_predict_out_of_distribution_check(runs, media):
    """A tiny run trained only on synthetic gait (as tests/golden.py): before evaluation `out_of_distribution` is null with
    a note; after it, every prediction carries the verdict and its score (JSON, `format_table`, the dashboard's Predict
    tab), and at most 5 % of the held-out synthetic test clips, each uploaded alone, are flagged."""
    from medclip_nb.dashboard import Dashboard
    import panel as pn
    real_clip = media / "gait" / "mobile_gaitlab_input.mp4"
    run = train("clinicalclip_gait", out=runs, name="ood", overrides=TINY + ["train.max_epochs=2"], progress=False)
    before = predict(run, real_clip)
    assert before.out_of_distribution is None and any("evaluate the run again" in n for n in before.notes), before.notes
    from medclip_nb.evaluate import evaluate_run
    evaluate_run(run, progress=False, n_boot=20)
    m = json.loads((run / "analysis" / "metrics.json").read_text())
    assert m["ood_test_flagged_rate"] <= 0.05 and m["ood_modality"] == "video", m
    pred = pd.read_parquet(run / "analysis" / "predictions.parquet")
    held = [predict(run, v) for v in pred[pred.split == "test"].video_path]     # the held-out clips, one upload at a time
    flagged = np.mean([r.out_of_distribution for r in held])
    real = predict(run, real_clip)
    print(f"tiny run: real clip distance {real.ood_score:.3f} vs threshold {real.ood_threshold:.3f} "
          f"(flagged: {real.out_of_distribution}); held-out synthetic test clips flagged: {flagged:.1%} of {len(held)}")
    assert flagged <= 0.05, [(r.ood_score, r.ood_threshold) for r in held]
    assert isinstance(real.out_of_distribution, bool) and real.ood_score >= 0
    assert ("out of distribution: YES" if real.out_of_distribution else "out of distribution: no") in format_table(real)
    out = subprocess.run(MEDCLIP + ["predict", str(run), str(real_clip), "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    js = json.loads(out.stdout)
    assert js["out_of_distribution"] is real.out_of_distribution and abs(js["ood_score"] - real.ood_score) < 1e-6
    d = Dashboard([run])
    panes = d.prediction_view(next(iter(d.runs)), real_clip, real_clip.name, None)
    ood = [p for p in panes if isinstance(p, pn.pane.Alert) and "mc-ood" in (p.css_classes or [])]
    assert len(ood) == 1 and ood[0].alert_type == ("warning" if real.out_of_distribution else "success")
    assert "out of distribution:" in ood[0].object
    d.close()
