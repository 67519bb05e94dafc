"""`medclip validate` at EchoNet-Dynamic scale: per-video cost, projection to 10,030 videos, and the cached re-run.

Run: `.venv/bin/python benchmarks/bench_validate.py` (a few minutes on 2 cores; `--videos N` to change the size,
`--quick` for a 60-video smoke run, `--profile` to print where the first validate spends its time).

What it does:
1. Renders `--unique` synthetic echo videos (`medclip_nb.synth.echo.render_echo_dataset`, 112×112, `--frames` frames,
   MPEG-4 AVI as EchoNet-Dynamic ships them) and builds an EchoNet-Dynamic folder of `--videos` videos from them:
   each video a hard link (a copy where links are refused) of a rendered one under its own name, with `FileList.csv`
   and `VolumeTracings.csv` rows repeated under the new names (so the tracing table has EchoNet's ~40 rows per video).
2. Times `validate(folder)` (the first run: every video probed and its sampled frames decoded, then written to the
   folder's cached index), prints the per-video cost and the projection to EchoNet-Dynamic's 10,030 videos.
3. Times a second `validate` of the unchanged folder (answered from the cached index: one `stat` per file), and a
   third after touching one video (only that entry is checked again).
4. Times the same second run as the command line users type (`medclip validate DIR -q`, a fresh Python process:
   imports included).
"""
import os
os.environ.setdefault("OMP_NUM_THREADS", "1")
import argparse, cProfile, pstats, shutil, subprocess, sys, tempfile, time
from pathlib import Path

import pandas as pd

from medclip_nb.datasets import validate
from medclip_nb.synth.echo import render_echo_dataset

ECHONET_VIDEOS = 10_030


def build_folder(out:Path, n:int, unique:int, frames:int) -> Path:
    "An EchoNet-Dynamic folder of `n` videos made of `unique` rendered ones (hard links under new names)."
    src = render_echo_dataset(out / "_src", subjects=unique, frames=frames, progress=False)
    fl, vt = pd.read_csv(src / "FileList.csv"), pd.read_csv(src / "VolumeTracings.csv")
    (out / "Videos").mkdir(parents=True, exist_ok=True)
    rows, traces = [], []
    for i in range(n):
        r = fl.iloc[i % unique].copy(); name = f"0X{i:014X}"
        tgt = out / "Videos" / f"{name}.avi"
        try: os.link(src / "Videos" / f"{r['FileName']}.avi", tgt)
        except OSError: shutil.copyfile(src / "Videos" / f"{r['FileName']}.avi", tgt)
        t = vt[vt["FileName"] == f"{r['FileName']}.avi"].assign(FileName=f"{name}.avi")
        r["FileName"] = name; rows.append(r); traces.append(t)
    pd.DataFrame(rows).to_csv(out / "FileList.csv", index=False)
    pd.concat(traces).to_csv(out / "VolumeTracings.csv", index=False)
    return out


def timed(fn):
    "(result, wall seconds, CPU seconds of this process and its finished children)."
    cpu = lambda: time.process_time() + sum(os.times()[2:4])
    t, c = time.perf_counter(), cpu(); r = fn(); return r, time.perf_counter() - t, cpu() - c


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=1000)
    p.add_argument("--unique", type=int, default=8, help="distinct rendered videos the folder is linked from")
    p.add_argument("--frames", type=int, default=128)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--profile", action="store_true")
    a = p.parse_args(argv)
    if a.quick: a.videos, a.unique, a.frames = 60, 4, 64
    with tempfile.TemporaryDirectory() as d:
        os.environ["MEDCLIP_CACHE"] = str(Path(d) / "cache")             # the cached index goes here, not ~/.cache
        root, t_build, _ = timed(lambda: build_folder(Path(d) / "echonet", a.videos, a.unique, a.frames))
        shutil.rmtree(Path(d) / "echonet" / "_src")
        time.sleep(2.1)                                                    # files older than the index's racy window
        run = lambda: validate(root, progress=False, jobs=a.jobs)
        if a.profile:
            prof = cProfile.Profile(); rep, t1, c1 = timed(lambda: prof.runcall(run))
            pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        else: rep, t1, c1 = timed(run)
        assert rep.ok and rep.n_checked == a.videos, str(rep)[:2000]
        rep2, t2, c2 = timed(run)
        assert rep2.ok and (rep2.n_checked, rep2.n_cached) == (0, a.videos), (rep2.n_checked, rep2.n_cached)
        one = root / "Videos" / "0X00000000000000.avi"; data = one.read_bytes()
        one.unlink(); one.write_bytes(data)                   # one file rewritten (its own inode now): a new mtime
        rep3, t3, c3 = timed(run)
        assert (rep3.n_checked, rep3.n_cached) == (1, a.videos - 1), (rep3.n_checked, rep3.n_cached)
        cli = [sys.executable, "-c", "import sys; from medclip_nb.cli import main; sys.exit(main())", "validate", str(root), "-q"]
        proc, t4, c4 = timed(lambda: subprocess.run(cli, capture_output=True, text=True))
        assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
        n = a.videos
        rows = [("videos", f"{n}", "", f"{a.frames} frames each, 112×112 MPEG-4 AVI ({a.unique} rendered, hard-linked)"),
                ("build folder", f"{t_build:.1f} s", "", "rendering + links (not validate)"),
                (f"first validate (jobs={a.jobs})", f"{t1:.1f} s", f"{c1:.1f} s", "every video probed + decoded once"),
                ("per video", f"{t1 / n * 1000:.1f} ms", f"{c1 / n * 1000:.1f} ms", ""),
                (f"projected for {ECHONET_VIDEOS:,}", f"{t1 / n * ECHONET_VIDEOS / 60:.1f} min",
                 f"{c1 / n * ECHONET_VIDEOS / 60:.1f} min", "limit 5 min"),
                ("second validate, unchanged", f"{t2:.2f} s", f"{c2:.2f} s", "cached index (size + mtime per file); limit 5 s"),
                ("after rewriting 1 video", f"{t3:.2f} s", f"{c3:.2f} s", "that entry re-checked"),
                ("second validate, CLI process", f"{t4:.2f} s", f"{c4:.2f} s", "`medclip validate DIR -q`, imports included")]
        w = max(len(r[0]) for r in rows)
        print(f"\n{'what':<{w}}  {'wall':>10}  {'CPU':>10}  note")
        for k, v, c, note in rows: print(f"{k:<{w}}  {v:>10}  {c:>10}  {note}")

if __name__ == "__main__":
    main()
