"""A room of collaborators: 20 browser pages open one served dashboard at the same moment (Debian Chromium through
Playwright). Every page renders its first view (the Summary charts drawn), no page logs a console error or shows an
error alert, and no request leaves the machine (every non-local request is aborted and recorded: a hospital machine
is offline).

Figures printed: median and max first render (from the moment all 20 were asked to navigate), and the CPU the
server spent on the 20 sessions. Here the 20 Chromium renderers run on the server's own 2 cores and take most of
them (about 3-4 s of CPU per page against ~0.5-0.7 s for the server), so the median is held to a generous bound
(60 s, grown with the load others put on the machine, `os.getloadavg`); the server's share, what 20 collaborators on
their own machines would cost the 2 cores, is held to 1.5 s of CPU per session. The issue's target, a median of 10 s
on 2 cores, is printed beside the figures. `benchmarks/bench_dashboard.py --sessions 20` prints them as a table.

Data: two FIXTURE bundles of random numbers (tests/browser_fixtures.py) served by `medclip dashboard`."""
import os, statistics
import pytest

from browser_fixtures import (make_fixture_bundle, serve_dashboard, chromium_browser,  # noqa: F401
                              concurrent_first_render, summary_chart_count)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("dashboard_browser")]
N_PAGES, TARGET_S, GENEROUS_S, SERVER_CPU_PER_SESSION_S = 20, 10.0, 60.0, 1.5


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash_concurrent")
    make_fixture_bundle(d / "with_priors", n=60, seed=0, umap=True)
    make_fixture_bundle(d / "no_priors", n=60, seed=1, modalities=("video", "text"), gates=False)
    return d


def server_process(url:str):
    "The `medclip dashboard` process serving `url` (by its --port argument)."
    import psutil
    port = url.rsplit(":", 1)[1]
    return next(p for p in psutil.process_iter(["cmdline"])
                if p.info["cmdline"] and "dashboard" in " ".join(p.info["cmdline"]) and port in p.info["cmdline"])


def cpu_seconds(p) -> float:
    t = p.cpu_times(); return t.user + t.system


def test_twenty_pages_at_once(chromium_browser, fixture_runs):
    with serve_dashboard([fixture_runs]) as url:
        n_charts = summary_chart_count(chromium_browser, url)        # also the first session: bundles load here
        assert n_charts >= 2, n_charts
        server = server_process(url)
        busy = max(1.0, os.getloadavg()[0] / os.cpu_count())             # 1 on idle cores
        cpu0 = cpu_seconds(server)
        r = concurrent_first_render(chromium_browser, url, N_PAGES, n_charts)
        server_cpu = cpu_seconds(server) - cpu0
    med, worst, bound = statistics.median(r["ms"]) / 1000, max(r["ms"]) / 1000, GENEROUS_S * busy
    print(f"\n{N_PAGES} pages at once ({n_charts} charts each, browsers on the server's {os.cpu_count()} cores, load "
          f"{busy:.1f}x the cores): first render median {med:.1f} s (target {TARGET_S:.0f} s, bound here {bound:.0f} s), "
          f"max {worst:.1f} s; server CPU {server_cpu:.1f} s ({server_cpu / N_PAGES:.2f} s per session); "
          f"console errors {len(r['errors'])}; external requests {len(r['external'])}")
    assert len(r["ms"]) == N_PAGES                                  # every page rendered
    assert not r["errors"], r["errors"][:5]
    assert not r["alerts"], r["alerts"][:5]
    assert not r["external"], sorted(set(r["external"]))[:10]
    assert server_cpu / N_PAGES <= SERVER_CPU_PER_SESSION_S, f"{server_cpu / N_PAGES:.2f} s of server CPU per session"
    assert med <= bound, f"median first render {med:.1f} s > {bound:.0f} s"
