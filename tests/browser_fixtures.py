"""Test support for the dashboard (owned by the dashboard developer): a FIXTURE analysis bundle and a served app.

`make_fixture_bundle` writes a schema-conformant `RUN_DIR/analysis/` (contract, schema version 1) filled with
plausible RANDOM numbers and a few real tiny H.264 videos, so the dashboard's UI can be built and tested before
`medclip evaluate` writes real bundles. It is a fixture for UI tests, not a model result: nothing in the library
imports it. `serve_dashboard` starts `medclip dashboard` on a free port and waits for `/liveness`.
"""
from __future__ import annotations
import json, os, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from medclip_nb.gait import RANCHO_PHASES as PHASES
from medclip_nb.synth.gait import GAIT_CLASSES as GAITLAB_CLASSES, make_subject, render_clip


def _walker_clip(index:int, frames:int, size:int, seed:int=0) -> tuple:
    "The project's synthetic walker (subject `index`, a class per subject, side view): uint8 frames T×S×S×3, joints T×17×3 (px)."
    r = render_clip(make_subject(index, GAITLAB_CLASSES[index % len(GAITLAB_CLASSES)], seed), 0, frames, size, view="side", seed=seed)
    return r["frames"], r["joints"]


def write_tiny_video(path:os.PathLike, frames:np.ndarray, fps:int=25) -> Path:
    "Write uint8 T×H×W×3 frames as an H.264 mp4 with PyAV (yuv420p, so H and W must be even)."
    import av
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        st = out.add_stream("libx264", rate=fps)
        st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        st.options = {"crf": "28", "preset": "veryfast"}
        for f in frames:
            for pkt in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")): out.mux(pkt)
        for pkt in st.encode(): out.mux(pkt)
    return path


def _gauss_maps(joints:np.ndarray, size:int, scale:int=4, weights=None) -> np.ndarray:
    "T×(S/scale)×(S/scale) Gaussian blobs on the joints (a spatial attention map)."
    h = size // scale; yy, xx = np.mgrid[0:h, 0:h]
    w = np.ones(joints.shape[1]) if weights is None else weights
    out = np.zeros((len(joints), h, h), np.float32)
    for t, jt in enumerate(joints):
        for k, (x, y) in enumerate(jt[:, :2] / scale):
            out[t] += w[k] * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / 4.0)
    return out / max(out.max(), 1e-6)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True)); return e / e.sum(axis=axis, keepdims=True)


def _ci(rng, v):
    w = float(rng.uniform(0.02, 0.06)); return {"": v, "_ci_low": max(0.0, v - w), "_ci_high": min(1.0, v + w)}


def make_fixture_bundle(run_dir:os.PathLike, n:int=60, seed:int=0, classes=None,
                        modalities=("video", "attention", "text"), gates:bool=True, umap:bool=False,
                        n_videos:int=4, frames:int=32, size:int=112, recipe:str="clinicalclip_gait") -> Path:
    """Write a FIXTURE analysis bundle (random but plausible, schema version 1) under `run_dir/analysis`.

    `n` clips of `len(subjects)≈n/3` subjects, `n_videos` real tiny H.264 clips in a ClinicalCLIP-style tree
    under `run_dir/fixture_data` (with clinician joint and spatial maps beside them) that the rows cycle through,
    model spatial attention for the first `n_videos` clips. Deterministic given `seed`. Returns the run dir."""
    rng = np.random.default_rng(seed)
    run_dir = Path(run_dir); an = run_dir / "analysis"; an.mkdir(parents=True, exist_ok=True)
    classes = list(classes or GAITLAB_CLASSES); C, M, D, T = len(classes), len(modalities), 16, frames
    n_sub = max(3, n // 3)
    subjects = np.array([f"S{i + 1:03d}" for i in rng.integers(0, n_sub, n)])
    clip_ids = [f"{s}_c{i}" for i, s in enumerate(subjects)]
    sub_split = {s: rng.choice(["train", "val", "test"], p=[0.6, 0.2, 0.2]) for s in np.unique(subjects)}
    split = np.array([sub_split[s] for s in subjects])
    label = rng.choice(C, n, p=_softmax(rng.normal(0, 0.4, C)))

    # real tiny videos + clinician maps, in the dataset layout the case view reads
    data = run_dir / "fixture_data"; vids = []
    for v in range(min(n_videos, n)):
        sub, cid = subjects[v], clip_ids[v]
        video, j = _walker_clip(v, T, size, seed)
        p = data / "videos" / sub / f"{cid}.mp4"
        if not p.exists(): write_tiny_video(p, video)
        wj = np.where(np.isin(np.arange(17), [11, 12, 13, 14, 15, 16]), 1.0, 0.2)   # clinicians look at the legs
        joint_map = np.clip(wj[None] * (0.6 + 0.4 * np.sin(np.arange(T)[:, None] / 4 + v)), 0, 1).astype(np.float32)
        for sub_dir, arr in (("attention_maps", joint_map), ("attention_spatial", _gauss_maps(j, size, 4, wj).astype(np.float16))):
            q = data / sub_dir / sub / f"{cid}.npy"; q.parent.mkdir(parents=True, exist_ok=True); np.save(q, arr)
        vids.append((str(p.resolve()), j))

    # probabilities: confident and mostly right, a few confusions between neighbouring severities
    logits = rng.normal(0, 1, (n, C)); logits[np.arange(n), label] += rng.uniform(0.5, 4.0, n)
    prob = _softmax(logits); pred = prob.argmax(1)
    texts = ["reduced knee flexion in swing, short steps", "shuffling gait with reduced arm swing",
             "trunk leans laterally over the stance leg", "symmetric gait, normal cadence", "walks with a cane, slow"]
    pred_df = pd.DataFrame({
        "clip_id": clip_ids, "subject_id": subjects, "split": split,
        "video_path": [vids[i % len(vids)][0] if vids else "" for i in range(n)],
        "text": [texts[i % len(texts)] for i in range(n)],
        "label": label.astype(np.int64), "label_name": [classes[k] for k in label],
        "pred": pred.astype(np.int64), "pred_name": [classes[k] for k in pred],
        **{f"prob_{c}": prob[:, k].astype(np.float32) for k, c in enumerate(classes)},
        "target": np.full(n, np.nan), "prediction": np.full(n, np.nan), "correct": pred == label})
    pred_df.to_parquet(an / "predictions.parquet", index=False)

    # embeddings: class clusters per modality, with a modality offset (the "modality gap"); some priors missing
    centres = rng.normal(0, 1, (C, D))
    emb = np.stack([centres[label] + 0.6 * rng.normal(0, 1, (n, D)) + 0.8 * rng.normal(0, 1, D) for _ in range(M)], 1)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True)
    emb = emb.astype(np.float32)
    if "attention" in modalities: emb[rng.random(n) < 0.05, list(modalities).index("attention")] = np.nan
    np.save(an / "embeddings.npy", emb)
    flat = emb.reshape(-1, D); ok = ~np.isnan(flat).any(1)
    mu = flat[ok].mean(0); _, _, vt = np.linalg.svd(flat[ok] - mu, full_matrices=False)
    xy = np.full((len(flat), 2), np.nan, np.float32); xy[ok] = (flat[ok] - mu) @ vt[:2].T
    methods = [("pca", xy)] + ([("umap", np.tanh(xy * 1.5) * 5 + 0.3 * rng.normal(0, 1, xy.shape))] if umap else [])
    rows = []
    for meth, pts in methods:
        for m, mod in enumerate(modalities):
            idx = np.arange(n) * M + m; keep = ok[idx]
            rows.append(pd.DataFrame({"clip_id": np.array(clip_ids)[keep], "modality": mod, "method": meth,
                                      "x": pts[idx[keep], 0], "y": pts[idx[keep], 1],
                                      "label_name": pred_df.label_name.values[keep],
                                      "subject_id": subjects[keep], "split": split[keep]}))
    pd.concat(rows, ignore_index=True).to_parquet(an / "embeddings_2d.parquet", index=False)

    # alignment health from the same embeddings
    al, summ = [], []
    for a in range(M):
        for b in range(a + 1, M):
            pair = f"{modalities[a]}|{modalities[b]}"
            both = np.flatnonzero(~np.isnan(emb[:, a, 0]) & ~np.isnan(emb[:, b, 0]))[:2000]
            ea, eb = emb[both, a], emb[both, b]
            matched = (ea * eb).sum(1)
            perm = (np.arange(len(both)) + rng.integers(1, max(len(both), 2), len(both))) % len(both)
            mism = (ea * eb[perm]).sum(1)
            al.append(pd.DataFrame({"pair": pair, "kind": ["matched"] * len(both) + ["mismatched"] * len(both),
                                    "cosine": np.r_[matched, mism].astype(np.float32)}))
            sim = ea @ eb.T; r = (sim > np.diag(sim)[:, None]).sum(1); r2 = (sim > np.diag(sim)[None]).sum(0)
            summ.append({"pair": pair, "matched_mean": float(matched.mean()), "mismatched_mean": float(mism.mean()),
                         "gap": float(matched.mean() - mism.mean()),
                         "modality_gap": float(np.linalg.norm(np.nanmean(emb[:, a], 0) - np.nanmean(emb[:, b], 0))),
                         **{f"r{k}_ab": float((r < k).mean()) for k in (1, 5, 10)},
                         **{f"r{k}_ba": float((r2 < k).mean()) for k in (1, 5, 10)}})
    pd.concat(al, ignore_index=True).to_parquet(an / "alignment.parquet", index=False)
    pd.DataFrame(summ).to_parquet(an / "alignment_summary.parquet", index=False)

    if gates:
        g = _softmax(rng.normal(0, 0.5, (n, M)) + np.linspace(0.6, 0, M) + 0.3 * (label[:, None] % M == np.arange(M)))
        pd.DataFrame({"clip_id": np.repeat(clip_ids, M), "label_name": np.repeat(pred_df.label_name.values, M),
                      "modality": np.tile(modalities, n), "weight": g.reshape(-1).astype(np.float32)}
                     ).to_parquet(an / "gates.parquet", index=False)

    # frame attention peaking at a class-specific phase; phase attention aggregates it over the Rancho phases
    peak = (label * 7 + 5) % T
    fa = _softmax(-((np.arange(T)[None] - peak[:, None]) ** 2) / 18.0 + 0.3 * rng.normal(0, 1, (n, T)))
    np.save(an / "frame_attention.npy", fa.astype(np.float32))
    phase_of = (np.arange(T) * 8 // T) % 8
    pw = np.stack([fa[:, phase_of == p].sum(1) for p in range(8)], 1)
    pd.DataFrame({"clip_id": np.repeat(clip_ids, 8), "label_name": np.repeat(pred_df.label_name.values, 8),
                  "phase": np.tile(PHASES, n), "weight": pw.reshape(-1).astype(np.float32)}
                 ).to_parquet(an / "phase_attention.parquet", index=False)
    refs = ["model", "uniform", "centre", "random"]; base = {"model": 0.55, "uniform": 0.0, "centre": 0.15, "random": 0.02}
    pd.DataFrame({"clip_id": np.repeat(clip_ids, 4), "label_name": np.repeat(pred_df.label_name.values, 4),
                  "reference": np.tile(refs, n),
                  "spearman": np.clip([base[r] + rng.normal(0, 0.15) for r in np.tile(refs, n)], -1, 1),
                  "topk_overlap": np.clip([base[r] + 0.2 + rng.normal(0, 0.1) for r in np.tile(refs, n)], 0, 1)}
                 ).to_parquet(an / "attention_consistency.parquet", index=False)

    cm = pd.crosstab(pd.Categorical(pred_df.label_name, classes), pd.Categorical(pred_df.pred_name, classes), dropna=False)
    pd.DataFrame([{"true_name": t, "pred_name": p, "count": int(cm.loc[t, p])} for t in classes for p in classes]
                 ).to_parquet(an / "confusion.parquet", index=False)
    conf = prob.max(1); cal = []
    for scaled, c in ((False, conf), (True, np.clip(conf * 0.92 + 0.04, 0, 1))):
        bins = np.minimum((c * 10).astype(int), 9)
        for b in range(10):
            s = bins == b
            if s.any(): cal.append({"bin": b, "confidence": float(c[s].mean()), "accuracy": float((pred == label)[s].mean()),
                                    "count": int(s.sum()), "scaled": scaled})
    pd.DataFrame(cal).to_parquet(an / "calibration.parquet", index=False)

    acc = float((pred == label).mean())
    recalls = [float((pred[label == k] == k).mean()) for k in range(C) if (label == k).any()]
    metrics = {}
    for k, v in {"accuracy": acc, "balanced_accuracy": float(np.mean(recalls)),
                 "macro_f1": float(np.clip(acc - 0.05, 0, 1)), "roc_auc": float(rng.uniform(0.8, 0.95)),
                 "pr_auc": float(rng.uniform(0.6, 0.85)), "ece": float(rng.uniform(0.03, 0.12))}.items():
        metrics.update({k + s: x for s, x in _ci(rng, v).items()})
    metrics.update(majority_rate=float(np.bincount(label).max() / n), ece_scaled=metrics["ece"] * 0.6, temperature=1.4)
    (an / "metrics.json").write_text(json.dumps(metrics, indent=2))
    pd.DataFrame([{"removed": m, "metric": "accuracy", "value": acc - d, "drop": d}
                  for m, d in zip(modalities, rng.uniform(0.0, 0.3, M))]).to_parquet(an / "ablations.parquet", index=False)

    (an / "spatial_attention").mkdir(exist_ok=True)
    for v, (_, j) in enumerate(vids):   # model saliency: on the lower body, a little off the clinician's blobs
        w = np.where(np.arange(17) >= 13, 1.0, 0.1)
        np.save(an / "spatial_attention" / f"{clip_ids[v]}.npy", _gauss_maps(j + 2.0, size, 4, w).astype(np.float16))
    (an / "schema.json").write_text(json.dumps({"version": 1, "recipe": recipe, "task": "classification",
                                                "classes": classes, "modalities": list(modalities),
                                                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                                "fixture": "random UI-test data from tests/browser_fixtures.py"}, indent=2))
    return run_dir


# ---------------------------------------------------------------- serving the app for browser tests

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]


@contextmanager
def serve_dashboard(run_dirs, port:int|None=None, extra_args=(), timeout:float=90.0, log_path=None, pythonpath=None):
    """Run `medclip dashboard RUN_DIR... --port P --no-show` in a subprocess; yield its URL once /liveness answers.
    `pythonpath`: serve the `medclip_nb` of another checkout (its root folder), e.g. to time an older version."""
    port = port or free_port()
    exe = Path(sys.executable).parent / "medclip"
    cmd = [str(exe), "dashboard", *map(str, run_dirs), "--port", str(port), "--no-show", *extra_args]
    log = open(log_path, "w") if log_path else subprocess.DEVNULL
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BOKEH_LOG_LEVEL": "warn", **({"PYTHONPATH": str(pythonpath)} if pythonpath else {})}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dashboard exited with {proc.returncode}: {' '.join(cmd)}"
                                   + (f"\n{Path(log_path).read_text()[-3000:]}" if log_path else ""))
            try:
                with urllib.request.urlopen(url + "/liveness", timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if time.time() - t0 > timeout: raise TimeoutError(f"dashboard did not answer /liveness in {timeout} s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try: proc.wait(10)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        if log_path: log.close()


def launch_chromium(playwright):
    "Debian's Chromium through Playwright (no browser download)."
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def harmless(text:str, url:str="") -> bool:
    "The one console error we tolerate: Google Fonts cannot be reached offline (no name resolution here)."
    return "ERR_NAME_NOT_RESOLVED" in text and any(h in (url or text) for h in ("fonts.googleapis.com", "fonts.gstatic.com"))


# ---------------------------------------------------------------- pytest fixtures (imported by tests/test_dashboard_browser.py)
ROOT = Path(__file__).resolve().parents[1]
GAIT_CLIP = ROOT.parent / "shared" / "media" / "gait" / "mobile_gaitlab_input.mp4"
A_PNG = next(iter(sorted((ROOT.parent / "shared" / "media" / "ultrasound_hc18").glob("*_HC.png"))), None)

# JavaScript run in the page: find the Panel Vega views carrying a CSS class (through Bokeh's view tree).
JS_VEGA_VIEWS = """(cls) => { const found = [], seen = new Set();
  const visit = (v) => { if (!v || seen.has(v)) return; seen.add(v);
    if (v.vega_view && (v.model.css_classes || []).includes(cls)) found.push(v);
    for (const c of (v.child_views || [])) visit(c); };
  for (const r of Bokeh.index) visit(r);
  return found; }"""
JS_POINT_XY = """([cls, i, x, y]) => { const views = (%s)(cls); const vv = views[i].vega_view;
  const o = vv.origin(), p = vv.padding(), r = vv._renderer.canvas().getBoundingClientRect();
  return [r.left + p.left + o[0] + vv.scale('x')(x), r.top + p.top + o[1] + vv.scale('y')(y)]; }""" % JS_VEGA_VIEWS
JS_COLOR_DOMAIN = """([cls, i]) => { const views = (%s)(cls); return views.length > i ? views[i].vega_view.scale('color').domain() : null; }""" % JS_VEGA_VIEWS


def make_real_runs(d:Path) -> Path:
    """Two REAL runs the way a user makes them: a tiny synthetic gait dataset, `clinicalclip_gait` trained with and
    without the clinician attention maps, each evaluated into its analysis bundle. Returns the folder holding both."""
    from medclip_nb.synth.gait import render_gait_dataset
    from medclip_nb.train import train
    from medclip_nb.evaluate import evaluate_run
    data = render_gait_dataset(d / "data", subjects=18, clips_per_subject=2, frames=16, size=64, seed=0, progress=False)
    common = ["train.max_epochs=2", "data.size=64", "data.frames=8"]
    no_priors = ["data.modalities=[video]", "model.modalities=[video]", "model.losses.prior_clip=0.0",
                 "model.losses.attention_consistency=0.0", "model.losses.kinematics_attention=0.0"]
    # gated fusion so the Gates view has weights to show (the recipe's default fusion is concat)
    for name, extra in (("with_priors", ["model.fusion=gated"]), ("video_only", no_priors)):
        run = train("clinicalclip_gait", data=data, out=d / "runs", name=name, overrides=common + extra, progress=False)
        evaluate_run(run, progress=False)
    return d / "runs"


@pytest.fixture(scope="module")
def dashboard_runs(tmp_path_factory):
    """Run folders to serve: `MEDCLIP_DASHBOARD_RUNS` (paths separated by ':') when set (e.g. the demo run), else two
    real tiny runs trained and evaluated here (`make_real_runs`)."""
    env = os.environ.get("MEDCLIP_DASHBOARD_RUNS")
    if env: return [Path(p) for p in env.split(os.pathsep)]
    return [make_real_runs(tmp_path_factory.mktemp("dash_runs"))]


@pytest.fixture(scope="module")
def dashboard_out():
    "Screenshots for review: test-output/dashboard/ (git-ignored)."
    out = ROOT / "test-output" / "dashboard"; out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def dashboard_url(dashboard_runs, dashboard_out):
    with serve_dashboard(dashboard_runs, extra_args=["--max-upload-mb", "5"], log_path=dashboard_out / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def chromium_browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        br = launch_chromium(pw)
        yield br
        br.close()


class ConsoleLog:
    "Console errors and uncaught page errors of one page, minus the tolerated offline Google-Fonts failure."
    def __init__(self, page):
        self.errors = []
        page.on("console", lambda m: m.type == "error" and not harmless(m.text, (m.location or {}).get("url", ""))
                and self.errors.append(f"console: {m.text} @ {(m.location or {}).get('url', '')}"))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


@pytest.fixture
def dash_page(chromium_browser):
    "A fresh page (1400×1800: tall enough that a screenshot shows a whole view) collecting console errors in `.console.errors`."
    ctx = chromium_browser.new_context(viewport={"width": 1400, "height": 1800})
    pg = ctx.new_page(); pg.set_default_timeout(45_000)
    pg.console = ConsoleLog(pg)
    yield pg
    ctx.close()


SPATIAL_TINY = ["data.synth.subjects=16", "data.synth.clips_per_subject=2", "data.size=64", "data.batch_size=8",
                "train.max_epochs=1", "train.stages=[{epochs: 1, stage: joint}]", "model.embed_dim=32", "model.text_encoder=hash"]


def make_image_run(d:Path) -> Path:
    "A REAL tiny image run: `spatialclip_quality` (image + text + anatomy boxes) on its synthetic data, trained and evaluated."
    from medclip_nb.train import train
    from medclip_nb.evaluate import evaluate_run
    run = train("spatialclip_quality", out=d, name="spatialclip", overrides=SPATIAL_TINY, progress=False)
    evaluate_run(run, progress=False, n_boot=20)
    return run


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    return make_image_run(tmp_path_factory.mktemp("dash_image_run"))


@pytest.fixture(scope="module")
def image_dashboard_url(image_run, dashboard_out):
    with serve_dashboard([image_run], log_path=dashboard_out / "server_image.log") as url:
        yield url


# ---------------------------------------------------------------- many collaborators at once, offline
# Timestamp every finished vega-embed call (Panel's Vega pane calls window.vegaEmbed once per draw).
VEGA_HOOK = """(() => { let ve; window.__vegaDone = [];
  Object.defineProperty(window, 'vegaEmbed', { configurable: true, get() { return ve; },
    set(v) { ve = Object.assign((...a) => v(...a).then(r => { window.__vegaDone.push(performance.now()); return r; }), v); } });
})();"""


def is_local(url:str) -> bool:
    "A request that stays on this machine: the local server, or data/blob/about URLs the page makes itself."
    from urllib.parse import urlsplit
    u = urlsplit(url)
    return u.scheme in ("data", "blob", "about") or (u.hostname or "") in ("127.0.0.1", "localhost", "::1")


def offline_context(browser, external:list, errors:list, viewport=None):
    """A browser context that lets only local requests through: any other is aborted and its URL appended to
    `external` (a hospital machine has no network; no resource may come from a CDN). Console errors and page errors
    of every page go to `errors` (nothing is filtered: offline, a font fetch would be an external request)."""
    ctx = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
    def route(r):
        if is_local(r.request.url): r.continue_()
        else: external.append(r.request.url); r.abort()
    ctx.route("**/*", route)
    ctx.on("page", lambda pg: (pg.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}")),
                               pg.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))))
    return ctx


def browser_cpu(browser) -> dict:
    "CPU seconds used so far by each kind of Chromium process (renderer, browser, GPU, network...), summed (CDP SystemInfo)."
    info = browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")["processInfo"]
    out = {}
    for p in info: out[p["type"]] = out.get(p["type"], 0.0) + p["cpuTime"]
    return out


def warm_up(ctx, url:str, n_charts:int, visits:int=2):
    """Open `url` `visits` times, one after the other, in context `ctx` (a collaborator who has opened the dashboard
    before): its JS/CSS are then in the context's HTTP cache and, from the second visit on, in V8's code cache."""
    for _ in range(visits):
        pg = ctx.new_page(); pg.set_default_timeout(120_000); pg.goto(url)
        pg.wait_for_function(f"window.__vegaDone && window.__vegaDone.length >= {n_charts}", polling=50)
        pg.wait_for_timeout(500); pg.close()


def concurrent_first_render(browser, url:str, n_pages:int=20, n_charts:int=1, timeout_s:float=120.0, warm:bool=False) -> dict:
    """Open `url` in `n_pages` pages of one browser context at the same moment and time each page's first render: from
    the moment all were asked to navigate to its `n_charts`-th Vega chart drawn. `warm`: the context has opened the
    dashboard twice before (`warm_up`), else its caches start empty. Returns {"ms": [...], "errors": [...],
    "external": [...], "alerts": [...], "browser_cpu": {process type: s}}: `errors` console/page errors, `external`
    requests that tried to leave the machine (aborted), `alerts` texts of Panel's error alerts (.alert-danger) per page,
    `browser_cpu` the CPU Chromium's processes spent from the navigation to the last page drawn."""
    external, errors = [], []
    ctx = offline_context(browser, external, errors); ctx.add_init_script(VEGA_HOOK)
    if warm: warm_up(ctx, url, n_charts)
    pages = [ctx.new_page() for _ in range(n_pages)]
    for pg in pages: pg.set_default_timeout(timeout_s * 1000)
    cpu0 = browser_cpu(browser)
    t0 = time.time() * 1000
    for pg in pages: pg.evaluate("(u) => { window.location.href = u; }", url)     # navigate all, wait for none
    ms, alerts = [], []
    for pg in pages:
        pg.wait_for_function(f"window.__vegaDone && window.__vegaDone.length >= {n_charts}", polling=50)
        ms.append(pg.evaluate(f"performance.timeOrigin + window.__vegaDone[{n_charts - 1}]") - t0)
    cpu1 = browser_cpu(browser)
    for pg in pages:
        pg.wait_for_timeout(200)
        alerts += pg.locator(".alert-danger").all_inner_texts()
    ctx.close()
    return {"ms": ms, "errors": errors, "external": external, "alerts": alerts,
            "browser_cpu": {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}}


def server_cpu_s(url:str) -> float:
    "CPU seconds (user + system) used so far by the `medclip dashboard` process serving `url` (found by its --port)."
    import psutil
    port = url.rsplit(":", 1)[1]
    p = next(p for p in psutil.process_iter(["cmdline"])
             if p.info["cmdline"] and "dashboard" in " ".join(p.info["cmdline"]) and port in p.info["cmdline"])
    t = p.cpu_times(); return t.user + t.system


JS_BOKEH_MODELS = "(() => { let n = 0; for (const d of Bokeh.documents) n += d.all_models.size; return n; })()"


def first_view_profile(browser, url:str, n_charts:int) -> dict:
    """What one page costs to open the first view (a fresh context, nothing cached, Chromium's own counters):
    `bytes` and `requests` per resource type (Script, Stylesheet, Document...) as received, `js_files` the script URLs,
    `models` the Bokeh models in the page, `script_s`/`task_s` the main thread's time in JavaScript / in all tasks
    (CDP Performance), `renderer_cpu_s` the renderer process's CPU, `ws_bytes` the websocket messages received."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}); ctx.add_init_script(VEGA_HOOK)
    pg = ctx.new_page(); pg.set_default_timeout(120_000)
    cdp = ctx.new_cdp_session(pg); cdp.send("Performance.enable"); cdp.send("Network.enable")
    kinds, sizes, reqs, js, ws = {}, {}, {}, [], [0]
    cdp.on("Network.responseReceived", lambda e: kinds.__setitem__(e["requestId"], (e["type"], e["response"]["url"])))
    def done(e):
        kind, u = kinds.get(e["requestId"], ("Other", ""))
        sizes[kind] = sizes.get(kind, 0) + e["encodedDataLength"]; reqs[kind] = reqs.get(kind, 0) + 1
        if kind == "Script": js.append(u)
    cdp.on("Network.loadingFinished", done)
    cdp.on("Network.webSocketFrameReceived", lambda e: ws.__setitem__(0, ws[0] + len(e["response"]["payloadData"])))
    cpu0 = browser_cpu(browser)
    pg.goto(url)
    pg.wait_for_function(f"window.__vegaDone && window.__vegaDone.length >= {n_charts}", polling=50)
    first_ms = pg.evaluate(f"window.__vegaDone[{n_charts - 1}]")
    pg.wait_for_timeout(300)
    m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
    cpu = browser_cpu(browser).get("renderer", 0.0) - cpu0.get("renderer", 0.0)
    out = {"first_ms": first_ms, "bytes": sizes, "requests": reqs, "js_files": js, "models": pg.evaluate(JS_BOKEH_MODELS),
           "script_s": m.get("ScriptDuration", 0.0), "task_s": m.get("TaskDuration", 0.0), "renderer_cpu_s": cpu, "ws_bytes": ws[0]}
    ctx.close()
    return out


def summary_chart_count(browser, url:str, settle_ms:int=1500) -> int:
    "How many Vega charts the first view draws (one page, after it settles): the number a first render waits for."
    ctx = browser.new_context(); ctx.add_init_script(VEGA_HOOK)
    pg = ctx.new_page(); pg.set_default_timeout(90_000)
    pg.goto(url); pg.wait_for_function("window.__vegaDone && window.__vegaDone.length >= 1", polling=50)
    n = -1
    while n != pg.evaluate("window.__vegaDone.length"):        # until no new chart appears within settle_ms
        n = pg.evaluate("window.__vegaDone.length"); pg.wait_for_timeout(settle_ms)
    ctx.close()
    return n


def make_fixture_sweep(d:os.PathLike, variants=("recipe", "no_maps"), seeds=(0, 1, 2), pending:int=1,
                       metrics=("macro_f1", "balanced_accuracy", "accuracy")) -> Path:
    """A FIXTURE sweep folder in the `medclip sweep` contract: `sweep.json`, one fixture run folder per (variant,
    seed) under `d/variant/seed_S`, `summary.csv` computed from the runs' metrics and `comparisons.csv` (each variant
    against the first; the p-value is a placeholder, this is UI-test data). The last `pending` runs are listed as
    still running, without a bundle. Returns `d`."""
    d = Path(d); d.mkdir(parents=True, exist_ok=True)
    runs, rows = [], []
    for vi, v in enumerate(variants):
        for si, s in enumerate(seeds):
            rel = f"{v}/seed_{s}"
            done = len(runs) < len(variants) * len(seeds) - pending
            if done:
                make_fixture_bundle(d / rel, n=24, seed=10 * vi + si, n_videos=1, frames=8, size=64,
                                    modalities=("video", "attention", "text") if vi == 0 else ("video", "text"))
                m = json.loads((d / rel / "analysis" / "metrics.json").read_text())
                rows += [{"variant": v, "seed": s, "metric": k, "value": float(m[k])} for k in metrics if k in m]
            runs.append({"variant": v, "seed": s, "fold": None, "path": rel, "status": "done" if done else "running"})
    (d / "sweep.json").write_text(json.dumps({"recipe": "clinicalclip_gait", "data": None, "overrides": [],
                                              "variants": {v: [] for v in variants}, "seeds": list(seeds), "folds": None,
                                              "runs": runs}, indent=2))
    df = pd.DataFrame(rows)
    summary = df.groupby(["variant", "metric"], sort=False).value.agg(["mean", "std", "min", "max", "count"]).reset_index()
    summary.rename(columns={"std": "sd", "count": "n"}).to_csv(d / "summary.csv", index=False)
    means = df.groupby(["variant", "metric"]).value.mean()
    comp = [{"variant_a": v, "variant_b": variants[0], "metric": k, "mean_difference": means[v, k] - means[variants[0], k],
             "p_value": 0.5} for v in variants[1:] for k in metrics if (v, k) in means and (variants[0], k) in means]
    pd.DataFrame(comp, columns=["variant_a", "variant_b", "metric", "mean_difference", "p_value"]).to_csv(d / "comparisons.csv", index=False)
    return d


# ---------------------------------------------------------------- 20 collaborators on 20 machines: the server's side
def _bokeh_frames(msgtype:str, msgid:str) -> list:
    "A client message of Bokeh's websocket protocol: header, metadata and content frames."
    return [json.dumps({"msgid": msgid, "msgtype": msgtype}), "{}", "{}"]


async def _first_view_over_the_wire(url:str, t0:float, static:bool) -> dict:
    """What a browser asks of the server to show the first view, without the browser: GET the page (the server builds
    the session), GET every script and stylesheet the page names (`static`: a first visit), open the websocket with
    the page's token and pull the document (every model of the first view, the Vega specs with their data).
    Returns {"ms": from `t0` to the document received, "bytes": all bytes received}."""
    import re
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect
    http = AsyncHTTPClient(force_instance=True, max_body_size=50 * 2**20)
    page = (await http.fetch(url + "/")).body.decode()
    got = len(page)
    if static:
        for u in dict.fromkeys(re.findall(r'(?:src|href)="/?(static/[^"]+)"', page)):
            got += len((await http.fetch(f"{url}/{u}")).body)
    token = re.search(r'"token":\s*"([^"]+)"', page).group(1)
    ws = await websocket_connect(HTTPRequest(url.replace("http", "ws", 1) + "/ws"), subprotocols=["bokeh", token],
                                 max_message_size=50 * 2**20)
    async def message():
        header = json.loads(await ws.read_message()); meta, content = await ws.read_message(), await ws.read_message()
        for _ in range(header.get("num_buffers", 0)): content += str(len(await ws.read_message()))
        return header["msgtype"], len(meta) + len(content)
    while (await message())[0] != "ACK": pass
    for f in _bokeh_frames("PULL-DOC-REQ", "1"): await ws.write_message(f)
    while True:
        kind, n = await message(); got += n
        if kind == "PULL-DOC-REPLY": break
    ms = time.time() * 1000 - t0
    ws.close(); http.close()
    return {"ms": ms, "bytes": got}


def wire_first_views(url:str, n:int=20, static:bool=True) -> list:
    """`n` collaborators on `n` machines open the dashboard at the same moment: what the server alone takes to give each
    its first view (page, scripts and stylesheets when `static`, the session's document), measured by a light
    protocol client (no browser on these cores). One dict per client, see `_first_view_over_the_wire`."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor
    async def all_at_once():
        t0 = time.time() * 1000
        return await asyncio.gather(*[_first_view_over_the_wire(url, t0, static) for _ in range(n)])
    with ThreadPoolExecutor(1) as ex:           # a loop of its own: Playwright's sync API runs one in this thread
        return ex.submit(lambda: asyncio.run(all_at_once())).result()
