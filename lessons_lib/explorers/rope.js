// RopeExplorer front-end: rotate a query and a key by their positions (RoPE) and watch their score.
import { el, exact, fmt, liveRegion, stateJSON } from "./ui.js";

/** RoPE, "rotate-half" layout: feature i pairs with i + d/2 and turns by position · base^(−2i/d). */
export function ropeRotate(x, position, base) {
  const half = x.length / 2;
  const out = new Array(x.length);
  for (let i = 0; i < half; i++) {
    const angle = position * Math.pow(base, (-2 * i) / x.length);
    const c = Math.cos(angle);
    const s = Math.sin(angle);
    out[i] = x[i] * c - x[i + half] * s;
    out[i + half] = x[i + half] * c + x[i] * s;
  }
  return out;
}

/** The rotated q (at position m) and k (at position n), each pair's share of the score, and the score q_m · k_n. */
export function ropeScore(q, k, m, n, base) {
  const qRot = ropeRotate(q, m, base);
  const kRot = ropeRotate(k, n, base);
  const half = q.length / 2;
  const contributions = [];
  for (let i = 0; i < half; i++) contributions.push(qRot[i] * kRot[i] + qRot[i + half] * kRot[i + half]);
  const score = contributions.reduce((a, b) => a + b, 0);
  return { qRot, kRot, contributions, score };
}

const SIZE = 92; // one pair's dial, CSS pixels

function dial(label) {
  const r = SIZE / 2 - 8;
  const c = SIZE / 2;
  // Query: solid orange; key: dashed blue (told apart without colour too).
  const arrow = (cls, colour, dash) =>
    el("svg:line", { class: cls, x1: c, y1: c, x2: c, y2: c, stroke: colour, "stroke-width": 3, "stroke-linecap": "round", "stroke-dasharray": dash });
  const qLine = arrow("lx-rope-q", "#d9480f", null);
  const kLine = arrow("lx-rope-k", "#3b5b92", "5 2");
  const svg = el(
    "svg:svg",
    { class: "lx-plot", width: SIZE, height: SIZE, viewBox: `0 0 ${SIZE} ${SIZE}`, role: "img", "aria-label": label },
    el("svg:circle", { cx: c, cy: c, r, fill: "none", stroke: "currentColor", "stroke-opacity": 0.3 }),
    kLine,
    qLine,
  );
  const set = (line, x, y, scale) => {
    line.setAttribute("x2", String(c + (r * x) / scale));
    line.setAttribute("y2", String(c - (r * y) / scale));
  };
  return { svg, set };
}

function render({ model, el: host }) {
  const q = model.get("q");
  const k = model.get("k");
  const base = model.get("base");
  const maxPosition = model.get("max_position");
  const half = q.length / 2;
  const uid = `lx-rope-${Math.random().toString(36).slice(2, 9)}`;
  const pairLength = (x, i) => Math.hypot(x[i], x[i + half]);
  const scales = Array.from({ length: half }, (_, i) => Math.max(pairLength(q, i), pairLength(k, i), 1e-12));

  const set = (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, Math.max(0, Math.min(maxPosition, value)));
    model.save_changes();
  };
  const slider = (name, label) => {
    const input = el("input", {
      type: "range", id: `${uid}-${name}`, class: "lx-slider", min: 0, max: maxPosition, step: 1, "aria-label": label,
      oninput: () => set({ [name]: Number(input.value) }),
    });
    const text = el("output", { class: "lx-num", for: `${uid}-${name}` });
    return { input, text, control: el("div", { class: "lx-control" }, el("label", { for: `${uid}-${name}`, class: "lx-label" }, label), input, text) };
  };
  const mSlider = slider("query_position", "query position m");
  const nSlider = slider("key_position", "key position n");
  const shift = (delta) => () => {
    const m = model.get("query_position") + delta;
    const n = model.get("key_position") + delta;
    if (m < 0 || n < 0 || m > maxPosition || n > maxPosition) return;
    set({ query_position: m, key_position: n });
  };
  const back = el("button", { type: "button", class: "lx-button", "data-role": "both-back", onclick: shift(-1) }, "both −1");
  const forward = el("button", { type: "button", class: "lx-button", "data-role": "both-forward", onclick: shift(1) }, "both +1");

  const dials = Array.from({ length: half }, (_, i) => dial(`pair ${i}: the query's and the key's rotated 2-D pieces`));
  const rows = Array.from({ length: half }, (_, i) => {
    const cells = ["frequency", "angle", "contribution"].map((step) => el("td", { class: "lx-num", "data-step": step }));
    cells[0].textContent = fmt(Math.pow(base, (-2 * i) / q.length), 4);
    return { tr: el("tr", {}, el("th", { scope: "row", class: "lx-key" }, `pair ${i} (${i}, ${i + half})`), cells), cells };
  });
  const table = el(
    "table",
    { class: "lx-table" },
    el("caption", {}, "Each pair's share of the score"),
    el("thead", {}, el("tr", {}, ["pair (features)", "radians per step", "angle between q and k", "q·k of the pair"].map((t) => el("th", { scope: "col" }, t)))),
    el("tbody", {}, rows.map((r) => r.tr)),
  );
  const offsetText = el("span", { class: "lx-num", "data-role": "offset" });
  const scoreText = el("span", { class: "lx-num lx-label", "data-role": "score" });
  const live = liveRegion();
  const title = model.get("title");
  const root = el(
    "div",
    { class: "lx-root lx-rope", "data-explorer": "rope" },
    title ? el("div", { class: "lx-title" }, title) : null,
    el("p", { class: "lx-help" }, "Each pair of features is a 2-D arrow (query solid orange, key dashed blue) turned by position × its frequency. Move m and n; then press “both +1”: both arrows turn by the same angle, so the score stays put."),
    el("div", { class: "lx-controls" }, mSlider.control, nSlider.control, el("div", { class: "lx-control" }, back, forward)),
    el("div", { class: "lx-controls" }, el("span", {}, "offset m − n = "), offsetText, el("span", {}, "score q_m · k_n = "), scoreText),
    el("div", { class: "lx-grid" }, dials.map((d, i) => el("figure", { class: "lx-figure" }, d.svg, el("figcaption", { class: "lx-help" }, `pair ${i}`)))),
    el("div", { class: "lx-scroll-x" }, table),
    live,
  );
  host.append(root);

  function update() {
    const m = model.get("query_position");
    const n = model.get("key_position");
    const result = ropeScore(q, k, m, n, base);
    mSlider.input.value = String(m);
    nSlider.input.value = String(n);
    mSlider.text.textContent = String(m);
    nSlider.text.textContent = String(n);
    back.disabled = m === 0 || n === 0;
    forward.disabled = m === maxPosition || n === maxPosition;
    offsetText.textContent = String(m - n);
    scoreText.textContent = fmt(result.score, 4);
    scoreText.dataset.value = exact(result.score);
    dials.forEach((d, i) => {
      d.set(d.svg.querySelector(".lx-rope-q"), result.qRot[i], result.qRot[i + half], scales[i]);
      d.set(d.svg.querySelector(".lx-rope-k"), result.kRot[i], result.kRot[i + half], scales[i]);
    });
    rows.forEach((r, i) => {
      const angle = (m - n) * Math.pow(base, (-2 * i) / q.length);
      r.cells[1].textContent = fmt(angle, 3);
      r.cells[2].textContent = fmt(result.contributions[i], 4);
      r.cells[2].dataset.value = exact(result.contributions[i]);
    });
    live.textContent = `m = ${m}, n = ${n}, offset ${m - n}: score ${fmt(result.score, 3)}`;
    root.dataset.state = stateJSON({ query_position: m, key_position: n, offset: m - n, score: result.score, contributions: result.contributions });
  }

  model.on("change:query_position", update);
  model.on("change:key_position", update);
  update();
  return () => {
    model.off("change:query_position", update);
    model.off("change:key_position", update);
  };
}

export default { render };
