"""Dashboard speed, measured in the browser (Debian Chromium through Playwright): time to first render with 5 000
embedded clips, and the time of each widget change, against a bare Panel app (one select bound to a 10-point Vega
chart) served the same way in the same run.

    .venv/bin/python benchmarks/bench_dashboard.py [--clips 5000] [--repeats 3]
    .venv/bin/python benchmarks/bench_dashboard.py --sessions 20      # a room of collaborators at once (issue 27)
    .venv/bin/python benchmarks/bench_dashboard.py --sessions 20 --base DIR   # the same, also served from an older checkout

"first render" runs from navigation start to the last Vega chart of the view drawn (vega-embed resolved);
"widget change" from just before the browser changes the widget to the re-drawn chart (a server round trip, a new
spec, Vega's re-render). Targets (issue 8): first render < 3 s, each widget change < 500 ms. Data: a FIXTURE bundle
of random numbers (tests/browser_fixtures.py) with N clips × 3 modalities, PCA and UMAP-like projections.
"""
import argparse, contextlib, os, statistics, subprocess, sys, tempfile, textwrap, time, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from browser_fixtures import (make_fixture_bundle, serve_dashboard, launch_chromium, free_port, harmless,  # noqa: E402
                              concurrent_first_render, summary_chart_count, first_view_profile, server_cpu_s,
                              wire_first_views)

# Timestamp every finished vega-embed call (Panel's Vega pane calls window.vegaEmbed once per draw).
HOOK = """(() => { let ve; window.__vegaDone = [];
  Object.defineProperty(window, 'vegaEmbed', { configurable: true, get() { return ve; },
    set(v) { ve = Object.assign((...a) => v(...a).then(r => { window.__vegaDone.push(performance.now()); return r; }), v); } });
})();"""

BASELINE_APP = textwrap.dedent('''
    import panel as pn, pandas as pd, altair as alt
    pn.extension("vega")
    df = pd.DataFrame({"x": range(10), "y": range(10), "a": list("ab") * 5, "b": list("abcde") * 2})
    w = pn.widgets.Select(name="colour by", options=["a", "b"], value="a", width=140)
    chart = pn.bind(lambda c: pn.pane.Vega(alt.Chart(df).mark_circle().encode(x="x", y="y", color=c + ":N").to_dict()), w)
    pn.template.BootstrapTemplate(title="baseline", main=[w, chart]).servable()
''')


def n_done(page): return page.evaluate("window.__vegaDone.length")


def first_render(browser, url, n_charts, errors):
    "ms from navigation start until `n_charts` Vega charts are drawn."
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}); ctx.add_init_script(HOOK)
    page = ctx.new_page(); page.set_default_timeout(60_000)
    page.on("console", lambda m: m.type == "error" and not harmless(m.text, (m.location or {}).get("url", "")) and errors.append(m.text))
    page.goto(url, wait_until="commit")
    page.wait_for_function(f"window.__vegaDone && window.__vegaDone.length >= {n_charts}", polling=20)
    t = page.evaluate(f"window.__vegaDone[{n_charts - 1}]")
    return page, ctx, t


def widget_change(page, act, n_charts=1):
    "ms from just before `act(page)` until `n_charts` more Vega charts are drawn."
    page.wait_for_timeout(300)
    before = n_done(page)
    t0 = page.evaluate("performance.now()")
    act(page)
    page.wait_for_function(f"window.__vegaDone.length >= {before + n_charts}", polling=10)
    return page.evaluate(f"window.__vegaDone[{before + n_charts - 1}]") - t0


def select(label_option, value):
    "An action that picks `value` in the <select> that offers `label_option`."
    return lambda page: page.locator("select").filter(has_text=label_option).first.select_option(value)


def sessions_table(n_pages:int, repeats:int=1, clips:int=60, base=None):
    """`n_pages` browser pages open the served dashboard at the same moment (two FIXTURE runs of `clips` clips): first
    render of each (from the moment all were asked to navigate to its Summary charts drawn), against one page alone;
    with empty caches (20 first visits) and warm ones (a context that has opened the dashboard twice before: HTTP and
    V8 code caches hold its scripts). Beside: the CPU each page cost Chromium and each session cost the server, and
    what one page's first view weighs. `base`: the root of another checkout, served beside this one and timed in
    turn, row by row (before/after on the same machine state)."""
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as td, sync_playwright() as pw:
        td = Path(td)
        make_fixture_bundle(td / "runs" / "with_priors", n=clips, seed=0, umap=True)
        make_fixture_bundle(td / "runs" / "no_priors", n=clips, seed=1, modalities=("video", "text"), gates=False)
        browser = launch_chromium(pw)
        with contextlib.ExitStack() as stack:
            urls = {"this checkout": stack.enter_context(serve_dashboard([td / "runs"]))}
            if base: urls["base " + Path(base).name] = stack.enter_context(serve_dashboard([td / "runs"], pythonpath=base))
            n_charts = {v: summary_chart_count(browser, u) for v, u in urls.items()}   # the first session loads the bundles
            profs = {v: first_view_profile(browser, u, n_charts[v]) for v, u in urls.items()}
            rows = []
            cases = [("1 page alone", 1, False)] * 3 + [(f"{n_pages} pages, empty caches", n_pages, False),
                                                         (f"{n_pages} pages, warm caches", n_pages, True)] * repeats
            for label, n, warm in cases:
                for v, url in urls.items():
                    load, c0 = os.getloadavg()[0], server_cpu_s(url)
                    r = concurrent_first_render(browser, url, n, n_charts[v], warm=warm)
                    rows.append((f"{v}: {label}", n, r, (server_cpu_s(url) - c0) / n, load, v))
            wire = []
            for v, url in urls.items():      # the server's side of n collaborators on n machines (no browser here)
                load, c0 = os.getloadavg()[0], server_cpu_s(url)
                w = wire_first_views(url, n_pages)
                wire.append((v, [x["ms"] for x in w], w[0]["bytes"], (server_cpu_s(url) - c0) / n_pages, load))
        browser.close()
    one = {v: statistics.median([r["ms"][0] for _, n, r, _, _, w in rows if n == 1 and w == v]) for v in urls}
    singles = [min((x for x in rows if x[1] == 1 and x[5] == v), key=lambda x: abs(x[2]["ms"][0] - one[v])) for v in urls]
    rows = singles + [x for x in rows if x[1] > 1]                    # the median one of the single pages
    for v, prof in profs.items():
        print(f"\n{v}: first view of one page: {prof['bytes'].get('Script', 0) / 2**20:.2f} MB of JS in "
              f"{prof['requests'].get('Script', 0)} files, {prof['bytes'].get('Stylesheet', 0) / 2**20:.2f} MB of CSS, "
              f"{prof['ws_bytes'] / 1024:.0f} KB over the websocket, {prof['models']} Bokeh models, {n_charts[v]} Vega "
              f"charts; main thread {prof['task_s']:.2f} s ({prof['script_s']:.2f} s in JS), renderer CPU {prof['renderer_cpu_s']:.2f} s")
    head = ["pages at once", "median s", "min s", "max s", "vs 1 page", "renderer CPU/page s", "browser+GPU CPU/page s",
            "server CPU/session s", "load", "console errors", "external requests"]
    print("\n" + " | ".join(head))
    for label, n, r, server, load, v in rows:
        med, cpu = statistics.median(r["ms"]), r["browser_cpu"]
        print(" | ".join([label, f"{med / 1000:.1f}", f"{min(r['ms']) / 1000:.1f}", f"{max(r['ms']) / 1000:.1f}",
                          f"{med / one[v]:.2f}", f"{cpu.get('renderer', 0) / n:.2f}", f"{(cpu.get('browser', 0) + cpu.get('GPU', 0)) / n:.2f}",
                          f"{server:.2f}", f"{load:.1f}", str(len(r["errors"])), str(len(r["external"]))]))
    print(f"\n{n_pages} collaborators on {n_pages} machines, the server's side (a protocol client fetches the page, its "
          f"scripts and stylesheets and pulls the session's document, as a browser does; no browser on these cores):")
    for v, ms, nbytes, server, load in wire:
        print(f"{v}: every first view sent in median {statistics.median(ms) / 1000:.1f} s, max {max(ms) / 1000:.1f} s; "
              f"{nbytes / 2**20:.1f} MB per client; server CPU {server:.2f} s per session; load {load:.1f}; a browser then "
              f"draws it in about {one[v] / 1000:.1f} s on its own machine (1 page alone, above)")
    print(f"\n{os.cpu_count()} CPU cores, shared by the server and all pages; load: 1-minute load average at the start "
          f"of the row; target: median <= 10 s on 2 cores")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=0, help="only time N pages opening the dashboard at once")
    ap.add_argument("--base", help="with --sessions: also serve the medclip_nb of this checkout root (e.g. a `git worktree` "
                                   "of an older commit) and time it row by row beside this one")
    a = ap.parse_args(argv)
    if a.sessions: return sessions_table(a.sessions, repeats=1, base=a.base)
    from playwright.sync_api import sync_playwright
    rows, errors = [], []
    med = lambda xs: statistics.median(xs)
    with tempfile.TemporaryDirectory() as td, sync_playwright() as pw:
        td = Path(td)
        t = time.perf_counter()
        make_fixture_bundle(td / "runs" / f"n{a.clips}", n=a.clips, seed=0, umap=True)
        print(f"fixture bundle with {a.clips} clips written in {time.perf_counter() - t:.1f} s", flush=True)
        browser = launch_chromium(pw)
        # ---- baseline: a bare Panel app, served by `panel serve`
        (td / "baseline.py").write_text(BASELINE_APP)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(td / "baseline.py"), "--port", str(port),
                                 "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}", "--liveness"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try: urllib.request.urlopen(f"http://127.0.0.1:{port}/liveness", timeout=1); break
                except OSError: time.sleep(0.2)
            page, ctx, _ = first_render(browser, f"http://127.0.0.1:{port}/baseline", 1, errors); ctx.close()   # warm-up
            base_first, base_change = [], []
            for _ in range(a.repeats):
                page, ctx, ms = first_render(browser, f"http://127.0.0.1:{port}/baseline", 1, errors)
                base_first.append(ms)
                base_change.append(widget_change(page, select("b", "b")))
                ctx.close()
        finally:
            proc.terminate(); proc.wait(10)
        bf, bc = med(base_first), med(base_change)
        print(f"baseline: first render {bf:.0f} ms, widget change {bc:.0f} ms", flush=True)
        rows.append(("bare Panel app: first render (1 chart)", bf, None, 1.0))
        rows.append(("bare Panel app: widget change", bc, None, 1.0))
        # ---- the dashboard
        with serve_dashboard([td / "runs"]) as url:
            # the first session of a server process also loads the bundle (pn.cache); report it apart
            page, ctx, cold = first_render(browser, url, 3, errors); ctx.close()
            rows.append(("first render: the first browser session after start", cold, 3000, cold / bf))
            cases = [("Summary", "", 3), ("Embeddings", "/?view=embeddings", 1)]
            for name, q, n in cases:
                xs = []
                for _ in range(a.repeats):
                    page, ctx, ms = first_render(browser, url + q, n, errors); xs.append(ms); ctx.close()
                rows.append((f"first render: {name} view ({a.clips} clips)", med(xs), 3000, med(xs) / bf))
                print(f"  first render {name}: {med(xs):.0f} ms", flush=True)
            changes = [
                ("Embeddings", "/?view=embeddings", 1, "colour by label → split", select("subject", "split")),
                ("Embeddings", "/?view=embeddings", 1, "colour by → subject (no legend)", select("subject", "subject")),
                ("Embeddings", "/?view=embeddings", 1, f"modality video → all ({3 * a.clips} points)", select("attention", "all")),
                ("Embeddings", "/?view=embeddings", 1, "projection PCA → UMAP", select("umap", "umap")),
                ("Summary", "", 3, "row-normalise the confusion matrix",
                 lambda p: p.locator(".mc-view-summary input[type=checkbox]").first.check()),
                ("Gates", "/?view=gates", 2, "gates: class all → pd_mild", select("pd_mild", "pd_mild")),
                ("Attention", "/?view=attention", 3, "attention: class all → koa_mild (frame curves)", select("koa_mild", "koa_mild")),
            ]
            for view, q, n_first, label, act in changes:
                xs = []
                for _ in range(a.repeats):
                    page, ctx, _ = first_render(browser, url + q, n_first, errors)
                    xs.append(widget_change(page, act)); ctx.close()
                rows.append((f"widget change: {label}", med(xs), 500, med(xs) / bc))
                print(f"  {label}: {med(xs):.0f} ms", flush=True)
        browser.close()
    w = max(len(r[0]) for r in rows)
    print(f"\n{'step'.ljust(w)}  {'median ms':>9}  {'target':>7}  {'vs target':>9}  {'vs bare Panel':>13}")
    for name, ms, target, ratio in rows:
        tgt = f"{target:>7d}" if target else f"{'':>7}"
        vt = f"{ms / target:>9.2f}" if target else f"{'':>9}"
        print(f"{name.ljust(w)}  {ms:>9.0f}  {tgt}  {vt}  {ratio:>13.2f}")
    print(f"\n{a.repeats} repeats, median; {os.cpu_count()} CPU cores; console errors: {len(errors)}")
    for e in errors[:5]: print("  console error:", e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
