// HeadsExplorer front-end: every head's weights as small multiples; click one to enlarge it.
import { argmax, entropy } from "./math.js";
import {
  Heatmap, arrowKeys, el, exact, exactTitlesOnHover, explorerRoot, fixColumns, fmt, isolate, lazyRows, listen, paintMatrix, scrollRegion,
  setter, stateJSON, textWidth, tokenPicker, uniqueId, weightCell, weightLegend,
} from "./ui.js";

const THUMB = 84; // small-multiple side, CSS pixels

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const weights = model.get("weights"); // (layers, heads, n, n)
  const headLabels = model.get("head_labels");
  const layerLabels = model.get("layer_labels");
  const n = tokens.length;
  const uid = uniqueId("lx-heads");
  const set = setter(model);

  const picker = tokenPicker(tokens, "Query token", (i) => set({ query_index: i }));
  const layerSelect = model.get("has_layers")
    ? el(
        "select",
        { id: `${uid}-layer`, class: "lx-select", onchange: (e) => set({ layer: Number(e.target.value) }) },
        layerLabels.map((label, i) => el("option", { value: i }, isolate(label))),
      )
    : null;

  const thumbs = headLabels.map((label, h) => {
    const canvas = el("canvas", { class: "lx-thumb-canvas", "aria-hidden": "true", style: `width:${THUMB}px;height:${THUMB}px` });
    const button = el(
      "button",
      { type: "button", class: "lx-thumb", "data-head": h, "aria-label": `${isolate(label)}: show enlarged`, onclick: () => set({ selected_head: h }) },
      canvas,
      el("bdi", { class: "lx-thumb-label" }, label),
    );
    return { canvas, button };
  });
  const grid = el("div", { class: "lx-grid", role: "group", "aria-label": "Heads (click one to enlarge it)" }, thumbs.map((t) => t.button));
  arrowKeys(thumbs.map((t) => t.button), (h) => set({ selected_head: h }));

  let current = null; // (n, n) of the enlarged head
  const bigTitle = el("div", { class: "lx-subtitle" });
  const heatmap = new Heatmap({
    label: "Enlarged head: weights of every query (rows) over every key (columns). Arrow keys move; Enter makes the row's token the query.",
    rowLabels: tokens,
    colLabels: tokens,
    maxSize: Math.min(440, Math.max(260, 34 * n)),
    describe: (i, j) => `${isolate(tokens[i])} → ${isolate(tokens[j])}: weight ${exact(current[i][j])}`,
    onActivate: (i) => set({ query_index: i }),
  });

  const rowCaption = el("caption", {});
  const rowBody = el("tbody", {});
  const rowRows = tokens.map((token, j) => {
    const weight = weightCell();
    const tr = el("tr", { "data-key": j }, el("th", { scope: "row", class: "lx-key" }, el("bdi", {}, token)), weight.td);
    rowBody.append(tr);
    return { tr, weight };
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
  fixColumns(rowTable, [Math.min(160, Math.max(textWidth(["key", "entropy", "5. output"]), textWidth(tokens)) + 16), 160]);
  const rowScroll = scrollRegion("Weights of the query", rowTable);
  const tableRows = lazyRows(rowScroll, rowRows.map((r) => r.tr)); // a click relays out the rows in view, not all n

  const root = explorerRoot(
    "heads",
    model,
    "Click a head to enlarge it; click a token (or a row of the big heatmap) to pick the query. Hover a cell for its exact weight.",
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
      weights[layer].forEach((matrix, h) => paintMatrix(thumbs[h].canvas, matrix));
      paintedLayer = layer;
      if (layerSelect) layerSelect.value = String(layer);
    }
    thumbs.forEach(({ button }, h) => {
      button.setAttribute("aria-pressed", String(h === head));
      button.tabIndex = h === head ? 0 : -1;
    });
    picker.update(i);
    current = weights[layer][head];
    const which = () => (model.get("has_layers") ? [el("bdi", {}, layerLabels[layer]), ", "] : []).concat(el("bdi", {}, headLabels[head]));
    bigTitle.replaceChildren(...which());
    heatmap.draw({ matrix: current, hidden: null, highlightRow: i });
    const row = current[i];
    rowCaption.replaceChildren(...which(), ": where “", el("bdi", {}, tokens[i]), `” (position ${i}) looks`);
    const top = argmax(row);
    tableRows.refresh((j) => {
      rowRows[j].weight.set(row[j]);
      rowRows[j].tr.classList.toggle("lx-top", j === top);
    });
    const h = entropy(row);
    entropyCell.textContent = `${fmt(h, 3)} nats (even spread: ${fmt(Math.log(n), 3)})`;
    entropyCell.dataset.value = exact(h);
    root.dataset.state = stateJSON({ layer, selected_head: head, query_index: i, weights: row, entropy: h });
  }

  const stop = listen(model, ["layer", "selected_head", "query_index"], update);
  update();
  return () => {
    stop();
    tableRows.disconnect();
    heatmap.stop();
  };
}

export default { render };
