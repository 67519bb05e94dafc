"""Speed of pose extraction on this CPU: decoding + resizing, and mediapipe 0.10.14 Pose (model_complexity=1),
at native resolution and downscaled; plus the analysis after pose.

Run: .venv/bin/python benchmarks/bench_pose.py [--frames N] [--repeats R] [--occlusion-only] [--accuracy-only]
`--occlusion-only` prints just the table of cadence error and flagged parameters on the synthetic walkers
(exact side-view joints, `side_view_walk`; 10 subjects per class unless `--subjects`), both feet seen vs the far leg
hidden (confidence 0), how often each abnormal class flags a defining finding of its condition (`DEFINING`) and, for
knee OA, how often the generator's exact values of those findings lie outside their typical ranges at all (the most
a pipeline can flag against published ranges), and how often the normal and early grades flag each parameter: no mediapipe.
`--accuracy-only` prints just the accuracy table against Stenum et al. 2021 (2D video pose vs motion capture,
sagittal view, PLoS Comput Biol 17(4):e1008935): the synthetic walkers rendered as video (`render_clip`, side view:
the far side hidden by the near side, camera noise, exposure and vignetting), blurred and H.264-compressed, through the
whole `medclip pose` pipeline (mediapipe → cleaning → kinematics → events), against the generator's truth.
The same decoded frames (a stretch where a person walks) are given to mediapipe at each resolution, so the rows differ
only in input size; ratios are against native resolution, one person, measured in the same run.
Media: ../shared/media (see its README for licences).
"""
import argparse, os, time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GLOG_minloglevel", "2")
import warnings
import numpy as np

from medclip_nb.pose import iter_frames, _grey_box, _mp_landmarks, extract_mediapipe, to_coco17, PoseTrack, analyse_track

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = {"mobile_gaitlab 480×320 H.264": (MEDIA / "gait/mobile_gaitlab_input.mp4", 0),
         "sports2d 1768×994 VP9": (MEDIA / "gait/sports2d_demo.mp4", 60)}     # the walker crosses in frames ~40–200
SIDES = [("native", None), ("640 px", 640), ("480 px", 480), ("320 px", 320)]

def decode(path, side, start, n):
    "Decode frames start..start+n at `side`; returns (frames, scale, seconds)."
    t0 = time.perf_counter(); out = []; scale = None
    for i, img, sc in iter_frames(path, side):
        if i >= start + n: break
        if i >= start: out.append(img); scale = sc
    return out, scale, time.perf_counter() - t0

def run_pose(frames, people):
    "mediapipe on the frames (a fresh tracker), `people` instances as in extract_mediapipe; returns seconds."
    import mediapipe as mp
    poses = [mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) for _ in range(people)]
    h, w = frames[0].shape[:2]
    t0 = time.perf_counter()
    for img in frames:
        work = img
        for p in poses:
            lm = _mp_landmarks(p.process(work), w, h)
            if lm is None: break
            work = _grey_box(work, lm)
    dt = time.perf_counter() - t0
    for p in poses: p.close()
    return dt

# Per condition, the findings a gait analyst reads from a side view as the condition's own (the table's parameter names;
# a clip "flags its defining parameter" when any of them is flagged). Knee OA: the stiff, painful knee (reduced knee
# flexion range or peak) and the antalgic limp: with both feet seen, stance or step time asymmetry; with one leg seen,
# its own stance prolonged (the generator's antalgic rule shortens the painful leg's stance and lengthens the sound
# one's by the same share of the cycle, so a side view whose near leg is the sound one reads the limp there).
# Parkinson's: hypokinesia, the condition's rule in the generator: reduced excursion at hip, knee and ankle (Svehlík et
# al. 2009, Arch Phys Med Rehabil: all three reduced in PD), reduced or asymmetric arm swing (Lewek et al. 2010: in
# early PD the asymmetry, not the magnitude, differs from controls) and a stooped, forward-flexed trunk. Disabled
# (weakness, hemiparesis with or without an aid): slow cadence.
DEFINING = {"koa": ("knee_flex_rom", "knee_flex_peak", "stance_time_si", "step_time_si", "stance_pct"),
            "pd": ("arm_swing", "arm_swing_asym", "trunk_flex", "hip_flex_rom", "knee_flex_rom", "ankle_flex_rom"),
            "disabled": ("cadence",)}

def defining_flagged(summary, label:str) -> bool:
    "Whether a clip's table (`gait_summary`) flags low or high any defining finding of class `label`'s condition, on either side."
    base = summary.parameter.str.replace(r"_[lr]$", "", regex=True)
    return bool(summary.flag[base.isin(DEFINING[label.split("_")[0]])].isin(["low", "high"]).any())

def walk_with_truth(label, index, frames=100, fps=25.0, seed=0):
    """`side_view_walk` of clip 0 of subject `index`, with the walk's true cadence added (`truth["true_cadence"]`, steps
    per minute of walking: the generator's mean cadence over the frames not frozen, as `simulate_walk` measures it; a
    Parkinsonian walk quickens within the clip (festination), so the strides of one foot are not the whole walk's rate)
    and `truth["frozen"]` (frames of freezing of gait), from the same draws as `side_view_walk`."""
    from medclip_nb.synth.gait import side_view_walk, make_subject, simulate_walk, _clip_gait
    joints, truth = side_view_walk(label, index=index, frames=frames, fps=fps, seed=seed)
    subject = make_subject(index, label, seed)
    m = simulate_walk(subject, _clip_gait(subject.gait, np.random.default_rng([seed, int(subject.subject_id[1:]), 0, 31337])), frames, fps)
    strikes = {s: (np.flatnonzero(np.diff(m["contact"][:, k].astype(int)) == 1) + 1).tolist() for k, s in enumerate("lr")}
    assert strikes == truth["heel_strikes"], "the draws differ from side_view_walk's"
    return joints, truth | {"frozen": m["frozen"].astype(bool), "true_cadence": m["measures"]["cadence"], "measures": m["measures"]}

def koa_truth_outside(truth:dict, sides:str="lr") -> bool:
    """Whether the generator's exact values of knee OA's defining findings (`DEFINING["koa"]`) lie outside their typical
    ranges, from the legs in `sides` (timing asymmetry only with both): the most any 2-D pipeline can flag against those
    ranges. Knee range and peak from the exact sagittal knee flexion; stance from the generator's stance fractions; step
    time from its heel-strike phase (left strikes at 0.5 − asym of the right cycle, asym = (stance_l − stance_r) / 2)."""
    from medclip_nb.gait import symmetry_index
    from medclip_nb.pose import TYPICAL_RANGES, flag_value
    m, vals = truth["measures"], []
    for s in sides:
        k = np.asarray(truth[f"knee_flex_{s}"], float)
        vals += [("knee_flex_rom", np.percentile(k, 98) - np.percentile(k, 2)), ("knee_flex_peak", np.percentile(k, 98)),
                 ("stance_pct", m[f"stance_{s}"])]
    if sides == "lr":
        asym = (m["stance_l"] - m["stance_r"]) / 200
        vals += [("stance_time_si", float(symmetry_index(m["stance_l"], m["stance_r"]))),
                 ("step_time_si", float(symmetry_index(0.5 - asym, 0.5 + asym)))]
    return any(flag_value(v, *TYPICAL_RANGES[q][:2]) in ("low", "high") for q, v in vals)

def occlusion_table(subjects=10, frames=100, fps=25.0):
    """Per gait class: cadence error against the truth (`walk_with_truth`) and the share of the table's measured parameters
    flagged, both feet seen vs far leg hidden; and how often each abnormal class flags its defining parameter."""
    import pandas as pd
    from medclip_nb.synth.gait import GAIT_CLASSES, make_subject
    rows = []
    for label in GAIT_CLASSES:
        for index in range(subjects):
            joints, truth = walk_with_truth(label, index, frames, fps)
            true = truth["true_cadence"]
            for hidden in (False, True):
                j, f = joints.copy(), truth["feet"].copy()
                if hidden: j[:, [13, 15], 2] = 0; f[:, :2, 2] = 0
                t0 = time.perf_counter()
                a = analyse_track(PoseTrack(j, f, None, fps, (240, 320), "joints"))
                m = a.summary[a.summary.flag != "not_seen"]
                err = abs(a.params["cadence_steps_per_min"] - true) / true
                defining = defining_flagged(a.summary, label) if label.split("_")[0] in DEFINING else np.nan
                base = a.summary.parameter.str.replace(r"_[lr]$", "", regex=True)
                each = {f"f_{q}": bool(a.summary.flag[base == q].isin(["low", "high"]).any()) for q in dict.fromkeys(base)}
                near_affected = make_subject(index, label).side > 0      # the hidden leg is the left: the right is seen
                ceiling = koa_truth_outside(truth, "r" if hidden else "lr") if label.startswith("koa") else np.nan
                rows.append(dict(cls=label, hidden=hidden, err=err, within5=err <= 0.05, defining=defining, near_affected=near_affected, ceiling=ceiling,
                                 flagged=m.flag.isin(["low", "high"]).mean(), s=time.perf_counter() - t0, **each))
    df = pd.DataFrame(rows)
    print(f"synthetic side-view walkers, {subjects} subjects × {len(GAIT_CLASSES)} classes, {frames} frames at {fps:g} fps\n")
    print("| class | cadence error, both feet (median %) | within 5 % | far leg hidden (median %) | within 5 % | parameters flagged, both / hidden | defining parameter flagged, both / hidden | hidden: affected side seen / hidden (clips) | knee OA: truth outside its range, both / hidden |")
    print("|---|---|---|---|---|---|---|---|---|")
    for label, g in df.groupby("cls", sort=False):
        b, h = g[~g.hidden], g[g.hidden]
        split = lambda m: f"{h[m].defining.mean():.0%} ({m.sum()})" if m.any() else "– (0)"
        print(f"| {label} | {100 * b.err.median():.1f} | {b.within5.mean():.0%} | {100 * h.err.median():.1f} | {h.within5.mean():.0%} | "
              f"{b.flagged.mean():.0%} / {h.flagged.mean():.0%} | " +
              (f"{' or '.join(DEFINING[label.split('_')[0]])}: {b.defining.mean():.0%} / {h.defining.mean():.0%} | "
               f"{split(h.near_affected)} / {split(~h.near_affected)} |" if label != "normal" else "– | – |") +
              (f" {b.ceiling.mean():.0%} / {h.ceiling.mean():.0%} |" if label.startswith("koa") else " – |"))
    print(f"\nall clips: within 5 %: both feet {df[~df.hidden].within5.mean():.0%}, far leg hidden {df[df.hidden].within5.mean():.0%} "
          f"(NaN cadence counts as a miss); analysis {df.s.median() * 1000:.0f} ms per clip (median)")
    early = [c for c in df.cls.unique() if c == "normal" or c.endswith("_early")]
    cols = [c for c in df.columns if c.startswith("f_")]
    t = df[df.cls.isin(early)].groupby(["cls", "hidden"], sort=False)[cols].mean()
    print("\nshare of clips flagging each parameter (either side), normal and early grades, both feet / far leg hidden:\n")
    print("| parameter | " + " | ".join(early) + " |\n|---|" + "---|" * len(early))
    for c in cols:
        print(f"| {c[2:]} | " + " | ".join(f"{t.at[(k, False), c]:.0%} / {t.at[(k, True), c]:.0%}" for k in early) + " |")
    return df

STENUM_2021 = {"event_ms": 20.0, "hip": 4.0, "knee": 5.6, "ankle": 7.4}   # their gait-event timing (~0.02 s) and sagittal angle MAE (deg)

def accuracy_clip(label, index, frames=120, fps=30.0, size=256, blur=1.0, crf=28, seed=0, tmp=None) -> dict:
    """One rendered clip through `analyse_video` against the truth: heel-strike timing errors (ms, same side, matched within
    0.25 s), hip/knee/ankle MAE (deg; truth = `kinematics_table` of the exact sagittal joints of the same walk, so the
    angle definitions are identical) on the near (camera) side and the far side, and cadence error (%) against the
    walk's true cadence (`walk_with_truth`)."""
    import cv2, tempfile
    from medclip_nb.pose import analyse_video, kinematics_table
    from medclip_nb.synth.gait import make_subject, render_clip, side_view_walk
    from medclip_nb.video import write_video
    r = render_clip(make_subject(index, label, seed), 0, frames=frames, size=size, fps=fps, view="side", seed=seed)
    vid = Path(tmp or tempfile.mkdtemp()) / f"{label}_{index}.mp4"
    write_video(vid, np.stack([cv2.GaussianBlur(f, (0, 0), blur) for f in r["frames"]]), fps=fps, crf=crf)
    a = analyse_video(vid, max_side=None, max_people=1)
    jt, tr = walk_with_truth(label, index, frames, fps, seed)                          # the same walk, exact, sagittal
    kt = kinematics_table(PoseTrack(jt, tr["feet"], None, fps, (240, 320), "joints"))
    near = "r" if r["truth"]["camera_side"] > 0 else "l"
    out = dict(cls=label, near=near)
    errs = []
    for s in "lr":
        det = np.array(a.events["heel_strike_time"][s])
        for t in tr["heel_strikes"][s]:
            if t < 3 or t > frames - 3: continue
            d = det - (t - 0.5) if len(det) else np.array([np.inf])    # the contact starts between frames t-1 and t
            k = np.argmin(np.abs(d))
            errs.append(d[k] / fps * 1000 if abs(d[k]) <= 0.25 * fps else np.nan)
    out["event_mae_ms"] = float(np.nanmean(np.abs(errs))) if np.isfinite(errs).any() else np.nan
    out["events_found"] = float(np.isfinite(errs).mean()) if errs else np.nan
    for j in ("hip", "knee", "ankle"):
        for s, tag in ((near, "near"), ("r" if near == "l" else "l", "far")):
            x, y = a.kinematics[f"{j}_flex_{s}"].to_numpy(float), kt[f"{j}_flex_{s}"].to_numpy(float)
            ok = np.isfinite(x) & np.isfinite(y)
            out[f"{j}_{tag}"] = float(np.abs(x[ok] - y[ok]).mean()) if ok.sum() >= 10 else np.nan
    true_cad = tr["true_cadence"]                      # steps per minute of walking (freezes left out, festination averaged)
    out["cadence_err_pct"] = 100 * abs(a.params["cadence_steps_per_min"] - true_cad) / true_cad
    return out

def accuracy_table(subjects=1, frames=120, fps=30.0, size=256):
    "Per class and pooled: the accuracy of the video pipeline against the generator's truth, beside Stenum et al. 2021."
    import pandas as pd, tempfile
    from medclip_nb.synth.gait import GAIT_CLASSES
    tmp = tempfile.mkdtemp()
    df = pd.DataFrame([accuracy_clip(c, i, frames, fps, size, tmp=tmp) for c in GAIT_CLASSES for i in range(subjects)])
    print(f"\nrendered side-view clips: {subjects} subject(s) × {len(GAIT_CLASSES)} classes, {frames} frames at {fps:g} fps, "
          f"{size}×{size} px, Gaussian blur σ 1 px, H.264 CRF 28; mediapipe at native size\n")
    print("| class | heel-strike timing MAE (ms) | heel strikes found | hip MAE near / far (°) | knee MAE near / far (°) | ankle MAE near / far (°) | cadence error (%) |")
    print("|---|---|---|---|---|---|---|")
    f = lambda v: "–" if not np.isfinite(v) else f"{v:.1f}"
    def line(name, g):
        print(f"| {name} | {f(g.event_mae_ms.mean())} | {g.events_found.mean():.0%} | {f(g.hip_near.mean())} / {f(g.hip_far.mean())} | "
              f"{f(g.knee_near.mean())} / {f(g.knee_far.mean())} | {f(g.ankle_near.mean())} / {f(g.ankle_far.mean())} | {f(g.cadence_err_pct.median())} |")
    for c, g in df.groupby("cls", sort=False): line(c, g)
    line("**all clips**", df)
    a = STENUM_2021
    print(f"| Stenum et al. 2021 (OpenPose vs motion capture) | ≈ {a['event_ms']:.0f} | – | {a['hip']} | {a['knee']} | {a['ankle']} | – |")
    return df

def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench_pose")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3, help="runs per row; the median is reported")
    ap.add_argument("--occlusion-only", action="store_true", help="only the synthetic occlusion table (no mediapipe)")
    ap.add_argument("--accuracy-only", action="store_true", help="only the accuracy table against Stenum et al. 2021 (rendered clips, mediapipe)")
    ap.add_argument("--subjects", type=int, default=None,
                    help="subjects per class (default: 10 for the occlusion table, 1 for the accuracy table)")
    a = ap.parse_args(argv)
    if a.occlusion_only: return occlusion_table(a.subjects or 10)
    if a.accuracy_only: return accuracy_table(a.subjects or 1)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"{a.frames} frames per row, median of {a.repeats} runs, {os.cpu_count()} CPU cores visible "
          f"(a shared machine: rows vary by ~±15 %)\n")
    print("| clip | input | pose only, 1 person (frames/s) | ratio | pose, 2 people (frames/s) | decode+resize (frames/s) | total, 1 person (frames/s) | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    run_pose(decode(CLIPS["mobile_gaitlab 480×320 H.264"][0], None, 0, 5)[0], 1)   # warm-up: load the model once
    for name, (path, start) in CLIPS.items():
        base_pose = base_total = None
        for label, side in SIDES:
            dec, pose1, pose2 = [], [], []
            for _ in range(a.repeats):
                frames, _, t_dec = decode(path, side, start, a.frames); dec.append(t_dec)
                pose1.append(run_pose(frames, 1)); pose2.append(run_pose(frames, 2))
            n = len(frames); h, w = frames[0].shape[:2]
            p1, p2, d = n / np.median(pose1), n / np.median(pose2), n / np.median(dec)
            total = 1 / (1 / p1 + 1 / d)
            base_pose, base_total = base_pose or p1, base_total or total
            print(f"| {name} | {label} ({w}×{h}) | {p1:.1f} | {p1 / base_pose:.2f} | {p2:.1f} | {d:.0f} | {total:.1f} | "
                  f"{total / base_total:.2f} |", flush=True)
    tracks, meta = extract_mediapipe(CLIPS["mobile_gaitlab 480×320 H.264"][0], max_side=640, max_people=1)
    coco, feet = to_coco17(tracks[0], "mediapipe33")
    tr = PoseTrack(coco, feet, tracks[0], meta["fps"], (meta["height"], meta["width"]), "mediapipe")
    t0 = time.perf_counter(); k = 5
    for _ in range(k): analyse_track(tr)
    dt = (time.perf_counter() - t0) / k
    print(f"\nanalysis after pose (clean, kinematics, events, phases, knowledge map, priors, text): "
          f"{len(tr) / dt:.0f} frames/s ({len(tr)} frames in {dt:.2f} s)\n")
    occlusion_table(a.subjects or 10)
    accuracy_table(a.subjects or 1)

if __name__ == "__main__":
    main()
