"""A room of collaborators: 20 browser pages open one served dashboard at the same moment (Debian Chromium through
Playwright). Every page renders its first view (the Summary charts drawn), no page logs a console error or shows an
error alert, and no request leaves the machine (every non-local request is aborted and recorded: a hospital machine
is offline).

What is measured, and what is asserted. 20 collaborators have 20 browsers on 20 machines; here the 20 pages (one
browser context, its caches empty at the start: 20 first visits) run on the server's own 2 cores, and their renderers
take most of them (about 1.5-2.5 s of CPU per page against ~0.5 s for the server), so the wall-clock median says
more about Chromium on 2 shared cores than about the app. It is printed against the issue's 10 s target and held only
to a generous bound (60 s, grown with the load others put on the machine, `os.getloadavg`). What the app controls is
asserted: the server's CPU per session (what 20 collaborators on their own machines cost the 2 cores), and the weight
of the first view one page downloads and builds (JS bytes, Bokeh models; no MathJax/WebGL bundle, no CDN). The server's
side of 20 collaborators on 20 machines is also timed without browsers on these cores (`wire_first_views`: a protocol
client fetches the page, its scripts and stylesheets, and pulls the session's document over the websocket, as a
browser does), printed against the 10 s target and held to twice it, grown with the load like the browser bound.
`benchmarks/bench_dashboard.py --sessions 20` prints the same figures as a table, with a warm-cache run beside.

Data: two FIXTURE bundles of random numbers (tests/browser_fixtures.py) served by `medclip dashboard`."""
import os, statistics
import pytest

from browser_fixtures import (make_fixture_bundle, serve_dashboard, chromium_browser,  # noqa: F401
                              concurrent_first_render, summary_chart_count, first_view_profile, server_cpu_s, is_local,
                              wire_first_views)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("dashboard_browser")]
N_PAGES, TARGET_S, GENEROUS_S, SERVER_CPU_PER_SESSION_S = 20, 10.0, 60.0, 1.0
MAX_JS_MB, MAX_MODELS = 4.5, 120          # first view: 3.9 MB of JS and 74 Bokeh models now (5.9 MB with MathJax/WebGL)


@pytest.fixture(scope="module")
def fixture_runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash_concurrent")
    make_fixture_bundle(d / "with_priors", n=60, seed=0, umap=True)
    make_fixture_bundle(d / "no_priors", n=60, seed=1, modalities=("video", "text"), gates=False)
    return d


@pytest.fixture(scope="module")
def served(fixture_runs, chromium_browser):
    "The served dashboard's URL and the number of Vega charts its first view draws (the first session loads the bundles)."
    with serve_dashboard([fixture_runs]) as url:
        n_charts = summary_chart_count(chromium_browser, url)
        assert n_charts >= 2, n_charts
        yield url, n_charts


def test_first_view_is_light(chromium_browser, served):
    url, n_charts = served
    p = first_view_profile(chromium_browser, url, n_charts)
    js_mb = p["bytes"].get("Script", 0) / 2**20
    print(f"\nfirst view of one page: {js_mb:.2f} MB of JS in {p['requests'].get('Script', 0)} files, "
          f"{p['bytes'].get('Stylesheet', 0) / 2**20:.2f} MB of CSS, {p['ws_bytes'] / 1024:.0f} KB over the websocket, "
          f"{p['models']} Bokeh models; main thread {p['task_s']:.2f} s ({p['script_s']:.2f} s in JS), renderer CPU "
          f"{p['renderer_cpu_s']:.2f} s; first render {p['first_ms'] / 1000:.1f} s")
    assert not [u for u in p["js_files"] if "mathjax" in u or "bokeh-gl" in u], p["js_files"]
    assert not [u for u in p["js_files"] if not is_local(u)], p["js_files"]    # every script from the server (or the page)
    assert js_mb <= MAX_JS_MB, f"{js_mb:.2f} MB of JS"
    assert p["models"] <= MAX_MODELS, p["models"]


def test_twenty_pages_at_once(chromium_browser, served):
    url, n_charts = served
    busy = max(1.0, os.getloadavg()[0] / os.cpu_count())             # 1 on idle cores
    cpu0 = server_cpu_s(url)
    r = concurrent_first_render(chromium_browser, url, N_PAGES, n_charts)
    server_cpu = server_cpu_s(url) - cpu0
    med, worst, bound = statistics.median(r["ms"]) / 1000, max(r["ms"]) / 1000, GENEROUS_S * busy
    per_page = {k: v / N_PAGES for k, v in r["browser_cpu"].items() if v > 0.05 * N_PAGES}
    print(f"\n{N_PAGES} pages at once ({n_charts} charts each, browsers on the server's {os.cpu_count()} cores, load "
          f"{busy:.1f}x the cores): first render median {med:.1f} s (target {TARGET_S:.0f} s, bound here {bound:.0f} s), "
          f"max {worst:.1f} s; browser CPU per page {', '.join(f'{k} {v:.2f} s' for k, v in per_page.items())}; "
          f"server CPU {server_cpu:.1f} s ({server_cpu / N_PAGES:.2f} s per session); "
          f"console errors {len(r['errors'])}; external requests {len(r['external'])}")
    assert len(r["ms"]) == N_PAGES                                  # every page rendered
    assert not r["errors"], r["errors"][:5]
    assert not r["alerts"], r["alerts"][:5]
    assert not r["external"], sorted(set(r["external"]))[:10]
    assert server_cpu / N_PAGES <= SERVER_CPU_PER_SESSION_S, f"{server_cpu / N_PAGES:.2f} s of server CPU per session"
    assert med <= bound, f"median first render {med:.1f} s > {bound:.0f} s"


def test_twenty_collaborators_on_their_own_machines(served):
    "The server's side alone: 20 clients fetch the page, its scripts and stylesheets, and pull their session's document at once."
    url, _ = served
    busy = max(1.0, os.getloadavg()[0] / os.cpu_count())
    cpu0 = server_cpu_s(url)
    r = wire_first_views(url, N_PAGES)
    server_cpu = server_cpu_s(url) - cpu0
    ms = [x["ms"] / 1000 for x in r]
    # held to twice the target: the 1-minute load average lags a burst from a neighbouring test, and a bound at the
    # target would fail on such a burst alone; the figure is printed against the target
    med, bound = statistics.median(ms), 2 * TARGET_S * busy
    print(f"\n{N_PAGES} collaborators on their own machines (the server's side; load {busy:.1f}x the cores): every first "
          f"view sent in median {med:.1f} s, max {max(ms):.1f} s (target {TARGET_S:.0f} s, bound here {bound:.0f} s); "
          f"{r[0]['bytes'] / 2**20:.1f} MB per client; server CPU {server_cpu / N_PAGES:.2f} s per session")
    assert len(r) == N_PAGES and all(x["bytes"] > 2**20 for x in r)   # every client got the page, its files and its document
    assert server_cpu / N_PAGES <= SERVER_CPU_PER_SESSION_S, f"{server_cpu / N_PAGES:.2f} s of server CPU per session"
    assert med <= bound, f"median {med:.1f} s > {bound:.0f} s"
