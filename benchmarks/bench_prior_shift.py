"""How far the synthetic gait data's priors are from a real video's: the shift a synthetic-trained model meets.

Run: `.venv/bin/python benchmarks/bench_prior_shift.py RUN DATA POSE` where
- RUN: a run trained on DATA (`medclip demo --out D` writes `D/runs/clinicalclip_gait`); printed for the record,
  and its split is not needed: the test clips are read from DATA's `labels.csv`;
- DATA: the synthetic gait dataset (`D/data`): its test clips' `knowledge_map` and `attention_map` columns (what the
  model was trained and tested on: pose-derived priors by default, `data.synth.priors=exact` the generator's exact ones);
- POSE: a `medclip pose --out POSE VIDEO...` folder (its `pose_index.csv`): the real clips' priors.

Per feature (the 238 knowledge-map features averaged over each clip's frames; the 17 joints' mean attention), the
standardised mean difference between the real clips and the synthetic test clips,
`SMD = (mean_real − mean_synth) / pooled SD` (the pooled SD is dominated by the synthetic clips: there are few real
ones). A feature with no spread at all (pooled SD < 1e-6) has no finite SMD: it is counted apart, as "constant", and
as shifted when the means differ. Printed: the median |SMD| and the share of features with |SMD| > 1, per prior.
With `--exact`, the same for the dataset's exact priors (`knowledge_map_exact`, `attention_map_exact` columns) when
it has them, for a before/after from one dataset.
"""
import argparse, sys
from pathlib import Path

import numpy as np
import pandas as pd


def clip_means(root:Path, paths) -> np.ndarray:
    "Per clip, the mean over frames of its T×F prior (NaN-safe): an N×F array."
    return np.stack([np.nanmean(np.load(root / p).astype(np.float64), 0) for p in paths])


def smd(real:np.ndarray, synth:np.ndarray, eps:float=1e-6) -> tuple:
    "Per-feature SMD (NaN where the pooled SD < eps), and a mask of constant features whose means differ."
    n1, n2 = len(real), len(synth)
    v1 = real.var(0, ddof=1) if n1 > 1 else np.zeros(real.shape[1])
    v2 = synth.var(0, ddof=1) if n2 > 1 else np.zeros(synth.shape[1])
    sd = np.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / max(n1 + n2 - 2, 1))
    diff = real.mean(0) - synth.mean(0)
    ok = sd >= eps
    out = np.full(real.shape[1], np.nan)
    out[ok] = diff[ok] / sd[ok]
    return out, ~ok & (np.abs(diff) > eps)


def shift_row(name:str, real:np.ndarray, synth:np.ndarray) -> dict:
    d, const_shift = smd(real, synth)
    a = np.abs(d[np.isfinite(d)])
    return {"prior": name, "features": real.shape[1], "median_abs_smd": float(np.median(a)) if a.size else float("nan"),
            "share_abs_smd_gt_1": float(((a > 1).sum() + const_shift.sum()) / real.shape[1]),
            "constant": int((~np.isfinite(d)).sum()), "n_synth": len(synth), "n_real": len(real)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run"); p.add_argument("data"); p.add_argument("pose")
    p.add_argument("--split", default="test", help="synthetic clips of this split (default: test; 'all' for every clip)")
    p.add_argument("--exact", action="store_true", help="also the dataset's exact priors (its *_exact columns)")
    a = p.parse_args(argv)
    data, pose = Path(a.data), Path(a.pose)
    lab = pd.read_csv(data / "labels.csv")
    if a.split != "all": lab = lab[lab.split == a.split]
    if lab.empty: sys.exit(f"{data / 'labels.csv'}: no clips of split {a.split!r}")
    idx = pd.read_csv(pose / "pose_index.csv")
    print(f"run {a.run}\nsynthetic: {data} ({len(lab)} {a.split} clips); real: {pose} ({len(idx)} clips: {', '.join(idx.clip_id)})")
    real = {"knowledge_map": clip_means(pose, idx.knowledge_map), "attention": clip_means(pose, idx.attention_map)}
    cols = [("", "knowledge_map", "attention_map")]
    if a.exact and {"knowledge_map_exact", "attention_map_exact"} <= set(lab.columns):
        cols.append((" (exact)", "knowledge_map_exact", "attention_map_exact"))
    rows = []
    for tag, km, at in cols:
        rows.append(shift_row("knowledge_map" + tag, real["knowledge_map"], clip_means(data, lab[km])))
        rows.append(shift_row("attention (per joint)" + tag, real["attention"], clip_means(data, lab[at])))
    df = pd.DataFrame(rows)
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
