"""The behaviour guard of the redesign (#26): each recipe trained tiny (seeded, CPU, the sizes its tutorial uses under
test) and evaluated; `python tests/golden.py` rewrites `tests/golden_metrics.json`, `test_golden.py` retrains and compares."""
import json, sys, tempfile
from pathlib import Path

GOLDEN = Path(__file__).with_name("golden_metrics.json")
GAIT = ["data.synth.subjects=9", "data.synth.clips_per_subject=2", "data.synth.frames=8", "data.synth.size=32",
        "data.frames=4", "data.size=32", "data.batch_size=6", "model.embed_dim=32"]
TINY = {
    "clinicalclip_gait": GAIT + ["train.max_epochs=2"],
    "gaitlab_kd": GAIT + ["train.max_epochs=1"],
    "cardiacclip_lvef": ["data.synth.subjects=12", "data.frames=4", "data.size=32", "data.batch_size=4",
                         "train.max_epochs=1", "model.embed_dim=32"],
    "scoligait": ["data.synth.subjects=12", "data.synth.clips_per_subject=2", "data.synth.frames=16", "data.synth.size=32",
                  "data.frames=4", "data.size=32", "data.batch_size=6", "train.max_epochs=1", "model.embed_dim=32",
                  "model.text_encoder=hash"],
    "spatialclip_quality": ["data.synth.subjects=16", "data.synth.clips_per_subject=2", "data.size=64", "data.batch_size=8",
                            "train.max_epochs=3", "train.stages=[{epochs: 2, stage: 0, losses: {clip: 0.0}}, {epochs: 1, stage: joint}]",
                            "model.embed_dim=32", "model.text_encoder=hash"],
}


def golden_run(recipe:str, out:Path) -> dict:
    "Train `recipe` tiny into `out`, evaluate it (50 bootstrap resamples) and return both metrics files."
    from medclip_nb.train import train
    from medclip_nb.evaluate import evaluate_run
    run = train(recipe, out=out, name=recipe, overrides=TINY[recipe], progress=False)
    analysis = evaluate_run(run, progress=False, n_boot=50)
    return {"train": json.loads((Path(run) / "metrics.json").read_text()),
            "analysis": json.loads((Path(analysis) / "metrics.json").read_text())}


def differences(want, got, path="", tol=1e-6) -> list:
    "Every place where `got` differs from `want` (numbers within `tol`)."
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want if k not in got] + [f"{path}.{k}: new" for k in got if k not in want]
        return out + [d for k in want if k in got for d in differences(want[k], got[k], f"{path}.{k}", tol)]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [d for i, (a, b) in enumerate(zip(want, got)) for d in differences(a, b, f"{path}[{i}]", tol)]
    if isinstance(want, (int, float)) and isinstance(got, (int, float)) and not isinstance(want, bool):
        if want != want and got != got: return []     # both NaN
        return [] if abs(want - got) <= tol else [f"{path}: {want} -> {got}"]
    return [] if want == got else [f"{path}: {want!r} -> {got!r}"]


if __name__ == "__main__":
    recipes = sys.argv[1:] or list(TINY)
    old = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    with tempfile.TemporaryDirectory() as d:
        for r in recipes:
            old[r] = golden_run(r, Path(d))
            print(r, "done", flush=True)
    GOLDEN.write_text(json.dumps(old, indent=1, sort_keys=True) + "\n")
