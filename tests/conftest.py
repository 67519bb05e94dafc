"Shared test fixtures: project paths and the real sample media beside the checkout."
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

@pytest.fixture(scope="session")
def root(): return ROOT

@pytest.fixture(scope="session")
def media():
    if not MEDIA.exists(): pytest.fail(f"real sample media not found at {MEDIA} (the shared/ folder beside the checkout)")
    return MEDIA


@pytest.fixture(scope="session")
def _tiny_lvef_trained(tmp_path_factory):
    "One tiny cardiacclip_lvef run (the golden sizes) per test process: several test files score the same kind of run."
    import sys
    sys.path.insert(0, str(Path(__file__).parent))
    from golden import TINY
    from medclip_nb.train import train
    return train("cardiacclip_lvef", out=tmp_path_factory.mktemp("lvef") / "runs", name="lvef",
                 overrides=TINY["cardiacclip_lvef"], progress=False)


@pytest.fixture(scope="module")
def tiny_lvef_run(_tiny_lvef_trained, tmp_path_factory):
    "A private copy of the tiny cardiacclip_lvef run for one test file (evaluations write into the run folder)."
    import shutil
    return Path(shutil.copytree(_tiny_lvef_trained, tmp_path_factory.mktemp("lvef_copy") / "lvef"))
