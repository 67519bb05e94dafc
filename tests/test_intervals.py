"Subject-bootstrap BCa intervals (issue 27, item 3): they hold their estimate in the demo-like case and cover a known truth."
import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn import metrics as skm

from medclip_nb.metrics import bca_interval, bootstrap_ci, group_resamples

K = 9


def macro_f1(x) -> float:
    "scikit-learn's macro-F1 over all K labels (zero_division=0; checked below), without its input checks: fast enough to resample."
    cm = np.bincount(x["label"].to_numpy() * K + x["pred"].to_numpy(), minlength=K * K).reshape(K, K)
    tp = np.diag(cm); den = cm.sum(0) + cm.sum(1)
    return float(np.mean(np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)))


def demo_case(per_class:int, seed:int=0, clips:int=3) -> pd.DataFrame:
    "K classes, `per_class` subjects each, `clips` clips per subject; a plausible classifier: 3 clips in 4 right, the rest random."
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(K), per_class * clips); subj = np.repeat(np.arange(K * per_class), clips)
    pred = np.where(rng.random(len(y)) < 0.75, y, rng.integers(0, K, len(y)))
    return pd.DataFrame({"subject_id": subj, "label": y, "pred": pred})


def test_demo_like_interval_holds_its_estimate():
    "9 subjects, one per class, 3 clips each: the 95 % macro-F1 interval (within class, as evaluate computes it) holds the estimate."
    for seed in range(5):
        d = demo_case(1, seed); est = macro_f1(d)
        assert abs(est - skm.f1_score(d.label, d.pred, average="macro", labels=range(K), zero_division=0)) < 1e-12
        iv = bootstrap_ci(d, macro_f1, n=300, seed=seed, strata="label")
        assert iv.low <= est <= iv.high, (est, iv)
        plain = bootstrap_ci(d, macro_f1, n=300, seed=seed)      # without strata: NaN with a reason, never a miss
        assert (np.isnan(plain).all() and "biased" in plain.reason) or plain.low <= est <= plain.high, (est, plain)
        d3 = demo_case(3, seed); est3 = macro_f1(d3)
        iv3 = bootstrap_ci(d3, macro_f1, n=300, seed=seed, strata="label")
        assert iv3.low < est3 < iv3.high, (est3, iv3)
        print(f"seed {seed}: 1 subject/class {est:.3f} {iv}; 3 subjects/class {est3:.3f} [{iv3.low:.3f}, {iv3.high:.3f}]")


def auc_resamples(y, s, R):
    "ROC-AUC of each resample (rows of R: subject indices), ties half, by pair counts weighted by each subject's multiplicity."
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    C = (s[pos][:, None] > s[neg][None]) + 0.5 * (s[pos][:, None] == s[neg][None])
    W = np.stack([np.bincount(r, minlength=len(y)) for r in R]).astype(float)
    return np.einsum("bp,pn,bn->b", W[:, pos], C, W[:, neg]) / (W[:, pos].sum(1) * W[:, neg].sum(1))


def test_coverage_of_a_known_auc():
    """200 test sets of 80 subjects from a known binormal model (N(0,1) vs N(1,1): true ROC-AUC Φ(1/√2)); the 95 % BCa
    subject-bootstrap interval (within class, 400 resamples, jackknife over subjects) covers the truth in 90–98 % of them."""
    n_sets, n, shift = 200, 80, 1.0
    truth, rng, hits = norm.cdf(shift / np.sqrt(2)), np.random.default_rng(2027), 0
    everyone = np.arange(n)
    for i in range(n_sets):
        y = (rng.random(n) < 0.5).astype(int)
        if not 2 <= y.sum() <= n - 2: y[:2] = [0, 1]
        s = rng.normal(shift * y, 1.0)
        est = auc_resamples(y, s, [everyone])[0]
        assert abs(est - skm.roc_auc_score(y, s)) < 1e-12
        boot = auc_resamples(y, s, group_resamples(n, 400, seed=i, strata=y))
        jack = auc_resamples(y, s, [np.delete(everyone, g) for g in range(n)])
        iv = bca_interval(est, boot, jack)
        assert iv.low <= est <= iv.high
        hits += iv.low <= truth <= iv.high
    print(f"coverage of the 95 % BCa subject-bootstrap interval of ROC-AUC (true {truth:.3f}): {hits}/{n_sets} = {hits / n_sets:.1%}")
    assert 0.90 <= hits / n_sets <= 0.98


def test_coverage_of_a_known_accuracy():
    "Subject-level accuracy (true 0.75, 60 subjects per test set): the plain (unstratified) subject bootstrap covers it in 90–98 %."
    n_sets, n, p = 200, 60, 0.75
    rng, hits = np.random.default_rng(7), 0
    everyone = np.arange(n)
    for i in range(n_sets):
        right = (rng.random(n) < p).astype(float)
        R = group_resamples(n, 400, seed=i)
        iv = bca_interval(right.mean(), right[R].mean(1), [np.delete(right, g).mean() for g in everyone])
        hits += iv.low <= p <= iv.high
    print(f"coverage of the 95 % BCa subject-bootstrap interval of accuracy (true {p}): {hits}/{n_sets} = {hits / n_sets:.1%}")
    assert 0.90 <= hits / n_sets <= 0.98
