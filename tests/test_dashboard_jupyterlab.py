"""The dashboard notebook in JupyterLab, offline: a JupyterLab server on a free port (token, settings and runtime
files in a temp folder), Debian Chromium opens `nbs/90_dashboard.ipynb` pointed at a FIXTURE run (`MEDCLIP_RUNS`),
runs all cells, and the app appears in the last cell's output with its charts drawn. Every request that would leave
the machine is aborted and recorded: there must be none (no panel.min.js or vega bundle from a CDN)."""
import json, os, re, secrets, shutil, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest

from browser_fixtures import make_fixture_bundle, free_port, chromium_browser, offline_context  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("dashboard_browser")]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    "A JupyterLab server over a linked copy of the project (the notebook copied); yields (url, token)."
    d = tmp_path_factory.mktemp("jlab")
    run = make_fixture_bundle(d / "runs" / "fixture", n=48, seed=0)
    settings = d / "settings" / "@jupyterlab" / "notebook-extension"; settings.mkdir(parents=True)
    # render every cell (JupyterLab 4 attaches only the cells in view by default), so the last output is in the page
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    # never write the notebook back into the checkout (no autosave); start its kernel without asking
    docmanager = d / "settings" / "@jupyterlab" / "docmanager-extension"; docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False, "autoStartDefaultKernel": True}))
    # a copy of the notebook in a project of links, so JupyterLab never writes into the checkout
    proj = d / "proj"; (proj / "nbs").mkdir(parents=True)
    for name in ("settings.ini", "tests", "medclip_nb"): (proj / name).symlink_to(ROOT / name)
    (d / "shared").symlink_to(ROOT.parent / "shared")             # the notebook finds shared/media beside the project
    shutil.copy(ROOT / "nbs" / "90_dashboard.ipynb", proj / "nbs")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "MEDCLIP_RUNS": str(run), "JUPYTER_CONFIG_DIR": str(d / "config"),
           "JUPYTER_RUNTIME_DIR": str(d / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(d / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(d / "workspaces"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = open(d / "jupyter.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
                             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={proj}",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                             *(["--allow-root"] if os.geteuid() == 0 else [])],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=proj)
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


def run_all_cells(pg, tries:int=3):
    """Run > Run All Cells once the kernel is idle, and again if no cell started: a request sent while the kernel is
    still starting can be dropped (the cells then stay `[ ]`)."""
    started = pg.locator(".jp-Notebook .jp-InputPrompt", has_text=re.compile(r"\[(\*|\d+)\]")).first
    for _ in range(tries):
        pg.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(timeout=120_000)   # the status bar: kernel ready
        pg.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        pg.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try: started.wait_for(timeout=30_000); return
        except Exception: pg.keyboard.press("Escape")
    raise AssertionError(f"Run All Cells started no cell in {tries} tries")


def test_notebook_shows_the_app_offline(chromium_browser, jupyterlab):
    url, token = jupyterlab
    external, errors = [], []
    ctx = offline_context(chromium_browser, external, errors, viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page(); pg.set_default_timeout(60_000)
    t0 = time.time()
    pg.goto(f"{url}/lab/tree/nbs/90_dashboard.ipynb?token={token}")
    pg.locator(".jp-Notebook .jp-Cell").first.wait_for()
    pg.wait_for_timeout(2000)
    if pg.locator(".jp-Dialog", has_text="Select Kernel").count():          # older settings: pick the default kernel
        pg.locator(".jp-Dialog button", has_text="Select").click()
    run_all_cells(pg)
    last = pg.locator(".jp-Notebook .jp-CodeCell").last
    shot = ROOT / "test-output" / "dashboard"; shot.mkdir(parents=True, exist_ok=True)
    try: last.locator(".mc-chart canvas").first.wait_for(timeout=240_000)   # the app's Summary charts, drawn by Vega
    except Exception:
        pg.screenshot(path=str(shot / "jupyterlab_failed.png"))
        errs = pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
        pytest.fail(f"no chart in the last cell's output; tracebacks: {[e[-1500:] for e in errs[:2]]}; dialogs: "
                    f"{pg.locator('.jp-Dialog').all_inner_texts()}; external: {sorted(set(external))[:10]}; errors: {errors[:5]}")
    pg.wait_for_timeout(1000)
    n_charts = last.locator(".mc-chart canvas").count()
    tracebacks = pg.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']").all_inner_texts()
    last.screenshot(path=str(shot / "jupyterlab_last_cell.png"))
    print(f"\nJupyterLab: all cells run, the app drawn {n_charts} chart(s) in the last cell's output in {time.time() - t0:.0f} s;"
          f" external requests {len(external)}; console errors {len(errors)}")
    ctx.close()
    assert not tracebacks, tracebacks[:2]
    assert n_charts >= 2, n_charts
    assert not external, sorted(set(external))[:10]
    assert not [e for e in errors if any(k in e.lower() for k in ("bokeh", "panel", "vega", "cdn"))], errors[:5]
