// BlockPathExplorer front-end: one token's path through a transformer block, pre-norm or post-norm.
import { el, exact, fmt, liveRegion, rgb, stateJSON, tokenPicker, weightColour } from "./ui.js";

/** The length of the token's vector at every stage, and its attention row in every head. */
export function tokenPath(stages, weights, token) {
  const norms = stages.map((stage) => Math.hypot(...stage[token]));
  const attention = weights.map((head) => head[token]);
  return { norms, attention };
}

function render({ model, el: host }) {
  const tokens = model.get("tokens");
  const orders = {
    pre: { names: model.get("pre_names"), stages: model.get("pre_stages"), weights: model.get("pre_weights") },
    post: { names: model.get("post_names"), stages: model.get("post_stages"), weights: model.get("post_weights") },
  };
  const heads = orders.pre.weights.length;
  const uid = `lx-path-${Math.random().toString(36).slice(2, 9)}`;
  const set = (name, value) => {
    model.set(name, value);
    model.save_changes();
  };

  const picker = tokenPicker(tokens, "Token to follow", (i) => set("token_index", i));
  const radios = ["pre", "post"].map((order) =>
    el(
      "label",
      { class: "lx-radio" },
      el("input", { type: "radio", name: `${uid}-order`, value: order, onchange: () => set("norm_first", order === "pre") }),
      order === "pre" ? " pre-norm (GPT-2, LLaMA)" : " post-norm (original, BERT)",
    ),
  );
  const stageRows = orders.pre.names.map((_, s) => {
    const name = el("th", { scope: "row", class: "lx-key" });
    const bar = el("span", { class: "lx-bar" });
    const number = el("span", { class: "lx-bar-number" });
    const cell = el("td", { class: "lx-weight", "data-step": "norm" }, el("span", { class: "lx-bar-track" }, bar), number);
    return { tr: el("tr", { "data-stage": s }, name, cell), name, bar, number, cell };
  });
  const stageTable = el(
    "table",
    { class: "lx-table" },
    el("caption", {}, "Length ‖v‖ of the token's vector at each step"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "step"), el("th", { scope: "col" }, "‖v‖"))),
    el("tbody", {}, stageRows.map((r) => r.tr)),
  );
  const headCells = Array.from({ length: heads }, () => tokens.map(() => el("td", { class: "lx-num", "data-step": "attention" })));
  const attentionTable = el(
    "table",
    { class: "lx-table" },
    el("caption", {}, "Where the token's attention goes, per head"),
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "head"), tokens.map((t) => el("th", { scope: "col" }, t)))),
    el("tbody", {}, headCells.map((cells, h) => el("tr", { "data-head": h }, el("th", { scope: "row" }, String(h)), cells))),
  );
  const live = liveRegion();
  const title = model.get("title");
  const root = el(
    "div",
    { class: "lx-root lx-block-path", "data-explorer": "block-path" },
    title ? el("div", { class: "lx-title" }, title) : null,
    el("p", { class: "lx-help" }, "Pick a token and a norm order. The bars show how long the token's vector is after each step of the block; the table shows its attention weights in each head."),
    el("fieldset", { class: "lx-fieldset" }, el("legend", {}, "norm order"), radios),
    picker.element,
    el("div", { class: "lx-main" }, el("div", { class: "lx-panel" }, stageTable), el("div", { class: "lx-panel lx-scroll-x", tabindex: 0, role: "region", "aria-label": "Attention weights per head" }, attentionTable)),
    live,
  );
  host.append(root);

  function update() {
    const order = model.get("norm_first") ? "pre" : "post";
    const token = model.get("token_index");
    const { names, stages, weights } = orders[order];
    const path = tokenPath(stages, weights, token);
    const longest = Math.max(...orders.pre.stages.concat(orders.post.stages).map((s) => Math.max(...s.map((v) => Math.hypot(...v)))));
    radios.forEach((label, i) => (label.querySelector("input").checked = (i === 0) === (order === "pre")));
    picker.update(token);
    stageRows.forEach((r, s) => {
      r.name.textContent = names[s];
      r.bar.style.width = `${(100 * path.norms[s]) / longest}%`;
      r.number.textContent = fmt(path.norms[s], 2);
      r.cell.dataset.value = exact(path.norms[s]);
    });
    headCells.forEach((cells, h) =>
      cells.forEach((cell, j) => {
        const w = path.attention[h][j];
        // A colour swatch beside the number (the text keeps the page's own contrast).
        const swatch = el("span", { "aria-hidden": "true", style: `display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle;border:1px solid currentColor;background:${rgb(weightColour(w))}` });
        cell.replaceChildren(swatch, fmt(w, 2));
        cell.dataset.value = exact(w);
      }),
    );
    live.textContent = `${tokens[token]}, ${order}-norm: length ${fmt(path.norms[0], 2)} in, ${fmt(path.norms[path.norms.length - 1], 2)} out`;
    root.dataset.state = stateJSON({ norm_first: order === "pre", token_index: token, names, norms: path.norms, attention: path.attention });
  }

  model.on("change:norm_first", update);
  model.on("change:token_index", update);
  update();
  return () => {
    model.off("change:norm_first", update);
    model.off("change:token_index", update);
  };
}

export default { render };
