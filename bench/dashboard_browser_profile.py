"""Where the symbol view's page load goes in headless Chromium (issue 5), split into parts:

- the framework's fixed cost: a minimal Streamlit app (bench/dashboard_baseline_app.py), until its
  text is drawn; the same app with one tiny Plotly chart (adds loading plotly.js, ~4.7 MB of JS);
- the symbol view (1 h range, a day of 1 s bars of 10 symbols stored, as bench.dashboard_symbol_view
  seeds it), until its 5 charts are drawn and no script run is in progress.

For each load: time to the HTML (`responseEnd`), to DOMContentLoaded, to the websocket opening, to
the first and last message the server sends before the page settles, to the first chart; the
number of script runs the browser asked for (websocket messages it sent); the browser's main-thread
CPU (Chromium's Performance metrics: script, layout and style time, all tasks) and the server
process's CPU during the load. Runs alternate between the three pages; medians are printed.

With `--compare-with DIR` (a source tree, e.g. `git archive <commit> | tar -x -C DIR`), the symbol
view of that tree is loaded too, alternating with this one's, on the same data: before/after.

Run: .venv/bin/python -m bench.dashboard_browser_profile [--runs N] [--js-profile] [--compare-with DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.dashboard_server import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, running_dashboard
from bench.dashboard_symbol_view import seed_day
from config import PostgresSettings, RedisSettings, StackSettings
from obm.stack.health import free_port
from obm.stack.postgres_server import PostgresServer
from obm.stack.redis_server import RedisServer

BASELINE_APP = REPO_ROOT / "bench" / "dashboard_baseline_app.py"
_CPU_METRICS = ("ScriptDuration", "TaskDuration", "LayoutDuration", "RecalcStyleDuration")


def _server_cpu_s(pid: int) -> float:
    """CPU time (user + system) of the Streamlit server process and its threads."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _streamlit_pid(port: int) -> int:
    """The pid of the `streamlit run` child listening on `port` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(cmd) and str(port).encode() in cmd:
                return int(entry.name)
    raise RuntimeError(f"no streamlit process on port {port}")


def _js_self_time_by_script(profile: dict[str, Any]) -> dict[str, float]:
    """Self time (ms) of the sampled JS profile per script file: plotly.js's chunk vs Streamlit's
    bundle vs the rest; "(program)" is native browser work, "(garbage collector)" GC."""
    url_of = {}
    for node in profile["nodes"]:
        url = node["callFrame"].get("url") or node["callFrame"].get("functionName") or "?"
        url_of[node["id"]] = url.rsplit("/", 1)[-1].split(".")[0] or url
    out: dict[str, float] = {}
    for node_id, delta in zip(profile.get("samples", []), profile.get("timeDeltas", []), strict=False):
        name = url_of.get(node_id, "?")
        out[name] = out.get(name, 0.0) + delta / 1000
    return out


def measure_load(
    browser: Any, url: str, ready_js: str, server_pid: int, js_profile: bool = False
) -> dict[str, float]:
    """One fresh-tab page load; times in ms from navigation start."""
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    if js_profile:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
    before = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    marks: dict[str, float] = {}
    sent, received = [0], [0]
    t0 = time.perf_counter()

    def mark(name: str) -> None:
        marks.setdefault(name, (time.perf_counter() - t0) * 1000)

    def on_ws(ws: Any) -> None:
        mark("ws_open")
        ws.on("framesent", lambda _p: sent.__setitem__(0, sent[0] + 1))

        def on_received(_payload: Any) -> None:
            received[0] += 1
            mark("first_message")
            marks["last_message"] = (time.perf_counter() - t0) * 1000

        ws.on("framereceived", on_received)

    page.on("websocket", on_ws)
    cpu0 = _server_cpu_s(server_pid)
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => document.querySelector('[data-testid=stMainBlockContainer] [data-testid=stElementContainer]')",
                           timeout=60_000, polling=10)  # fmt: skip
    mark("first_content")
    page.wait_for_function(ready_js, timeout=60_000, polling=10)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=60_000, polling=10)  # fmt: skip
    mark("settled")
    server_cpu = (_server_cpu_s(server_pid) - cpu0) * 1000
    nav = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return [n.responseEnd, n.domContentLoadedEventEnd]; }")  # fmt: skip
    after = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    by_script = _js_self_time_by_script(cdp.send("Profiler.stop")["profile"]) if js_profile else {}
    page.close()
    out = dict(marks, html=nav[0], dom_ready=nav[1], script_runs_asked=float(sent[0]),
               messages=float(received[0]), server_cpu=server_cpu)  # fmt: skip
    out["last_message"] = min(out.get("last_message", 0.0), out["settled"])
    for name in _CPU_METRICS:
        out[name] = (after.get(name, 0.0) - before.get(name, 0.0)) * 1000
    for name, ms in by_script.items():
        if name != "(idle)":
            out[f"js:{name}"] = ms
    return out


@contextmanager
def _services(seed: bool) -> Iterator[tuple[PostgresSettings, RedisSettings]]:
    state = Path(tempfile.mkdtemp(prefix="obm-bench-browser-"))
    state.chmod(0o755)
    stack = StackSettings(state_dir=state, start_timeout_s=180)
    pg_server = PostgresServer(PostgresSettings(port=free_port()), stack, durable=False)
    redis_server = RedisServer(RedisSettings(port=free_port(), latest_ttl_s=3_600), stack, persistent=False)
    try:
        pg_server.start()
        redis_server.start()
        if seed:
            seed_day(pg_server.settings, redis_server.settings, int(time.time()) * 1000)
        yield pg_server.settings, redis_server.settings
    finally:
        redis_server.stop()
        pg_server.stop()
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--compare-with", type=Path, default=None,
                        help="also the symbol view of another source tree (e.g. an older commit's `git archive`)")  # fmt: skip
    parser.add_argument("--js-profile", action="store_true", help="also JS self time per script (sampled)")
    parser.add_argument(
        "--no-seed", action="store_true", help="empty stores (the symbol view then has no data)"
    )
    args = parser.parse_args()
    logs = REPO_ROOT / "test-artifacts"
    pages = {
        "minimal Streamlit app": ("baseline", "/", "() => document.body.innerText.includes('Baseline page')"),
        "same + one tiny Plotly chart": ("baseline_plotly", "/", "() => !!document.querySelector('.js-plotly-plot')"),
        "symbol view (1 h)": ("dashboard", "/symbol", "() => document.querySelectorAll('.js-plotly-plot').length >= 5"),
    }  # fmt: skip
    if args.compare_with is not None:
        pages[f"symbol view (1 h), {args.compare_with.name}"] = (
            "older",
            "/symbol",
            pages["symbol view (1 h)"][2],
        )
    results: dict[str, list[dict[str, float]]] = {name: [] for name in pages}
    with _services(not args.no_seed) as (pg, redis), ExitStack() as stack, sync_playwright() as pw:
        bases: dict[str, str] = {}
        for server, app, env in (("baseline", BASELINE_APP, "0"), ("baseline_plotly", BASELINE_APP, "1"),
                                 ("dashboard", None, None)):  # fmt: skip
            if env is not None:
                os.environ["OBM_BASELINE_PLOTLY"] = env
            kwargs = {"app": app} if app is not None else {}
            bases[server] = stack.enter_context(
                running_dashboard(pg, redis, logs / f"bench-browser-{server}.log", refresh_s=0, **kwargs)  # type: ignore[arg-type]
            )
        if args.compare_with is not None:
            bases["older"] = stack.enter_context(running_dashboard(
                pg, redis, logs / "bench-browser-older.log", refresh_s=0, source_root=args.compare_with.resolve()))  # fmt: skip
        pids = {server: _streamlit_pid(int(base.rsplit(":", 1)[1])) for server, base in bases.items()}
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for run in range(args.runs + 1):  # the first round warms the servers (imports, caches)
                for name, (server, path, ready) in pages.items():
                    time.sleep(3.5)  # past the history cache's TTL: every symbol view load queries
                    r = measure_load(browser, bases[server] + path, ready, pids[server], args.js_profile)
                    if run:
                        results[name].append(r)
        finally:
            browser.close()
    print(f"load average at the end: {os.getloadavg()}")
    columns = ["html", "dom_ready", "ws_open", "first_message", "first_content", "last_message", "settled",
               "script_runs_asked", "messages", *_CPU_METRICS, "server_cpu"]  # fmt: skip
    print("median over", args.runs, "loads, ms from navigation (counts for script_runs_asked, messages)")
    print(f"{'':30s}" + "".join(f"{c[:13]:>14s}" for c in columns))
    for name, runs in results.items():
        print(
            f"{name:30s}"
            + "".join(f"{statistics.median(r.get(c, 0.0) for r in runs):14.0f}" for c in columns)
        )
    if args.js_profile:
        print("JS self time per script, ms (median; (program) = native browser work)")
        for name, runs in results.items():
            scripts = sorted({k for r in runs for k in r if k.startswith("js:")},
                             key=lambda k: -statistics.median(r.get(k, 0.0) for r in runs))  # fmt: skip
            shares = [f"{k[3:]} {statistics.median(r.get(k, 0.0) for r in runs):.0f}" for k in scripts[:8]]
            print(f"  {name}: " + ", ".join(shares))


if __name__ == "__main__":
    main()
