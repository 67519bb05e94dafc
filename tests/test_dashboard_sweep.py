"""`medclip dashboard SWEEP_DIR` in Debian Chromium: a FIXTURE sweep (tests/browser_fixtures.py: fixture runs in the
`medclip sweep` contract, one still running) opens on its Sweep view: the heading with the runs' status, each run's
headline metric by variant, the summary and the comparisons; the run selector lists the sweep's finished runs, one
per variant side by side; changing the headline metric redraws the chart; no console error, no external request."""
import pytest

from browser_fixtures import make_fixture_sweep, serve_dashboard, chromium_browser, offline_context  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("dashboard_browser")]


def test_sweep_view(chromium_browser, tmp_path):
    sweep = make_fixture_sweep(tmp_path / "S")
    external, errors = [], []
    with serve_dashboard([sweep]) as url:
        ctx = offline_context(chromium_browser, external, errors)
        pg = ctx.new_page(); pg.set_default_timeout(60_000)
        pg.goto(url)
        pg.locator(".mc-sweep-head", has_text="6 runs (5 done, 1 running)").wait_for()
        pg.locator(".mc-view-sweep .mc-chart canvas").first.wait_for()
        assert pg.locator(".bk-tab.bk-active").inner_text().strip() == "Sweep"
        tables = pg.locator(".mc-view-sweep .mc-table")
        assert tables.count() == 2
        assert "balanced_accuracy" in tables.nth(0).locator("table").inner_text()
        assert "mean_difference" in tables.nth(1).locator("table").inner_text()
        chosen = pg.locator(".choices__inner .choices__item").all_inner_texts()       # the runs side by side
        assert any("recipe/seed_0" in c for c in chosen) and any("no_maps/seed_0" in c for c in chosen), chosen
        pg.locator("select").filter(has_text="balanced_accuracy").select_option("accuracy")
        pg.locator(".mc-view-sweep .mc-chart canvas").first.wait_for()
        pg.wait_for_timeout(800)
        assert pg.locator(".alert-danger").count() == 0, pg.locator(".alert-danger").all_inner_texts()
        ctx.close()
    assert not errors, errors[:5]
    assert not external, sorted(set(external))[:5]
