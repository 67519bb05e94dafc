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
