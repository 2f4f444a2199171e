// AttentionExplorer front-end: pick a query token, follow scores → scale → mask → softmax → weighted sum.
import { attentionRow, attentionWeights, maskMatrix } from "./math.js";
import { Heatmap, el, exact, exactTitlesOnHover, weightLegend, fmt, fmtVector, stateJSON, tokenPicker } from "./ui.js";

const LOG_RANGE = 2; // the scale slider spans default × 10^-2 … default × 10^2
const MODES = [
  ["none", "none"],
  ["causal", "causal (no future keys)"],
  ["padding", "padding (first keys only)"],
  ["custom", "custom (click cells)"],
];

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const q = model.get("q");
  const k = model.get("k");
  const v = model.get("v");
  const n = tokens.length;
  const defaultScale = model.get("default_scale");
  const uid = `lx-attn-${Math.random().toString(36).slice(2, 9)}`;

  const set = (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };

  // --- controls -----------------------------------------------------------------------------
  const picker = tokenPicker(tokens, "Query token", (i) => set({ query_index: i }));

  const slider = el("input", {
    type: "range",
    id: `${uid}-scale`,
    class: "lx-slider",
    min: -LOG_RANGE,
    max: LOG_RANGE,
    step: 0.01,
    "aria-label": "Scale (logarithmic slider)",
    oninput: () => set({ scale: defaultScale * Math.pow(10, Number(slider.value)) }),
  });
  const scaleText = el("output", { class: "lx-num", for: `${uid}-scale` });
  const resetScale = el(
    "button",
    { type: "button", class: "lx-button", onclick: () => set({ scale: defaultScale }) },
    "reset to 1/√d_k",
  );

  const modeInputs = MODES.map(([value, text]) => {
    const input = el("input", {
      type: "radio",
      name: `${uid}-mode`,
      value,
      onchange: () => set({ mask_mode: value }),
    });
    return { value, input, label: el("label", { class: "lx-radio" }, input, " ", text) };
  });
  const padding = el("input", {
    type: "number",
    class: "lx-number",
    min: 1,
    max: n,
    step: 1,
    "aria-label": "Padding: number of real (unpadded) tokens",
    onchange: () => {
      const length = Math.max(1, Math.min(n, Math.round(Number(padding.value)) || n));
      set({ padding_length: length, mask_mode: "padding" });
    },
  });
  const clearMask = el(
    "button",
    { type: "button", class: "lx-button", onclick: () => set({ masked_cells: [], mask_mode: "custom" }) },
    "clear custom mask",
  );

  const scaleControl = el("div", { class: "lx-control", "data-control": "scale" }, el("label", { for: `${uid}-scale` }, "Scale"), slider, scaleText, resetScale);
  const maskControl = el(
    "fieldset",
    { class: "lx-control lx-fieldset", "data-control": "mask" },
    el("legend", {}, "Mask"),
    modeInputs.map((m) => m.label),
    el("label", { class: "lx-radio" }, "real tokens ", padding),
    clearMask,
  );
  const controls = el("div", { class: "lx-controls" }, scaleControl, maskControl);

  // --- the per-query step table --------------------------------------------------------------
  const caption = el("caption", {});
  const body = el("tbody", {});
  const rows = tokens.map((token, j) => {
    const cells = {
      key: el("th", { scope: "row", class: "lx-key" }, token),
      score: el("td", { class: "lx-num", "data-step": "score" }),
      scaled: el("td", { class: "lx-num", "data-step": "scaled" }),
      masked: el("td", { class: "lx-num", "data-step": "masked" }),
      weight: el("td", { class: "lx-weight", "data-step": "weight" }),
      value: el("td", { class: "lx-num lx-vector", "data-step": "value" }, fmtVector(v[j], 2, 4)),
    };
    cells.value.title = `v_${j} = ${fmtVector(v[j], 6)}`;
    const bar = el("span", { class: "lx-bar" });
    const number = el("span", { class: "lx-bar-number" });
    cells.weight.append(el("span", { class: "lx-bar-track", "aria-hidden": "true" }, bar), number);
    const tr = el("tr", { "data-key": j }, Object.values(cells));
    body.append(tr);
    return { tr, cells, bar, number };
  });
  const entropyCell = el("td", { colspan: 5, class: "lx-entropy" });
  const outputCell = el("td", { colspan: 5, class: "lx-num lx-output" });
  const table = el(
    "table",
    { class: "lx-table" },
    caption,
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "key"),
        el("th", { scope: "col", title: "score = q_i · k_j" }, "1. q·k"),
        el("th", { scope: "col", title: "scaled score = scale × q_i · k_j" }, "2. × scale"),
        el("th", { scope: "col", title: "masked keys get −∞" }, "3. mask"),
        el("th", { scope: "col", title: "softmax of the masked scores" }, "4. softmax weight"),
        el("th", { scope: "col", title: "the key's value vector v_j" }, "value v"),
      ),
    ),
    body,
    el(
      "tfoot",
      {},
      el("tr", {}, el("th", { scope: "row" }, "entropy"), entropyCell),
      el("tr", {}, el("th", { scope: "row" }, "5. output"), outputCell),
    ),
  );
  const tableScroll = el(
    "div",
    { class: "lx-scroll", tabindex: n > 14 ? 0 : undefined, role: n > 14 ? "region" : undefined, "aria-label": n > 14 ? "Step-by-step table" : undefined },
    table,
  );

  // --- the heatmap of all weights --------------------------------------------------------------
  let weights = null;
  let hidden = null;
  const heatmap = new Heatmap({
    label: "Attention weights of every query (rows) over every key (columns). Arrow keys move; Enter masks or unmasks a cell.",
    rowLabels: tokens,
    colLabels: tokens,
    maxSize: Math.min(440, Math.max(240, 34 * n)),
    describe: (i, j) => {
      const w = weights?.[i];
      if (!w) return `query ${tokens[i]} (row ${i}): every key is masked, no softmax`;
      if (hidden[i][j]) return `query ${tokens[i]} → key ${tokens[j]}: masked (weight 0)`;
      return `query ${tokens[i]} → key ${tokens[j]}: weight ${exact(w[j])}`;
    },
    onActivate: (i, j) => (hasControl("mask") ? toggleCell(i, j) : set({ query_index: i })),
  });
  const hasControl = (name) => model.get("controls").includes(name);

  function toggleCell(i, j) {
    // Start from what the current mode hides, so "causal, then hide one more cell" works.
    const mode = model.get("mask_mode");
    const current = maskMatrix(mode, n, model.get("padding_length"), model.get("masked_cells"));
    const cells = [];
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) if (!current[a][b] && !(a === i && b === j)) cells.push([a, b]);
    if (current[i][j]) cells.push([i, j]);
    cells.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    set({ masked_cells: cells, mask_mode: "custom" });
  }

  const heatmapCaption = el("figcaption", { class: "lx-help" });

  function showControls() {
    const mask = hasControl("mask");
    scaleControl.hidden = !hasControl("scale");
    maskControl.hidden = !mask;
    controls.hidden = scaleControl.hidden && maskControl.hidden;
    heatmapCaption.textContent = `All weights: one row per query, one column per key. ${mask ? "Click a cell to mask it." : "Click a row to make it the query."}`;
    heatmap.canvas.setAttribute(
      "aria-label",
      `Attention weights of every query (rows) over every key (columns). Arrow keys move; Enter ${mask ? "masks or unmasks a cell" : "makes the row's token the query"}.`,
    );
  }
  showControls();

  const title = model.get("title");
  const root = el(
    "div",
    { class: "lx-root lx-attention", "data-explorer": "attention" },
    title ? el("div", { class: "lx-title" }, title) : null,
    el("p", { class: "lx-help" }, "Click a token (or use the arrow keys) to make it the query. Hover a number or a heatmap cell for its exact value."),
    picker.element,
    controls,
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, tableScroll),
      el(
        "figure",
        { class: "lx-panel lx-figure" },
        heatmap.element,
        weightLegend(),
        heatmapCaption,
      ),
    ),
  );
  host.append(root);
  exactTitlesOnHover(table);

  function update() {
    const i = model.get("query_index");
    const scale = model.get("scale");
    const mode = model.get("mask_mode");
    const paddingLength = model.get("padding_length");
    const allowed = maskMatrix(mode, n, paddingLength, model.get("masked_cells"));
    hidden = allowed.map((row) => row.map((a) => !a));
    weights = attentionWeights(q, k, scale, allowed);
    const row = attentionRow(q[i], k, v, scale, allowed[i]);

    picker.update(i);
    const position = Math.log10(scale / defaultScale);
    slider.value = String(Math.max(-LOG_RANGE, Math.min(LOG_RANGE, position)));
    slider.setAttribute("aria-valuetext", `scale ${fmt(scale, 4)}`);
    scaleText.textContent = `${fmt(scale, 4)}  (1/√d_k = ${fmt(defaultScale, 4)})`;
    scaleText.title = exact(scale);
    for (const m of modeInputs) m.input.checked = m.value === mode;
    padding.value = String(paddingLength ?? n);

    caption.textContent = `Query “${tokens[i]}” (position ${i}), step by step`;
    rows.forEach((r, j) => {
      const w = row.weights ? row.weights[j] : null;
      const put = (cell, x) => {
        cell.textContent = fmt(x, 3);
        cell.dataset.value = exact(x);
      };
      put(r.cells.score, row.scores[j]);
      put(r.cells.scaled, row.scaled[j]);
      put(r.cells.masked, row.masked[j]);
      r.number.textContent = fmt(w, 3);
      r.cells.weight.dataset.value = exact(w);
      r.bar.style.width = `${100 * (w ?? 0)}%`;
      r.tr.classList.toggle("lx-masked", !allowed[i][j]);
    });
    if (row.weights) {
      entropyCell.textContent = `${fmt(row.entropy, 3)} nats (= ${fmt(row.entropy / Math.LN2, 3)} bits; even spread over ${n} keys: ${fmt(Math.log(n), 3)} nats)`;
      entropyCell.dataset.value = exact(row.entropy);
      outputCell.textContent = `Σ weight × value = ${fmtVector(row.output, 3)}`;
      outputCell.title = row.output.map(exact).join(", ");
    } else {
      entropyCell.textContent = "– (every key is masked: this row has no softmax)";
      entropyCell.dataset.value = "none";
      outputCell.textContent = "none: lessons_lib raises ValueError for a row with every key masked";
      outputCell.title = "";
    }
    heatmap.draw({ matrix: weights, hidden, highlightRow: i });
    root.dataset.state = stateJSON({
      query_index: i,
      scale,
      mask_mode: mode,
      padding_length: paddingLength,
      masked_cells: model.get("masked_cells"),
      scores: row.scores,
      scaled: row.scaled,
      masked: row.masked,
      weights: row.weights,
      entropy: row.entropy,
      output: row.output,
    });
  }

  const events = ["query_index", "scale", "mask_mode", "padding_length", "masked_cells"].map((name) => `change:${name}`);
  for (const event of events) model.on(event, update);
  model.on("change:controls", showControls);
  update();
  return () => {
    for (const event of events) model.off(event, update);
    model.off("change:controls", showControls);
  };
}

export default { render };
