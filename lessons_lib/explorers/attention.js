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

/** The scale slider and the mask settings: {element, scale, mask (the two groups), show(settings)}. */
function scaleAndMaskControls(set, n, defaultScale) {
  const uid = uniqueId("lx-attn");
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
  const resetScale = el("button", { type: "button", class: "lx-button", onclick: () => set({ scale: defaultScale }) }, "reset to 1/√d_k");
  const modeInputs = MODES.map(([value, text]) => {
    const input = el("input", { type: "radio", name: `${uid}-mode`, value, onchange: () => set({ mask_mode: value }) });
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
  const clearMask = el("button", { type: "button", class: "lx-button", onclick: () => set({ masked_cells: [], mask_mode: "custom" }) }, "clear custom mask");

  const scale = el("div", { class: "lx-control", "data-control": "scale" }, el("label", { for: `${uid}-scale` }, "Scale"), slider, scaleText, resetScale);
  const mask = el(
    "fieldset",
    { class: "lx-control lx-fieldset", "data-control": "mask" },
    el("legend", {}, "Mask"),
    modeInputs.map((m) => m.label),
    el("label", { class: "lx-radio" }, "real tokens ", padding),
    clearMask,
  );
  return {
    element: el("div", { class: "lx-controls" }, scale, mask),
    scale,
    mask,
    show(now) {
      slider.value = String(Math.max(-LOG_RANGE, Math.min(LOG_RANGE, Math.log10(now.scale / defaultScale))));
      slider.setAttribute("aria-valuetext", `scale ${fmt(now.scale, 4)}`);
      scaleText.textContent = `${fmt(now.scale, 4)}  (1/√d_k = ${fmt(defaultScale, 4)})`;
      scaleText.title = exact(now.scale);
      for (const m of modeInputs) m.input.checked = m.value === now.mode;
      padding.value = String(now.paddingLength ?? n);
    },
  };
}

/** The per-query step table, scores → scale → mask → softmax → weighted sum: {element, table, show(i, row, allowedRow), stop}. */
function stepTable(tokens, v) {
  const n = tokens.length;
  const caption = el("caption", {});
  const rows = tokens.map((token, j) => {
    const cells = [numberCell("score"), numberCell("scaled"), numberCell("masked"), weightCell()];
    const value = el("td", { class: "lx-num lx-vector", "data-step": "value", title: `v_${j} = ${fmtVector(v[j], 6)}` }, fmtVector(v[j], 2, 4));
    const tr = el("tr", { "data-key": j }, el("th", { scope: "row", class: "lx-key" }, el("bdi", {}, token)), cells.map((c) => c.td), value);
    return { tr, cells };
  });
  const entropyCell = el("td", { colspan: 5, class: "lx-entropy" });
  const outputCell = el("td", { colspan: 5, class: "lx-num lx-output" });
  const header = [
    ["key", ""],
    ["1. q·k", "score = q_i · k_j"],
    ["2. × scale", "scaled score = scale × q_i · k_j"],
    ["3. mask", "masked keys get −∞"],
    ["4. softmax weight", "softmax of the masked scores"],
    ["value v", "the key's value vector v_j"],
  ];
  const table = el(
    "table",
    { class: "lx-table" },
    caption,
    el("thead", {}, el("tr", {}, header.map(([text, title]) => el("th", { scope: "col", title: title || undefined }, text)))),
    el("tbody", {}, rows.map((r) => r.tr)),
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
  const element = scrollRegion("Step-by-step table", table);
  const visibleRows = lazyRows(element, rows.map((r) => r.tr)); // a click relays out the rows in view, not all n
  let shownQuery = null;
  return {
    element,
    table,
    show(i, row, allowedRow) {
      if (i !== shownQuery) {
        shownQuery = i;
        caption.replaceChildren("Query “", el("bdi", {}, tokens[i]), `” (position ${i}), step by step`);
      }
      visibleRows.refresh((j) => {
        const [score, scaled, masked, weight] = rows[j].cells;
        score.set(row.scores[j]);
        scaled.set(row.scaled[j]);
        masked.set(row.masked[j]);
        weight.set(row.weights ? row.weights[j] : null);
        rows[j].tr.classList.toggle("lx-masked", !allowedRow[j]);
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
    },
    stop: () => visibleRows.disconnect(),
  };
}

/** The cells hidden after toggling (i, j), starting from what the current mask hides ("causal, then one more cell"). */
function toggledCells(allowed, i, j) {
  const cells = [];
  allowed.forEach((row, a) => row.forEach((visible, b) => !visible && !(a === i && b === j) && cells.push([a, b])));
  if (allowed[i][j]) cells.push([i, j]);
  return cells.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
}

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const q = model.get("q");
  const k = model.get("k");
  const v = model.get("v");
  const n = tokens.length;
  const set = setter(model);
  const hasControl = (name) => model.get("controls").includes(name);

  const picker = tokenPicker(tokens, "Query token", (i) => set({ query_index: i }));
  const controls = scaleAndMaskControls(set, n, model.get("default_scale"));
  const table = stepTable(tokens, v);

  // The heatmap of every query's weights; clicking a cell masks it (or, without mask controls, picks the query).
  let weights = null;
  let allowed = null;
  let hidden = null;
  const heatmap = new Heatmap({
    label: "Attention weights of every query (rows) over every key (columns).",
    rowLabels: tokens,
    colLabels: tokens,
    maxSize: Math.min(440, Math.max(240, 34 * n)),
    describe: (i, j) => {
      const w = weights?.[i];
      if (!w) return `query ${isolate(tokens[i])} (row ${i}): every key is masked, no softmax`;
      if (hidden[i][j]) return `query ${isolate(tokens[i])} → key ${isolate(tokens[j])}: masked (weight 0)`;
      return `query ${isolate(tokens[i])} → key ${isolate(tokens[j])}: weight ${exact(w[j])}`;
    },
    onActivate: (i, j) => (hasControl("mask") ? set({ masked_cells: toggledCells(allowed, i, j), mask_mode: "custom" }) : set({ query_index: i })),
  });
  const heatmapCaption = el("figcaption", { class: "lx-help" });

  function showControls() {
    const mask = hasControl("mask");
    controls.scale.hidden = !hasControl("scale");
    controls.mask.hidden = !mask;
    controls.element.hidden = controls.scale.hidden && controls.mask.hidden;
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
    controls.element,
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, table.element),
      el("figure", { class: "lx-panel lx-figure" }, heatmap.element, weightLegend(), heatmapCaption),
    ),
  );
  host.append(root);
  exactTitlesOnHover(table.table);

  // Every query's weights (the heatmap) and the controls change with the scale and the mask, not with the
  // query: they are recomputed and redrawn only when those change, so picking a token touches only its row.
  let settings = {};
  function update() {
    const i = model.get("query_index");
    const now = {
      scale: model.get("scale"),
      mode: model.get("mask_mode"),
      paddingLength: model.get("padding_length"),
      maskedCells: model.get("masked_cells"),
    };
    if (Object.keys(now).some((name) => now[name] !== settings[name])) {
      settings = now;
      allowed = maskMatrix(now.mode, n, now.paddingLength, now.maskedCells);
      hidden = allowed.map((row) => row.map((a) => !a));
      weights = attentionWeights(q, k, now.scale, allowed);
      controls.show(now);
    }
    const row = attentionRow(q[i], k, v, now.scale, allowed[i]);
    picker.update(i);
    table.show(i, row, allowed[i]);
    heatmap.draw({ matrix: weights, hidden, highlightRow: i });
    root.dataset.state = stateJSON({
      query_index: i,
      scale: now.scale,
      mask_mode: now.mode,
      padding_length: now.paddingLength,
      masked_cells: now.maskedCells,
      scores: row.scores,
      scaled: row.scaled,
      masked: row.masked,
      weights: row.weights,
      entropy: row.entropy,
      output: row.output,
    });
  }

  const stop = [
    listen(model, ["query_index", "scale", "mask_mode", "padding_length", "masked_cells"], update),
    listen(model, ["controls"], showControls),
    table.stop,
    () => heatmap.stop(),
  ];
  update();
  return () => stop.forEach((f) => f());
}

export default { render };
