"""The served dashboard in Debian's Chromium (Playwright, no browser download): every view renders without an error
alert or console error, a widget updates a chart, a click on an embedded point opens the case, uploads are checked,
and an image run (spatialclip_quality) predicts an uploaded image with its anatomy boxes.

Serves `medclip dashboard` on the runs of `MEDCLIP_DASHBOARD_RUNS` when set, else on two real tiny runs (with and
without clinician attention maps) trained and evaluated by the fixture (tests/browser_fixtures.py). Screenshots of each view go to test-output/dashboard/.
Real media: shared/media/gait/mobile_gaitlab_input.mp4 (Apache-2.0, stanfordnmbl/mobile-gaitlab) and an HC18
ultrasound PNG (CC-BY-4.0, van den Heuvel et al. 2018) renamed to .mp4.
"""
import importlib.util, shutil
import numpy as np
import pandas as pd
import pytest

from browser_fixtures import (dashboard_runs, dashboard_out, dashboard_url, chromium_browser, dash_page,  # noqa: F401
                              image_run, image_dashboard_url, GAIT_CLIP, A_PNG, JS_POINT_XY, JS_COLOR_DOMAIN)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("dashboard_browser")]

TAB_MARKERS = {  # tab -> what shows that it rendered
    "Summary": ".mc-view-summary .mc-chart canvas", "Embeddings": ".mc-embedding canvas",
    "Alignment": ".mc-view-alignment .mc-chart canvas", "Gates": ".mc-view-gates .mc-chart canvas",
    "Attention": ".mc-view-attention .mc-chart canvas", "Case": ".mc-case-head",
    "Predict": ".mc-view-predict input[type=file]"}


def open_tab(pg, name):
    pg.locator(".bk-tab", has_text=name).first.click()
    pg.locator(TAB_MARKERS[name]).first.wait_for(state="attached")


def settle(pg, ms=600):
    "Let Vega finish drawing after the last server message."
    pg.wait_for_timeout(ms)


def assert_clean(pg):
    "No error alert (Panel shows app exceptions as .alert-danger) and no console error."
    assert pg.locator(".alert-danger").count() == 0, pg.locator(".alert-danger").all_inner_texts()
    assert not pg.console.errors, pg.console.errors


def test_every_view_renders(dash_page, dashboard_url, dashboard_out):
    dash_page.goto(dashboard_url)
    for i, name in enumerate(TAB_MARKERS):
        open_tab(dash_page, name)
        settle(dash_page)
        dash_page.screenshot(path=str(dashboard_out / f"{i}_{name.lower()}.png"), full_page=True)
        assert_clean(dash_page)


def test_widget_change_updates_chart(dash_page, dashboard_url):
    dash_page.goto(dashboard_url + "/?view=embeddings")
    dash_page.locator(".mc-embedding canvas").first.wait_for()
    settle(dash_page)
    before = dash_page.evaluate(JS_COLOR_DOMAIN, ["mc-embedding", 0])
    dash_page.locator("select").filter(has_text="subject").select_option("split")     # the 'colour by' select
    dash_page.wait_for_function("(before) => { const d = (%s)(['mc-embedding', 0]); return d && d.join() !== before.join(); }"
                                % JS_COLOR_DOMAIN, arg=before)
    after = dash_page.evaluate(JS_COLOR_DOMAIN, ["mc-embedding", 0])
    assert set(after) <= {"train", "val", "test"} and after != before, (before, after)
    assert_clean(dash_page)


def test_selecting_a_point_opens_the_case(dash_page, dashboard_url, dashboard_runs, dashboard_out):
    dash_page.goto(dashboard_url + "/?view=embeddings")
    dash_page.locator(".mc-embedding canvas").first.wait_for()
    settle(dash_page)
    # the most isolated point of the first run on show (PCA of its first modality), so the click cannot hit a neighbour
    from medclip_nb.bundle import find_runs, load_bundle
    name, run = next(iter(find_runs(dashboard_runs).items()))
    b = load_bundle(run)
    e = b.table("embeddings_2d"); e = e[(e.method == "pca") & (e.modality == b.modalities[0])]
    xy = e[["x", "y"]].to_numpy(); d = np.linalg.norm(xy[:, None] - xy[None], axis=-1); np.fill_diagonal(d, np.inf)
    i = int(d.min(1).argmax()); clip = e.clip_id.iloc[i]
    dash_page.locator("select").filter(has_text="subject").select_option("split")   # a re-drawn chart still selects
    dash_page.wait_for_function("() => { const d = (%s)(['mc-embedding', 0]); return d && d.includes('train'); }" % JS_COLOR_DOMAIN)
    settle(dash_page)
    px, py = dash_page.evaluate(JS_POINT_XY, ["mc-embedding", 0, float(xy[i, 0]), float(xy[i, 1])])
    dash_page.mouse.move(px, py)
    dash_page.locator("#vg-tooltip-element", has_text=clip).wait_for()                 # hover shows the case
    dash_page.mouse.click(px, py)
    dash_page.locator(".mc-case-head", has_text=clip).wait_for()
    assert dash_page.locator(".bk-tab.bk-active").inner_text().strip() == "Case"
    dash_page.locator(".mc-case-head").get_by_text(name).first.wait_for()
    settle(dash_page)
    dash_page.screenshot(path=str(dashboard_out / "case_from_click.png"), full_page=True)
    assert dash_page.locator(".mc-frames img").count() == 1                             # key frames with the overlay
    assert_clean(dash_page)


def test_uploads(dash_page, dashboard_url, tmp_path, dashboard_out):
    "Bad uploads (a PNG renamed .mp4, an empty file, a file over the 5 MB cap) say so; the next upload works."
    assert GAIT_CLIP.exists() and A_PNG is not None, "shared/media is missing"
    fake = tmp_path / "walk.mp4"; shutil.copy(A_PNG, fake)                          # a PNG renamed .mp4
    empty = tmp_path / "empty.mp4"; empty.write_bytes(b"")
    big = tmp_path / "big.mp4"; big.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(6 * 2**20))
    dash_page.goto(dashboard_url + "/?view=predict")
    upload = dash_page.locator(".mc-view-predict input[type=file]")
    predict = dash_page.locator(".mc-view-predict button", has_text="Predict")
    upload.set_input_files(str(fake))
    dash_page.locator(".mc-upload-error", has_text="not a video: the content is a PNG image").wait_for()
    assert predict.is_disabled()
    dash_page.screenshot(path=str(dashboard_out / "predict_bad_upload.png"), full_page=True)
    upload.set_input_files(str(empty))
    dash_page.locator(".mc-upload-error", has_text="the file is empty").wait_for()
    upload.set_input_files(str(big))                                               # refused in the browser, never sent
    dash_page.locator(".filepond--file-status-main", has_text="File is too large").wait_for()
    assert predict.is_disabled()
    upload.set_input_files(str(GAIT_CLIP))                                         # the next upload works
    dash_page.locator(".mc-upload-ok", has_text="mobile_gaitlab_input.mp4").wait_for()
    dash_page.locator(".filepond--file-status-main", has_text="Upload complete").wait_for()
    dash_page.locator(".mc-view-predict textarea").fill("short steps, reduced knee flexion in swing")
    dash_page.locator(".mc-view-predict button", has_text="Predict").click()
    out = dash_page.locator(".mc-predict-out")
    out.locator(".mc-probabilities canvas").wait_for()     # a real run answers with probabilities
    settle(dash_page)
    dash_page.screenshot(path=str(dashboard_out / "predict_after_upload.png"), full_page=True)
    assert_clean(dash_page)


def test_image_run_predicts_an_upload(dash_page, image_dashboard_url, image_run, tmp_path, dashboard_out):
    "An image run's Predict tab: a video is refused, a test image with its record's boxes JSON gets a prediction."
    import json
    from pathlib import Path
    root = Path(json.loads((image_run / "data.json").read_text())["root"])
    rec = json.loads((root / "test.json").read_text())[0]
    boxes = tmp_path / "boxes.json"; boxes.write_text(json.dumps(rec))
    dash_page.goto(image_dashboard_url + "/?view=predict")
    upload = dash_page.locator(".mc-upload-file input[type=file]")
    upload.set_input_files(str(GAIT_CLIP))                                         # a video to an image run
    dash_page.locator(".mc-upload-error", has_text="not an image: the content is a video").wait_for()
    upload.set_input_files(str(root / rec["image_path"]))
    dash_page.locator(".mc-upload-ok", has_text=Path(rec["image_path"]).name).wait_for()
    dash_page.locator(".mc-upload-boxes input[type=file]").set_input_files(str(boxes))
    dash_page.locator(".mc-upload-boxes .filepond--file-status-main", has_text="Upload complete").wait_for()
    dash_page.locator(".mc-view-predict textarea").fill(rec["description"])
    dash_page.locator(".mc-view-predict button", has_text="Predict").click()
    out = dash_page.locator(".mc-predict-out")
    out.locator(".mc-probabilities canvas").wait_for()                              # the real run answers
    out.locator(".mc-gate-weights", has_text="gate weights: image").wait_for()
    assert out.get_by_text(f"{len(rec['coordinates'])} anatomy box(es) read").count() == 1
    settle(dash_page)
    dash_page.screenshot(path=str(dashboard_out / "predict_image.png"), full_page=True)
    assert_clean(dash_page)
