// SoftLookupExplorer front-end: drag a query among 2-D keys; weights and output update live.
import { softLookup } from "./math.js";
import {
  el, exact, explorerRoot, fmt, fmtVector, isolate, listen, liveRegion, numberCell, rgb, setter, stateJSON, uniqueId,
  weightCell, weightColour,
} from "./ui.js";

const SIZE = 320; // the plot's side, in CSS pixels
const PAD = 36;

function bounds(points) {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const lo = [Math.min(0, ...xs), Math.min(0, ...ys)];
  const hi = [Math.max(0, ...xs), Math.max(0, ...ys)];
  const span = Math.max(1, hi[0] - lo[0], hi[1] - lo[1]) * 1.3;
  const centre = [(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2];
  return { x0: centre[0] - span / 2, y0: centre[1] - span / 2, span };
}

/**
 * The plot: keys as labelled points, the query as a diamond to drag (or move with the arrow keys), a line to
 * each key as thick as its weight. Returns {element, show(query, weights)}.
 */
function queryPlot(keys, labels, [xName, yName], getQuery, setQuery) {
  let view = bounds([...keys, getQuery()]);
  let drawnView = null;
  const toPx = ([x, y]) => [PAD + ((x - view.x0) / view.span) * (SIZE - 2 * PAD), SIZE - PAD - ((y - view.y0) / view.span) * (SIZE - 2 * PAD)];
  const fromPx = (px, py) => [
    view.x0 + ((px - PAD) / (SIZE - 2 * PAD)) * view.span,
    view.y0 + ((SIZE - PAD - py) / (SIZE - 2 * PAD)) * view.span,
  ];

  const svg = el("svg:svg", {
    class: "lx-plot",
    width: SIZE,
    height: SIZE,
    viewBox: `0 0 ${SIZE} ${SIZE}`,
    tabindex: 0,
    role: "application",
    "aria-roledescription": "draggable query point",
    "aria-label": "Query position: drag the diamond, or use the arrow keys (Shift for bigger steps)",
  });
  const axes = el("svg:g", { class: "lx-axes" });
  const links = keys.map(() => el("svg:line", { class: "lx-link" }));
  const keyMarks = keys.map((key, j) =>
    el(
      "svg:g",
      { class: "lx-keymark" },
      el("svg:circle", { r: 6 }),
      el("svg:text", { class: "lx-keylabel", dy: -10, "text-anchor": "middle" }, labels[j]),
    ),
  );
  const queryMark = el(
    "svg:g",
    { class: "lx-query" },
    el("svg:path", { d: "M0,-10 L10,0 L0,10 L-10,0 Z" }),
    el("svg:text", { class: "lx-keylabel", dy: 24, "text-anchor": "middle" }, "query"),
  );
  svg.append(axes, ...links, ...keyMarks, queryMark);

  function drawAxes() {
    axes.replaceChildren();
    const [ox, oy] = toPx([0, 0]);
    const raw = view.span / 5;
    const step = [0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 50, 100].find((s) => s >= raw) || raw;
    const ticks = [];
    for (let t = Math.ceil(view.x0 / step) * step; t <= view.x0 + view.span + 1e-9; t += step) {
      const [x] = toPx([t, 0]);
      ticks.push(el("svg:line", { x1: x, x2: x, y1: SIZE - PAD, y2: SIZE - PAD + 4, class: "lx-axis-tick" }));
      ticks.push(el("svg:text", { x, y: SIZE - PAD + 14, "text-anchor": "middle", class: "lx-ticklabel" }, fmt(t, step < 1 ? 1 : 0)));
    }
    for (let t = Math.ceil(view.y0 / step) * step; t <= view.y0 + view.span + 1e-9; t += step) {
      const [, y] = toPx([0, t]);
      ticks.push(el("svg:line", { x1: PAD - 4, x2: PAD, y1: y, y2: y, class: "lx-axis-tick" }));
      ticks.push(el("svg:text", { x: PAD - 6, y: y + 3, "text-anchor": "end", class: "lx-ticklabel" }, fmt(t, step < 1 ? 1 : 0)));
    }
    axes.append(
      el("svg:rect", { x: PAD, y: PAD, width: SIZE - 2 * PAD, height: SIZE - 2 * PAD, class: "lx-frame" }),
      el("svg:line", { x1: PAD, x2: SIZE - PAD, y1: oy, y2: oy, class: "lx-axis" }),
      el("svg:line", { x1: ox, x2: ox, y1: PAD, y2: SIZE - PAD, class: "lx-axis" }),
      ...ticks,
      el("svg:text", { x: SIZE - PAD, y: SIZE - 4, "text-anchor": "end", class: "lx-axislabel" }, `${isolate(xName)} →`),
      el("svg:text", { x: PAD, y: PAD - 8, "text-anchor": "start", class: "lx-axislabel" }, `↑ ${isolate(yName)}`),
    );
    keys.forEach((key, j) => {
      const [x, y] = toPx(key);
      keyMarks[j].setAttribute("transform", `translate(${x},${y})`);
    });
  }

  let dragging = false;
  const pointer = (event) => {
    const box = svg.getBoundingClientRect();
    const px = ((event.clientX - box.left) / box.width) * SIZE;
    const py = ((event.clientY - box.top) / box.height) * SIZE;
    const clamp = (t) => Math.max(PAD, Math.min(SIZE - PAD, t));
    setQuery(fromPx(clamp(px), clamp(py)));
  };
  svg.addEventListener("pointerdown", (event) => {
    dragging = true;
    svg.setPointerCapture?.(event.pointerId);
    pointer(event);
    event.preventDefault();
  });
  svg.addEventListener("pointermove", (event) => dragging && pointer(event));
  svg.addEventListener("pointerup", () => (dragging = false));
  svg.addEventListener("pointercancel", () => (dragging = false));
  svg.addEventListener("keydown", (event) => {
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (!(event.key in moves)) return;
    event.preventDefault();
    const step = (view.span / 40) * (event.shiftKey ? 5 : 1);
    const [x, y] = getQuery();
    setQuery([x + moves[event.key][0] * step, y + moves[event.key][1] * step]);
  });

  return {
    element: svg,
    show(query, weights) {
      const [qx, qy] = query;
      if (qx < view.x0 || qx > view.x0 + view.span || qy < view.y0 || qy > view.y0 + view.span) {
        view = bounds([...keys, query]); // set from Python outside the view: widen it
      }
      if (view !== drawnView) {
        drawAxes();
        drawnView = view;
      }
      const [px, py] = toPx(query);
      queryMark.setAttribute("transform", `translate(${px},${py})`);
      weights.forEach((w, j) => {
        const [kx, ky] = toPx(keys[j]);
        Object.entries({ x1: px, y1: py, x2: kx, y2: ky }).forEach(([a, b]) => links[j].setAttribute(a, b));
        links[j].setAttribute("stroke-width", String(0.5 + 7 * w));
        keyMarks[j].querySelector("circle").setAttribute("fill", rgb(weightColour(w)));
      });
    },
  };
}

function render({ model, el: host }) {
  const keys = model.get("key_vectors");
  const values = model.get("value_vectors");
  const labels = model.get("labels");
  const uid = uniqueId("lx-soft");
  const set = setter(model);
  const [xName, yName] = model.get("axis_labels");
  const setQuery = (query) => set({ query: query.map((x) => Math.round(x * 1e4) / 1e4) });
  const plot = queryPlot(keys, labels, [xName, yName], () => model.get("query"), setQuery);

  // --- number inputs, scale, weights and output ----------------------------------------------
  const coordinate = (axis, name) =>
    el("input", {
      type: "number",
      class: "lx-number",
      step: 0.1,
      "aria-label": `Query coordinate: ${isolate(name)}`,
      onchange: (event) => {
        const query = model.get("query").slice();
        const value = Number(event.target.value);
        if (Number.isFinite(value)) {
          query[axis] = value;
          setQuery(query);
        }
      },
    });
  const xInput = coordinate(0, xName);
  const yInput = coordinate(1, yName);
  const scaleInput = el("input", {
    type: "range",
    id: `${uid}-scale`,
    class: "lx-slider",
    min: 0,
    max: Math.max(10, 2 * model.get("scale")),
    step: 0.05,
    "aria-label": "Scale (multiplies every score before the softmax)",
    oninput: () => set({ scale: Number(scaleInput.value) }),
  });
  const scaleText = el("output", { class: "lx-num", for: `${uid}-scale` });

  const weightRows = labels.map((label, j) => {
    const score = numberCell("score");
    const weight = weightCell();
    const value = el("td", { class: "lx-num lx-vector", title: values[j].map(exact).join(", ") }, fmtVector(values[j], 2, 4));
    const tr = el(
      "tr",
      { "data-key": j },
      el("th", { scope: "row", class: "lx-key" }, el("bdi", {}, label)),
      el("td", { class: "lx-num" }, fmtVector(keys[j], 2)),
      score.td,
      weight.td,
      value,
    );
    return { tr, score, weight };
  });
  const outputCell = el("td", { colspan: 4, class: "lx-num lx-output" });
  const table = el(
    "table",
    { class: "lx-table" },
    el("caption", {}, "Soft lookup of the query"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "key"),
        el("th", { scope: "col" }, "position"),
        el("th", { scope: "col", title: "score = scale × key · query" }, "score"),
        el("th", { scope: "col" }, "weight"),
        el("th", { scope: "col" }, "value"),
      ),
    ),
    el("tbody", {}, weightRows.map((r) => r.tr)),
    el("tfoot", {}, el("tr", {}, el("th", { scope: "row" }, "output"), outputCell)),
  );
  const live = liveRegion();

  const root = explorerRoot(
    "soft-lookup",
    model,
    "Drag the query (◆) among the keys, or click the plot and use the arrow keys. Weights = softmax(scale × key · query); output = Σ weight × value.",
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, plot.element),
      el(
        "div",
        { class: "lx-panel" },
        el(
          "div",
          { class: "lx-controls" },
          el("div", { class: "lx-control" }, el("span", { class: "lx-label" }, "Query"), el("bdi", {}, xName), " ", xInput, " ", el("bdi", {}, yName), " ", yInput),
          el("div", { class: "lx-control" }, el("label", { for: `${uid}-scale` }, "Scale"), scaleInput, scaleText),
        ),
        scrollRegion("Soft lookup table", table),
        live,
      ),
    ),
  );
  host.append(root);

  function update() {
    const query = model.get("query");
    const scale = model.get("scale");
    const [qx, qy] = query;
    const result = softLookup(query, keys, values, scale);
    plot.show(query, result.weights);
    result.weights.forEach((w, j) => {
      weightRows[j].weight.set(w);
      weightRows[j].score.set(result.scores[j]);
    });
    if (document.activeElement !== xInput) xInput.value = String(qx);
    if (document.activeElement !== yInput) yInput.value = String(qy);
    if (scale > Number(scaleInput.max)) scaleInput.max = String(2 * scale);
    scaleInput.value = String(scale);
    scaleInput.setAttribute("aria-valuetext", `scale ${fmt(scale, 2)}`);
    scaleText.textContent = fmt(scale, 2);
    scaleText.title = exact(scale);
    outputCell.textContent = fmtVector(result.output, 3);
    outputCell.title = result.output.map(exact).join(", ");
    live.textContent = `query (${fmt(qx, 2)}, ${fmt(qy, 2)}): ` + labels.map((label, j) => `${isolate(label)} ${fmt(result.weights[j], 2)}`).join(", ");
    root.dataset.state = stateJSON({ query, scale, scores: result.scores, weights: result.weights, output: result.output });
  }

  const stop = listen(model, ["query", "scale"], update);
  update();
  return stop;
}

export default { render };
