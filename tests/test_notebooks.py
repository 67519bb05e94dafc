"Every notebook under nbs/ runs as one pytest item: its inline fastcore tests are the assertions."
from pathlib import Path
import pytest
import nbdev.test as nbtest   # not `from nbdev.test import test_nb`: pytest would collect it
from nbdev.config import get_config

CFG = get_config()
NBS_DIR = Path(CFG.config_path) / CFG.nbs_path
NOTEBOOKS = sorted(p for p in NBS_DIR.rglob("*.ipynb")
                   if not any(part.startswith((".", "_")) for part in p.relative_to(NBS_DIR).parts))

def test_notebooks_found():
    assert len(NOTEBOOKS) >= 2, f"no notebooks found under {NBS_DIR}"

@pytest.mark.notebook
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[str(p.relative_to(NBS_DIR)) for p in NOTEBOOKS])
def test_notebook(nb):
    ok, secs = nbtest.test_nb(nb, skip_flags=CFG.tst_flags.split(), basepath=CFG.config_path)
    assert ok, f"{nb.name} failed (traceback above, in the captured stderr)"
