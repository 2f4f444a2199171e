"""How long one explorer interaction takes in Chromium: recompute + redraw (target: under 16 ms, one frame).

The explorers are embedded in a static widget page exactly as the book embeds them (require.js,
html-manager 1.0.6, anywidget; no kernel), served offline from js/node_modules like the browser tests.
Each interaction is dispatched inside the page and timed there:

- "update": the event handler, the JavaScript maths and the DOM/canvas redraw, plus the forced layout;
- "frame":  until the next animation frame has been produced (includes style, layout and paint).

Run: .venv/bin/python benchmarks/bench_explorers.py [--update-readme]   (needs Chromium and `make js-deps`)
Target: one interaction under 16 ms (one frame) for every explorer at the size it is made for
(AttentionExplorer and HeadsExplorer at 64 tokens).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))  # reuse the browser tests' offline server and CDN routing

import lessons_lib as ll  # noqa: E402
from lessons_lib.explorers import (  # noqa: E402
    AttentionExplorer,
    HeadsExplorer,
    OnlineSoftmaxExplorer,
    SoftLookupExplorer,
    TrainingExplorer,
)
from readme_block import update_readme  # noqa: E402

REPEATS = 40
TARGET_MS = 16.0

# In-page timing: run `action(k)` REPEATS times; for each, time the synchronous update (with a forced
# layout) and the time until the next animation frame.
TIMER = """
async ([selector, index, action, repeats]) => {
  const root = document.querySelectorAll(selector)[index];
  const act = new Function("root", "k", action);
  const update = [], frame = [];
  for (let k = 0; k < repeats; k++) {
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const t0 = performance.now();
    act(root, k);
    root.getBoundingClientRect();            // force style + layout now
    const t1 = performance.now();
    await new Promise((r) => requestAnimationFrame(() => r()));
    const t2 = performance.now();
    update.push(t1 - t0);
    frame.push(t2 - t0);
  }
  return { update, frame };
}
"""

CLICK = "const b = root.querySelectorAll('{sel}'); b[(k * 7 + 1) % b.length].click();"
SLIDER = (
    "const s = root.querySelector('input.lx-slider'); s.value = String(-2 + 4 * ((k * 0.37) % 1));"
    "s.dispatchEvent(new Event('input', {bubbles: true}));"
)
RADIO = "const r = root.querySelectorAll('input[type=radio]'); r[k % 2 ? 0 : 1].click();"
LAYER = (
    "const s = root.querySelector('select.lx-select'); s.value = String(k % s.options.length);"
    "s.dispatchEvent(new Event('change', {bubbles: true}));"
)
KEY = "root.querySelector('svg.lx-plot').dispatchEvent(new KeyboardEvent('keydown', {key: k % 2 ? 'ArrowLeft' : 'ArrowUp', bubbles: true}));"
SNAPSHOT = (
    "const s = root.querySelector('input.lx-slider'); s.value = String((k * 7) % (Number(s.max) + 1));"
    "s.dispatchEvent(new Event('input', {bubbles: true}));"
)
STEP = "const b = root.querySelectorAll('button.lx-button'); (k % 4 === 3 ? b[0] : b[2]).click();"


def explorers():
    rng = np.random.default_rng(0)
    tokens32 = [f"tok{i}" for i in range(32)]
    tokens64 = [f"w{i}" for i in range(64)]
    x = rng.normal(size=(32, 64))
    params = ll.init_multi_head_params(64, 8, seed=0)
    _, heads_weights = ll.multi_head_attention(x, params, num_heads=8)  # (8, 32, 32)
    return [
        ("AttentionExplorer, 32 tokens, d_k = 8", AttentionExplorer(tokens32, rng.normal(size=(32, 8)), rng.normal(size=(32, 8)), rng.normal(size=(32, 8))),
         [("click a token", CLICK.format(sel="button.lx-token")), ("move the scale slider", SLIDER), ("toggle causal mask", RADIO)]),
        ("HeadsExplorer, 32 tokens × 8 heads", HeadsExplorer(tokens32, heads_weights),
         [("click a head", CLICK.format(sel="button.lx-thumb")), ("click a token", CLICK.format(sel="button.lx-token"))]),
        ("HeadsExplorer, 64 tokens × 12 heads", HeadsExplorer(tokens64, ll.softmax(rng.normal(size=(12, 64, 64)) * 3)),
         [("click a head", CLICK.format(sel="button.lx-thumb")), ("click a token", CLICK.format(sel="button.lx-token"))]),
        ("HeadsExplorer, 6 layers × 12 heads × 16", HeadsExplorer(tokens64[:16], ll.softmax(rng.normal(size=(6, 12, 16, 16)) * 3)),
         [("change layer", LAYER)]),
        ("AttentionExplorer, 64 tokens, d_k = 16", AttentionExplorer(tokens64, rng.normal(size=(64, 16)), rng.normal(size=(64, 16)), rng.normal(size=(64, 16))),
         [("click a token", CLICK.format(sel="button.lx-token")), ("move the scale slider", SLIDER)]),
        ("SoftLookupExplorer, 3 keys", SoftLookupExplorer([[0.9, 0], [1, 0.1], [0.1, 1]], [[1, 0], [0, 1], [0.5, 0.5]], ["cat", "dog", "car"]),
         [("arrow key", KEY)]),
        ("OnlineSoftmaxExplorer, 64 keys / 8", OnlineSoftmaxExplorer(rng.normal(size=8), rng.normal(size=(64, 8)), rng.normal(size=(64, 4)), 8),
         [("next block", STEP)]),
        ("TrainingExplorer, 12 tokens × 31 snapshots", TrainingExplorer(tokens32[:12], ll.softmax(rng.normal(size=(31, 2, 12, 12)) * 2),
                                                                         list(range(0, 310, 10)), np.geomspace(3, 0.01, 300)),
         [("move the snapshot slider", SNAPSHOT)]),
    ]


def measure(only: str = ""):
    from browser_support import CHROMIUM, CHROMIUM_ARGS, new_context, serve_npm, static_widget_page, wait_for_explorers
    from playwright.sync_api import sync_playwright

    cases = [case for case in explorers() if only in case[0]]
    with tempfile.TemporaryDirectory() as tmp:
        page_url = static_widget_page([w for _, w, _ in cases], Path(tmp) / "bench.html", "bench")
        npm_url, server = serve_npm()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            context = new_context(browser, npm_url)
            page = context.new_page()
            page.goto(page_url)
            wait_for_explorers(page, len(cases))
            version = browser.version
            rows = []
            for index, (name, _, actions) in enumerate(cases):
                for action_name, action in actions:
                    page.evaluate(TIMER, [".lx-root[data-explorer]", index, action, 5])  # warm up (JIT)
                    result = page.evaluate(TIMER, [".lx-root[data-explorer]", index, action, REPEATS])
                    rows.append((name, action_name, result["update"], result["frame"]))
            browser.close()
        server.shutdown()

    lines = [
        f"Headless Chromium {version}, software rendering, on the development machine (2 cores); {REPEATS} repeats of "
        "each interaction after 5 warm-up ones; times in ms. *update* = event handler + JavaScript maths + DOM/canvas "
        "redraw + the layout it forces; *frame* = until the next frame is produced (headless frames are not tied to "
        "a 60 Hz display, so this mostly adds the paint).",
        "",
        "| explorer | interaction | update, median | update, 95th pct | frame, median | median under 16 ms |",
        "|---|---|---:|---:|---:|:---:|",
    ]
    for name, action_name, update, frame in rows:
        ok = "yes" if statistics.median(update) < TARGET_MS else "**no**"
        lines.append(f"| {name} | {action_name} | {statistics.median(update):.1f} | {float(np.percentile(update, 95)):.1f} "
                     f"| {statistics.median(frame):.1f} | {ok} |")
    print("\n".join(lines))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--update-readme", action="store_true", help="write the table into README.md (its bench_explorers block)")
    parser.add_argument("--only", default="", help="measure only the explorers whose description contains this text")
    args = parser.parse_args()
    lines = measure(args.only)
    if args.update_readme and not args.only:
        update_readme("bench_explorers", lines)

if __name__ == "__main__":
    main()
