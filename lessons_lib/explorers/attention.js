// AttentionExplorer front-end: pick a query token, follow scores → scale → mask → softmax → weighted sum.
import { attentionRow, attentionWeights, maskMatrix } from "./math.js";
import {
  Heatmap, el, exact, exactTitlesOnHover, explorerRoot, fmt, fmtVector, fixColumns, isolate, lazyRows, listen, numberCell, scrollRegion, setter,
  stateJSON, textWidth, tokenPicker, uniqueId, weightCell, weightLegend,
} from "./ui.js";

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
  const uid = uniqueId("lx-attn");
  const set = setter(model);

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
      score: numberCell("score"),
      scaled: numberCell("scaled"),
      masked: numberCell("masked"),
      weight: weightCell(),
    };
    const value = el("td", { class: "lx-num lx-vector", "data-step": "value", title: `v_${j} = ${fmtVector(v[j], 6)}` }, fmtVector(v[j], 2, 4));
    const tr = el("tr", { "data-key": j }, el("th", { scope: "row", class: "lx-key" }, el("bdi", {}, token)), Object.values(cells).map((c) => c.td), value);
    body.append(tr);
    return { tr, cells };
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
  const numberWidth = textWidth(["−0.000e+00", "2. × scale"]) + 14;
  fixColumns(table, [
    Math.min(160, Math.max(textWidth(["key", "entropy", "5. output"]), textWidth(tokens)) + 16),
    numberWidth,
    numberWidth,
    numberWidth,
    160, // the bar (70 px), a gap, the number (4.4em) and the padding
    textWidth(["value v", ...v.map((row) => fmtVector(row, 2, 4))]) + 16,
  ]);
  const tableScroll = scrollRegion("Step-by-step table", table);
  const tableRows = lazyRows(tableScroll, rows.map((r) => r.tr)); // a click relays out the rows in view, not all n

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
      if (!w) return `query ${isolate(tokens[i])} (row ${i}): every key is masked, no softmax`;
      if (hidden[i][j]) return `query ${isolate(tokens[i])} → key ${isolate(tokens[j])}: masked (weight 0)`;
      return `query ${isolate(tokens[i])} → key ${isolate(tokens[j])}: weight ${exact(w[j])}`;
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

  const root = explorerRoot(
    "attention",
    model,
    "Click a token (or use the arrow keys) to make it the query. Hover a number or a heatmap cell for its exact value.",
    picker.element,
    controls,
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, tableScroll),
      el("figure", { class: "lx-panel lx-figure" }, heatmap.element, weightLegend(), heatmapCaption),
    ),
  );
  host.append(root);
  exactTitlesOnHover(table);

  // Every query's weights (the heatmap) and the controls change with the scale and the mask, not with the
  // query: they are recomputed and redrawn only when those change, so picking a token touches only its row.
  let settings = {};
  let allowed = null;
  let shownQuery = null;

  function update() {
    const i = model.get("query_index");
    const now = {
      scale: model.get("scale"),
      mode: model.get("mask_mode"),
      paddingLength: model.get("padding_length"),
      maskedCells: model.get("masked_cells"),
    };
    const { scale, mode, paddingLength } = now;
    if (Object.keys(now).some((name) => now[name] !== settings[name])) {
      settings = now;
      allowed = maskMatrix(mode, n, paddingLength, now.maskedCells);
      hidden = allowed.map((row) => row.map((a) => !a));
      weights = attentionWeights(q, k, scale, allowed);
      const position = Math.log10(scale / defaultScale);
      slider.value = String(Math.max(-LOG_RANGE, Math.min(LOG_RANGE, position)));
      slider.setAttribute("aria-valuetext", `scale ${fmt(scale, 4)}`);
      scaleText.textContent = `${fmt(scale, 4)}  (1/√d_k = ${fmt(defaultScale, 4)})`;
      scaleText.title = exact(scale);
      for (const m of modeInputs) m.input.checked = m.value === mode;
      padding.value = String(paddingLength ?? n);
    }
    const row = attentionRow(q[i], k, v, scale, allowed[i]);
    picker.update(i);
    if (i !== shownQuery) {
      shownQuery = i;
      caption.replaceChildren("Query “", el("bdi", {}, tokens[i]), `” (position ${i}), step by step`);
    }
    const allowedRow = allowed[i];
    tableRows.refresh((j) => {
      const r = rows[j];
      r.cells.score.set(row.scores[j]);
      r.cells.scaled.set(row.scaled[j]);
      r.cells.masked.set(row.masked[j]);
      r.cells.weight.set(row.weights ? row.weights[j] : null);
      r.tr.classList.toggle("lx-masked", !allowedRow[j]);
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

  const stop = listen(model, ["query_index", "scale", "mask_mode", "padding_length", "masked_cells"], update);
  const stopControls = listen(model, ["controls"], showControls);
  update();
  return () => {
    stop();
    stopControls();
    tableRows.disconnect();
  };
}

export default { render };
