"""The dashboard notebook in JupyterLab, offline: a JupyterLab server on a free port (token, settings and runtime
files in a temp folder), Debian Chromium opens `nbs/90_dashboard.ipynb` pointed at a FIXTURE run (`MEDCLIP_RUNS`),
runs all cells, and the app appears in the last cell's output with its charts drawn. Every request that would leave
the machine is aborted and recorded: there must be none (no panel.min.js or vega bundle from a CDN)."""
import json, os, secrets, shutil, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

from browser_fixtures import make_fixture_bundle, free_port, chromium_browser, offline_context  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("dashboard_browser")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    "A JupyterLab server over a copy-free view of the project (root dir = the checkout); yields (url, token)."
    d = tmp_path_factory.mktemp("jlab")
    run = make_fixture_bundle(d / "runs" / "fixture", n=48, seed=0)
    settings = d / "settings" / "@jupyterlab" / "notebook-extension"; settings.mkdir(parents=True)
    # render every cell (JupyterLab 4 attaches only the cells in view by default), so the last output is in the page
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MEDCLIP_RUNS": str(run), "JUPYTER_CONFIG_DIR": str(d / "config"),
           "JUPYTER_RUNTIME_DIR": str(d / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(d / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(d / "workspaces"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = open(d / "jupyter.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if proc.poll() is not None: raise RuntimeError(f"jupyter lab exited: {(d / 'jupyter.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2); break
            except OSError: time.sleep(0.3)
        else: raise TimeoutError("jupyter lab did not answer in 90 s")
        yield url, token
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        log.close()
        shutil.rmtree(ROOT / "nbs" / ".ipynb_checkpoints", ignore_errors=True)


def test_notebook_shows_the_app_offline(chromium_browser, jupyterlab):
    url, token = jupyterlab
    external, errors = [], []
    ctx = offline_context(chromium_browser, external, errors, viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page(); pg.set_default_timeout(60_000)
    t0 = time.time()
    pg.goto(f"{url}/lab/tree/nbs/90_dashboard.ipynb?token={token}")
    pg.locator(".jp-Notebook .jp-Cell").first.wait_for()
    pg.locator(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Toolbar-kernelStatus").first.wait_for(state="attached")
    pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    pg.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    last = pg.locator(".jp-Notebook .jp-CodeCell").last
    last.locator(".mc-chart canvas").first.wait_for(timeout=240_000)        # the app's Summary charts, drawn by Vega
    pg.wait_for_timeout(1000)
    n_charts = last.locator(".mc-chart canvas").count()
    tracebacks = pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
    shot = ROOT / "test-output" / "dashboard"; shot.mkdir(parents=True, exist_ok=True)
    last.screenshot(path=str(shot / "jupyterlab_last_cell.png"))
    print(f"\nJupyterLab: all cells run, the app drawn {n_charts} chart(s) in the last cell's output in {time.time() - t0:.0f} s;"
          f" external requests {len(external)}; console errors {len(errors)}")
    ctx.close()
    assert not tracebacks, tracebacks[:2]
    assert n_charts >= 2, n_charts
    assert not external, sorted(set(external))[:10]
    assert not [e for e in errors if any(k in e.lower() for k in ("bokeh", "panel", "vega", "cdn"))], errors[:5]
