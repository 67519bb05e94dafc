"""A room of collaborators: 20 browser pages open one served dashboard at the same moment (Debian Chromium through
Playwright, 2 cores). Every page renders its first view, no page logs a console error or shows an error alert, and
no request leaves the machine (every non-local request is aborted and recorded: a hospital machine is offline).
The median first render is printed and held to 10 s on idle cores (the issue's bound on 2 cores); on a machine
others are loading, the bound grows with the load beyond the cores (`os.getloadavg`), so the test measures the
app, not the neighbours. `benchmarks/bench_dashboard.py --sessions 20` prints the same figures as a table.

Data: two FIXTURE bundles of random numbers (tests/browser_fixtures.py) served by `medclip dashboard`."""
import os, statistics
import pytest

from browser_fixtures import (make_fixture_bundle, serve_dashboard, chromium_browser,  # noqa: F401
                              concurrent_first_render, summary_chart_count)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("dashboard_browser")]
N_PAGES, MEDIAN_BOUND_S = 20, 10.0


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash_concurrent")
    make_fixture_bundle(d / "with_priors", n=60, seed=0, umap=True)
    make_fixture_bundle(d / "no_priors", n=60, seed=1, modalities=("video", "text"), gates=False)
    return d


def test_twenty_pages_at_once(chromium_browser, fixture_runs):
    with serve_dashboard([fixture_runs]) as url:
        n_charts = summary_chart_count(chromium_browser, url)        # also the first session: bundles load here
        assert n_charts >= 2, n_charts
        busy = max(1.0, os.getloadavg()[0] / os.cpu_count())             # 1 on idle cores
        r = concurrent_first_render(chromium_browser, url, N_PAGES, n_charts)
    med, worst, bound = statistics.median(r["ms"]) / 1000, max(r["ms"]) / 1000, MEDIAN_BOUND_S * busy
    print(f"\n{N_PAGES} pages at once: first render median {med:.1f} s, max {worst:.1f} s ({n_charts} charts each; "
          f"load {busy:.1f}x the {os.cpu_count()} cores, bound {bound:.0f} s); console errors {len(r['errors'])}; "
          f"external requests {len(r['external'])}")
    assert len(r["ms"]) == N_PAGES                                  # every page rendered
    assert not r["errors"], r["errors"][:5]
    assert not r["alerts"], r["alerts"][:5]
    assert not r["external"], sorted(set(r["external"]))[:10]
    assert med <= bound, f"median first render {med:.1f} s > {bound:.0f} s"
