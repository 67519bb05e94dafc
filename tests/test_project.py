"The project is in step with itself: notebooks export to the committed library, are clean, and import fast."
import filecmp, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _tree(d:Path):
    return {p.relative_to(d): p.read_bytes() for p in d.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}

def test_export_and_clean_change_nothing(tmp_path):
    "Run nbdev_export and nbdev_clean on a copy: the committed notebooks and library must come back unchanged."
    for name in ("settings.ini", "nbs", "medclip_nb"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    before = {n: _tree(tmp_path / n) for n in ("nbs", "medclip_nb")}
    for cmd in (["nbdev_export"], ["nbdev_clean"]):
        subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=tmp_path, check=True, capture_output=True)
    for n, files in before.items():
        after = _tree(tmp_path / n)
        changed = sorted(str(k) for k in set(files) | set(after) if files.get(k) != after.get(k))
        assert not changed, f"nbdev_export/nbdev_clean would change {n}/: {changed[:10]} (edit the notebook, re-export, clean)"

def test_import_is_fast():
    "Importing the package must not pull torch, transformers, panel or decord."
    code = ("import time,sys; t=time.perf_counter(); import medclip_nb, medclip_nb.core, medclip_nb.cli; "
            "print(time.perf_counter()-t); print(' '.join(m for m in ('torch','transformers','panel','decord') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert float(out[0]) < 2.0, f"import took {out[0]} s"
    assert out[1].strip() == "", f"heavy modules imported at import time: {out[1]}"

def test_cli_help_lists_subcommands():
    r = subprocess.run([str(BIN / "medclip"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "config" in r.stdout, r.stdout + r.stderr

def test_cli_config_errors_are_clear():
    r = subprocess.run([str(BIN / "medclip"), "config", "clinicalclip_gait", "train.max_epoch=3"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown config key 'train.max_epoch'" in r.stderr and "train.max_epochs" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([str(BIN / "medclip"), "config", "nope"], capture_output=True, text=True)
    assert r.returncode == 2 and "available recipes" in r.stderr and "clinicalclip_gait" in r.stderr
