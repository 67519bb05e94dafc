"""`medclip sweep` end to end on tiny synthetic gait: summaries with the contract's columns, kill -9 then re-run (finished
runs reused, the killed one resumed), and subject folds that test every subject exactly once."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd

from medclip_nb.sweep import SUMMARY_COLUMNS, COMPARISON_COLUMNS, read_plan

ROOT = Path(__file__).resolve().parents[1]
MEDCLIP = [str(Path(sys.executable).parent / "medclip")]
TINY = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32", "data.batch_size=6", "model.embed_dim=32", "train.max_epochs=2"]
NO_MAPS = ("no_maps:model.modalities=[video,kinematics],data.modalities=[video,kinematics],"
           "model.losses.attention_consistency=0,model.losses.kinematics_attention=0")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def sweep_args(out, *extra):
    return MEDCLIP + ["sweep", "clinicalclip_gait", "--out", str(out), "--bootstrap", "20", "--quiet", *TINY, *extra]


def _status(out) -> dict:
    f = out / "sweep.json"
    try: return {r["path"]: r["status"] for r in json.loads(f.read_text())["runs"]}
    except (FileNotFoundError, json.JSONDecodeError): return {}


def _stamps(run) -> dict:
    files = [run / "metrics.json", run / "analysis" / "schema.json", run / "checkpoints" / "last.ckpt"]
    return {f.name: f.stat().st_mtime_ns for f in files}


def test_sweep_killed_then_rerun_completes_without_retraining(tmp_path):
    out = tmp_path / "S"
    args = sweep_args(out, "--seeds", "0", "1", "--vary", "recipe:", "--vary", NO_MAPS)
    p = subprocess.Popen(args, cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = out / "recipe" / "seed1" / "checkpoints" / "last.ckpt"
    t0 = time.time()   # kill once run 1 is finished and run 2 has its first epoch's checkpoint
    while not (_status(out).get("recipe/seed0") == "done" and second.exists()) and p.poll() is None and time.time() - t0 < 300:
        time.sleep(0.02)
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    first = _stamps(out / "recipe" / "seed0")
    assert not (out / "recipe" / "seed1" / "metrics.json").exists()
    r = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert _stamps(out / "recipe" / "seed0") == first                      # not retrained, not re-evaluated
    plan = read_plan(out)
    assert set(plan) >= {"recipe", "data", "overrides", "variants", "seeds", "folds", "runs"}
    assert plan["variants"]["recipe"] == [] and len(plan["variants"]["no_maps"]) == 4 and plan["folds"] is None
    assert {x["path"]: x["status"] for x in plan["runs"]} == {
        "recipe/seed0": "reused", "recipe/seed1": "done", "no_maps/seed0": "done", "no_maps/seed1": "done"}
    assert [set(x) for x in plan["runs"]] == [{"variant", "seed", "fold", "path", "status"}] * 4
    summary, comp = pd.read_csv(out / "summary.csv"), pd.read_csv(out / "comparisons.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS and list(comp.columns) == COMPARISON_COLUMNS
    assert set(summary.variant) == {"recipe", "no_maps"} and (summary.n == 2).all()
    assert "test/macro_f1" in set(summary.metric)
    assert comp[["variant_a", "variant_b"]].values.tolist() == [["recipe", "no_maps"]]
    assert comp.p_value.between(0, 1).all()
    md = (out / "summary.md").read_text()
    assert "medclip sweep clinicalclip_gait" in md and "| variant | metric | mean | sd | min | max | n |" in md
    assert "| variant_a | variant_b | metric | mean_difference | p_value |" in md


def test_sweep_folds_test_every_subject_once(tmp_path):
    out = tmp_path / "F"
    r = subprocess.run(sweep_args(out, "--folds", "3", "--jobs", "2", "train.max_epochs=1"),   # two worker processes
                       cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    plan = read_plan(out)
    assert plan["folds"] == 3 and [x["path"] for x in plan["runs"]] == ["recipe/fold0", "recipe/fold1", "recipe/fold2"]
    splits = [json.loads((out / x["path"] / "splits.json").read_text()) for x in plan["runs"]]
    everyone = set(splits[0]["train"]) | set(splits[0]["val"]) | set(splits[0]["test"])
    tested = [s for sp in splits for s in sp["test"]]
    assert sorted(tested) == sorted(everyone), "every subject is tested exactly once"
    for sp in splits: assert not set(sp["val"]) & set(sp["test"]) and not set(sp["train"]) & set(sp["test"])
    assert (pd.read_csv(out / "summary.csv").n == 3).all()


KD_TINY = [*TINY[:-1], "train.max_epochs=1"]


def test_sweep_reports_the_teacher_a_run_trained_first(tmp_path):
    "A `gaitlab_kd` run trains its teacher first: the sweep evaluates that teacher and reports it, without training it twice."
    out = tmp_path / "K"
    args = MEDCLIP + ["sweep", "gaitlab_kd", "--out", str(out), "--bootstrap", "20", "--quiet", *KD_TINY]
    r = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    plan = read_plan(out)
    assert plan["teachers"] == {"teacher": "recipe"}
    assert [(x["variant"], x["seed"], x["path"], x["status"]) for x in plan["runs"]] == [
        ("recipe", 0, "recipe/seed0", "done"), ("teacher", 0, "recipe/seed0-teacher", "done")]
    assert sorted(p.name for p in (out / "recipe").iterdir()) == ["seed0", "seed0-teacher"]   # one teacher, where train put it
    student, teacher = out / "recipe" / "seed0", out / "recipe" / "seed0-teacher"
    assert "video_encoder: frames:resnet18" in (teacher / "config.yaml").read_text()
    assert json.loads((teacher / "splits.json").read_text()) == json.loads((student / "splits.json").read_text())
    summary, comp = pd.read_csv(out / "summary.csv"), pd.read_csv(out / "comparisons.csv")
    assert summary.variant.unique().tolist() == ["recipe", "teacher"] and (summary.n == 1).all()
    assert comp[["variant_a", "variant_b"]].values.tolist() == [["recipe", "teacher"]]   # the student against its own teacher
    assert "`teacher`: the teacher each `recipe` run trained first" in (out / "summary.md").read_text()
    stamps = _stamps(teacher)
    r = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, text=True)   # again: nothing to train or evaluate
    assert r.returncode == 0, r.stderr[-3000:]
    assert [x["status"] for x in read_plan(out)["runs"]] == ["reused", "reused"] and _stamps(teacher) == stamps
