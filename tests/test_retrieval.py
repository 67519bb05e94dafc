"""Retrieval voting (#30 item 4): `medclip index`, `medclip predict RUN FILE --vote K [--library LIB]` and
`medclip evaluate RUN --vote K`, through the `medclip` command, on a tiny clinicalclip_gait run (tests/golden.py sizes)."""
import contextlib, io, json, sys
from pathlib import Path
import numpy as np
import pandas as pd
import panel as pn
import pytest
from medclip_nb.cli import main
from medclip_nb.dashboard import Dashboard
from medclip_nb.retrieval import load_library, LIBRARY_FILES, VOTE_FILES, RUN_LIBRARY
from medclip_nb.run import load_run
from medclip_nb.train import train

sys.path.insert(0, str(Path(__file__).parent))
from golden import TINY


def medclip(*argv) -> tuple:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def gait(tmp_path_factory):
    d = tmp_path_factory.mktemp("retrieval")
    return train("clinicalclip_gait", out=d, name="gait", overrides=TINY["clinicalclip_gait"], progress=False), d


def test_predict_vote_lists_the_neighbours_and_finds_the_clip_itself(gait):
    run_dir, d = gait
    run = load_run(run_dir)
    rc, out, err = medclip("index", run_dir, "--split", "test", "--out", d / "test_lib")
    assert rc == 0, err
    lib = load_library(d / "test_lib")
    assert sorted(set(lib.subject_ids)) == sorted(run.splits["test"]) and lib.modality == "video"
    clip = run.dataset("test").records.iloc[0]
    rc, out, err = medclip("predict", run_dir, clip["video_path"], "--vote", "5", "--library", d / "test_lib", "--json")
    assert rc == 0, err
    v = json.loads(out)["vote"]
    assert v["k"] == min(5, len(lib)) and len(v["neighbours"]) == v["k"]
    first = v["neighbours"][0]            # predict reads the file as the index read it: the clip finds itself
    assert first["clip_id"] == clip["clip_id"] and first["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert first["label"] == clip["label_name"] and set(first) == {"clip_id", "subject_id", "label", "similarity"}
    assert v["predicted"] in run.classes and sum(v["probabilities"]) == pytest.approx(1.0)
    assert json.loads(out)["probabilities"]          # the head's prediction stays beside the vote


def test_default_library_is_the_training_split_and_the_table_lists_it(gait):
    run_dir, _ = gait
    run = load_run(run_dir)
    clip = run.dataset("test").records.iloc[0]
    rc, out, err = medclip("predict", run_dir, clip["video_path"], "--vote", "5")
    assert rc == 0, err
    assert "retrieval vote: 5 nearest clips of" in out and "training split" in out
    table = out[out.index("retrieval vote"):].splitlines()
    hdr = next(i for i, l in enumerate(table) if l.split()[:4] == ["clip", "subject", "label", "similarity"])
    rows = [l.split() for l in table[hdr + 1:]]
    assert len(rows) == 5 and all(r[1] in run.splits["train"] for r in rows)
    sims = [float(r[-1]) for r in rows]; assert sims == sorted(sims, reverse=True)
    assert sorted(set(load_library(Path(run_dir) / RUN_LIBRARY).subject_ids)) == sorted(run.splits["train"])


def test_evaluate_vote_beside_the_head_matches_an_independent_vote(gait):
    run_dir, _ = gait
    rc, out, err = medclip("evaluate", run_dir, "--vote", "5", "--bootstrap", "10", "--no-spatial", "--no-progress")
    assert rc == 0, err
    assert "vote@5" in out and "accuracy" in out
    an = Path(run_dir) / "analysis"
    m, table = json.loads((an / "metrics.json").read_text()), pd.read_parquet(an / VOTE_FILES[1]).set_index("metric")
    assert table.loc["accuracy", "head"] == pytest.approx(m["accuracy"]) and m["vote_k"] == 5
    # the vote recomputed here from the bundle alone: unit embeddings, 5 nearest training clips, similarity-weighted labels
    pred, schema = pd.read_parquet(an / "predictions.parquet"), json.loads((an / "schema.json").read_text())
    E = np.load(an / "embeddings.npy")[:, schema["modalities"].index("video")]
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    tr, te = (pred["split"] == "train").to_numpy(), (pred["split"] == "test").to_numpy()
    S = E[te] @ E[tr].T
    nn = np.argsort(-S, 1)[:, :5]
    labels = pred.loc[tr, "label"].to_numpy()
    votes = np.zeros((te.sum(), len(schema["classes"])))
    for i, row in enumerate(nn):
        for j in row: votes[i, labels[j]] += max(S[i, j], 0)
    acc = float((votes.argmax(1) == pred.loc[te, "label"].to_numpy()).mean())
    assert table.loc["accuracy", "vote"] == pytest.approx(acc) and m["vote_accuracy"] == pytest.approx(acc)
    vp = pd.read_parquet(an / VOTE_FILES[0])
    train_ids = set(pred.loc[tr, "clip_id"])
    assert all(set(n.split(",")) <= train_ids for n in vp["neighbours"])
    d = Dashboard([run_dir])                  # the bundle, vote files beside it, still opens
    assert not [a for a in d.views["Summary"]().select(pn.pane.Alert) if a.alert_type == "danger"]


def test_a_library_of_another_run_or_a_broken_one_is_refused(gait, tmp_path):
    run_dir, d = gait
    other = train("clinicalclip_gait", out=tmp_path, name="other", overrides=TINY["clinicalclip_gait"] + ["seed=1", "train.max_epochs=1"], progress=False)
    assert medclip("index", other, "--out", tmp_path / "other_lib")[0] == 0
    clip = load_run(run_dir).dataset("test").records.iloc[0]["video_path"]
    rc, _, err = medclip("predict", run_dir, clip, "--vote", "3", "--library", tmp_path / "other_lib")
    assert rc == 2 and "not by this run's checkpoint" in err and "medclip index" in err
    (tmp_path / "other_lib" / LIBRARY_FILES[0]).write_bytes(b"half")
    rc, _, err = medclip("predict", other, clip, "--vote", "3", "--library", tmp_path / "other_lib")
    assert rc == 2 and "does not match" in err
    rc, _, err = medclip("predict", run_dir, clip, "--vote", "0")
    assert rc == 2 and "k >= 1" in err
