// HeadsExplorer front-end: every head's weights as small multiples; click one to enlarge it.
import { argmax, entropy } from "./math.js";
import { Heatmap, el, exact, exactTitlesOnHover, fmt, stateJSON, tokenPicker, weightColour, weightLegend } from "./ui.js";

const THUMB = 84; // small-multiple side, CSS pixels

/** Paint an (n, n) matrix into a canvas one pixel per cell (CSS scales it up, pixelated). */
function paintThumb(canvas, matrix) {
  const n = matrix.length;
  if (canvas.width !== n) {
    canvas.width = n;
    canvas.height = n;
  }
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const [r, g, b] = weightColour(matrix[i][j]);
      const o = 4 * (i * n + j);
      image.data[o] = r;
      image.data[o + 1] = g;
      image.data[o + 2] = b;
      image.data[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
}

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const weights = model.get("weights"); // (layers, heads, n, n)
  const headLabels = model.get("head_labels");
  const layerLabels = model.get("layer_labels");
  const n = tokens.length;
  const uid = `lx-heads-${Math.random().toString(36).slice(2, 9)}`;

  const set = (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };

  const picker = tokenPicker(tokens, "Query token", (i) => set({ query_index: i }));
  const layerSelect = model.get("has_layers")
    ? el(
        "select",
        { id: `${uid}-layer`, class: "lx-select", onchange: (e) => set({ layer: Number(e.target.value) }) },
        layerLabels.map((label, i) => el("option", { value: i }, label)),
      )
    : null;

  const thumbs = headLabels.map((label, h) => {
    const canvas = el("canvas", { class: "lx-thumb-canvas", "aria-hidden": "true", style: `width:${THUMB}px;height:${THUMB}px` });
    const button = el(
      "button",
      { type: "button", class: "lx-thumb", "data-head": h, "aria-label": `${label}: show enlarged`, onclick: () => set({ selected_head: h }) },
      canvas,
      el("span", { class: "lx-thumb-label" }, label),
    );
    return { canvas, button };
  });
  const grid = el("div", { class: "lx-grid", role: "group", "aria-label": "Heads (click one to enlarge it)" }, thumbs.map((t) => t.button));
  // Arrow keys move between heads, like the token buttons.
  thumbs.forEach(({ button }, h) =>
    button.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: h + 1, ArrowLeft: h - 1, Home: 0, End: thumbs.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = Math.max(0, Math.min(thumbs.length - 1, moves[event.key]));
      set({ selected_head: next });
      thumbs[next].button.focus();
    }),
  );

  let current = null; // (n, n) of the enlarged head
  const bigTitle = el("div", { class: "lx-subtitle" });
  const heatmap = new Heatmap({
    label: "Enlarged head: weights of every query (rows) over every key (columns). Arrow keys move; Enter makes the row's token the query.",
    rowLabels: tokens,
    colLabels: tokens,
    maxSize: Math.min(440, Math.max(260, 34 * n)),
    describe: (i, j) => `${tokens[i]} → ${tokens[j]}: weight ${exact(current[i][j])}`,
    onActivate: (i) => set({ query_index: i }),
  });

  const rowCaption = el("caption", {});
  const rowBody = el("tbody", {});
  const rowRows = tokens.map((token, j) => {
    const bar = el("span", { class: "lx-bar" });
    const number = el("span", { class: "lx-bar-number" });
    const weight = el("td", { class: "lx-weight", "data-step": "weight" }, el("span", { class: "lx-bar-track", "aria-hidden": "true" }, bar), number);
    const tr = el("tr", { "data-key": j }, el("th", { scope: "row", class: "lx-key" }, token), weight);
    rowBody.append(tr);
    return { tr, bar, number, weight };
  });
  const entropyCell = el("td", { class: "lx-entropy" });
  const rowTable = el(
    "table",
    { class: "lx-table" },
    rowCaption,
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "key"), el("th", { scope: "col" }, "weight"))),
    rowBody,
    el("tfoot", {}, el("tr", {}, el("th", { scope: "row" }, "entropy"), entropyCell)),
  );
  const rowScroll = el(
    "div",
    { class: "lx-scroll", tabindex: n > 14 ? 0 : undefined, role: n > 14 ? "region" : undefined, "aria-label": n > 14 ? "Weights of the query" : undefined },
    rowTable,
  );

  const title = model.get("title");
  const root = el(
    "div",
    { class: "lx-root lx-heads", "data-explorer": "heads" },
    title ? el("div", { class: "lx-title" }, title) : null,
    el("p", { class: "lx-help" }, "Click a head to enlarge it; click a token (or a row of the big heatmap) to pick the query. Hover a cell for its exact weight."),
    layerSelect ? el("div", { class: "lx-controls" }, el("div", { class: "lx-control" }, el("label", { for: `${uid}-layer` }, "Layer"), layerSelect)) : null,
    picker.element,
    grid,
    el(
      "div",
      { class: "lx-main" },
      el("figure", { class: "lx-panel lx-figure" }, bigTitle, heatmap.element, weightLegend()),
      el("div", { class: "lx-panel" }, rowScroll),
    ),
  );
  host.append(root);
  exactTitlesOnHover(rowTable);

  let paintedLayer = -1;
  function update() {
    const layer = model.get("layer");
    const head = model.get("selected_head");
    const i = model.get("query_index");
    if (layer !== paintedLayer) {
      weights[layer].forEach((matrix, h) => paintThumb(thumbs[h].canvas, matrix));
      paintedLayer = layer;
      if (layerSelect) layerSelect.value = String(layer);
    }
    thumbs.forEach(({ button }, h) => {
      button.setAttribute("aria-pressed", String(h === head));
      button.tabIndex = h === head ? 0 : -1;
    });
    picker.update(i);
    current = weights[layer][head];
    const layerText = model.get("has_layers") ? `${layerLabels[layer]}, ` : "";
    bigTitle.textContent = `${layerText}${headLabels[head]}`;
    heatmap.draw({ matrix: current, hidden: null, highlightRow: i });
    const row = current[i];
    rowCaption.textContent = `${layerText}${headLabels[head]}: where “${tokens[i]}” (position ${i}) looks`;
    const top = argmax(row);
    rowRows.forEach((r, j) => {
      r.bar.style.width = `${100 * row[j]}%`;
      r.number.textContent = fmt(row[j], 3);
      r.weight.dataset.value = exact(row[j]);
      r.tr.classList.toggle("lx-top", j === top);
    });
    const h = entropy(row);
    entropyCell.textContent = `${fmt(h, 3)} nats (even spread: ${fmt(Math.log(n), 3)})`;
    entropyCell.dataset.value = exact(h);
    root.dataset.state = stateJSON({ layer, selected_head: head, query_index: i, weights: row, entropy: h });
  }

  const events = ["layer", "selected_head", "query_index"].map((name) => `change:${name}`);
  for (const event of events) model.on(event, update);
  update();
  return () => {
    for (const event of events) model.off(event, update);
  };
}

export default { render };
