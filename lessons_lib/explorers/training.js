// TrainingExplorer front-end: a slider over training snapshots; the attention map at that step beside the loss curve.
import {
  el, exact, explorerRoot, fmt, isolate, listen, rgb, scrollRegion, setter, stateJSON, textOn, uniqueId, weightColour,
} from "./ui.js";

const PLOT = { width: 300, height: 190, left: 44, right: 8, top: 10, bottom: 34 };

/** Where the loss curve's points go in the plot: x from the step, y from log10(loss). Pure, so a test can call it. */
export function lossCurveGeometry(losses, plot = PLOT) {
  const logs = losses.map((x) => Math.log10(Math.max(x, 1e-12)));
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.ceil(Math.max(...logs));
  const span = Math.max(hi - lo, 1);
  const innerW = plot.width - plot.left - plot.right;
  const innerH = plot.height - plot.top - plot.bottom;
  const last = Math.max(losses.length - 1, 1);
  const x = (step) => plot.left + (innerW * step) / last;
  const y = (loss) => plot.top + (innerH * (hi - Math.log10(Math.max(loss, 1e-12)))) / span;
  return { lo, hi, x, y, points: losses.map((loss, step) => [x(step), y(loss)]) };
}

function lossPlot(losses) {
  const g = lossCurveGeometry(losses);
  const svg = el("svg:svg", {
    width: PLOT.width,
    height: PLOT.height,
    viewBox: `0 0 ${PLOT.width} ${PLOT.height}`,
    role: "img",
    "aria-label": "Training loss against the step (logarithmic loss axis)",
  });
  const axis = { stroke: "currentColor", "stroke-width": 1 };
  const bottom = PLOT.height - PLOT.bottom;
  svg.append(el("svg:line", { x1: PLOT.left, y1: PLOT.top, x2: PLOT.left, y2: bottom, ...axis }));
  svg.append(el("svg:line", { x1: PLOT.left, y1: bottom, x2: PLOT.width - PLOT.right, y2: bottom, ...axis }));
  for (let e = g.lo; e <= g.hi; e++) {
    const yy = g.y(10 ** e);
    svg.append(el("svg:text", { x: PLOT.left - 4, y: yy + 4, "text-anchor": "end", "font-size": 10, fill: "currentColor" }, `1e${e}`.replace("-", "−")));
    svg.append(el("svg:line", { x1: PLOT.left - 3, y1: yy, x2: PLOT.left, y2: yy, ...axis }));
  }
  const lastStep = losses.length - 1;
  for (const s of [0, lastStep]) {
    svg.append(el("svg:text", { x: g.x(s), y: bottom + 13, "text-anchor": "middle", "font-size": 10, fill: "currentColor" }, String(s)));
  }
  svg.append(el("svg:text", { x: (PLOT.left + PLOT.width) / 2, y: PLOT.height - 4, "text-anchor": "middle", "font-size": 11, fill: "currentColor" }, "training step"));
  svg.append(el("svg:text", { x: 10, y: PLOT.top + 60, "font-size": 11, fill: "currentColor", transform: `rotate(-90 10 ${PLOT.top + 60})` }, "loss"));
  svg.append(el("svg:polyline", { class: "lx-loss-curve", points: g.points.map((p) => p.join(",")).join(" ") }));
  const marker = el("svg:line", { class: "lx-step-marker", y1: PLOT.top, y2: bottom, stroke: "#d9480f", "stroke-width": 1.5, "stroke-dasharray": "4 2" });
  const dot = el("svg:circle", { r: 4, fill: "#d9480f" });
  svg.append(marker, dot);
  return {
    element: svg,
    mark(step) {
      const s = Math.min(step, lastStep);
      marker.setAttribute("x1", g.x(s));
      marker.setAttribute("x2", g.x(s));
      dot.setAttribute("cx", g.x(s));
      dot.setAttribute("cy", g.y(losses[s]));
    },
  };
}

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const snapshots = model.get("snapshots"); // (snapshots, heads, n, n)
  const steps = model.get("snapshot_steps");
  const losses = model.get("losses");
  const headLabels = model.get("head_labels");
  const n = tokens.length;
  const uid = uniqueId("lx-training");
  const set = setter(model);

  const slider = el("input", {
    type: "range",
    id: `${uid}-snapshot`,
    class: "lx-slider",
    min: 0,
    max: steps.length - 1,
    step: 1,
    "aria-label": "Training snapshot",
    oninput: () => set({ snapshot_index: Number(slider.value) }),
  });
  const stepText = el("output", { class: "lx-num", for: `${uid}-snapshot` });
  const headSelect = el(
    "select",
    { id: `${uid}-head`, class: "lx-select", onchange: (e) => set({ head: Number(e.target.value) }) },
    headLabels.map((label, h) => el("option", { value: h }, isolate(label))),
  );

  // The attention map: a table whose cells print the weight (colour is never the only carrier).
  const cells = [];
  const body = el("tbody", {});
  tokens.forEach((token, i) => {
    const row = tokens.map((_, j) => el("td", { class: "lx-map-cell", "data-row": i, "data-col": j }));
    cells.push(row);
    body.append(el("tr", { "data-row": i }, el("th", { scope: "row", class: "lx-key" }, el("bdi", {}, token)), row));
  });
  const caption = el("caption", {});
  const table = el(
    "table",
    { class: "lx-table lx-map" },
    caption,
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "query ↓ key →"), tokens.map((t) => el("th", { scope: "col" }, el("bdi", {}, t))))),
    body,
  );
  const plot = lossPlot(losses);
  const lossText = el("div", { class: "lx-help" });

  const root = explorerRoot(
    "training",
    model,
    "Slide through training: the attention of every query (rows) over every key (columns) at that step, and where that step sits on the loss curve.",
    el(
      "div",
      { class: "lx-controls" },
      el("div", { class: "lx-control" }, el("label", { for: `${uid}-snapshot` }, "Snapshot"), slider, stepText),
      headLabels.length > 1 ? el("div", { class: "lx-control" }, el("label", { for: `${uid}-head` }, "Head"), headSelect) : null,
    ),
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, scrollRegion("Attention map", table)),
      el("figure", { class: "lx-panel lx-figure" }, plot.element, lossText),
    ),
  );
  host.append(root);

  function update() {
    const s = model.get("snapshot_index");
    const h = model.get("head");
    const step = steps[s];
    const matrix = snapshots[s][h];
    slider.value = String(s);
    headSelect.value = String(h);
    stepText.textContent = `step ${step} of ${losses.length}`;
    caption.replaceChildren(el("bdi", {}, headLabels[h]), ` after ${step} training steps`);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const w = matrix[i][j];
        const colour = weightColour(w);
        const cell = cells[i][j];
        cell.textContent = w.toFixed(2);
        cell.dataset.value = exact(w);
        cell.title = `${isolate(tokens[i])} → ${isolate(tokens[j])}: ${exact(w)}`;
        cell.style.background = rgb(colour);
        cell.style.color = textOn(colour);
      }
    }
    plot.mark(step);
    const shownLoss = losses[Math.min(step, losses.length - 1)];
    lossText.textContent = `loss at step ${Math.min(step, losses.length - 1)}: ${fmt(shownLoss, 3)}`;
    root.dataset.state = stateJSON({ snapshot_index: s, step, head: h, weights: matrix, loss: shownLoss });
  }

  const stop = listen(model, ["snapshot_index", "head"], update);
  update();
  return stop;
}

export default { render };
