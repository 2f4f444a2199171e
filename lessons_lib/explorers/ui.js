// Drawing helpers shared by the explorers: elements, number formatting, the colour map, the heatmap.
// No imports from the web: the static book loads each explorer as one inlined string.

/** Create an element: el("button", {class: "x", onclick: f, "aria-label": "y"}, "text", child, ...). */
export function el(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.setAttribute("class", value);
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A short readable number: fixed decimals, exponent form for very large or tiny values, −∞ for masked. */
export function fmt(x, digits = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (x === -Infinity) return "−∞";
  if (x === Infinity) return "∞";
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < Math.pow(10, -digits) / 2)) return x.toExponential(2).replaceAll("-", "−");
  return x.toFixed(digits).replaceAll("-", "−");
}

/**
 * A label isolated for plain text (tooltips, aria-labels, live regions): FSI … PDI, the text form of <bdi>,
 * so a right-to-left override inside a label cannot reorder the text around it.
 */
export function isolate(label) {
  return `\u2068${label}\u2069`;
}

/** The exact value, as JavaScript prints it (shortest string that round-trips): for titles and data attributes. */
export function exact(x) {
  if (x === null || x === undefined) return "none";
  if (x === -Infinity) return "-Infinity";
  return String(x);
}

/** A vector as "(a, b, c)" with fixed decimals; longer vectors are cut to `maxShown` entries. */
export function fmtVector(values, digits = 3, maxShown = Infinity) {
  const shown = values.slice(0, maxShown).map((x) => fmt(x, digits));
  if (values.length > maxShown) shown.push(`… ${values.length - maxShown} more`);
  return `(${shown.join(", ")})`;
}

/** JSON that keeps -Infinity readable (as the string "-Infinity"), for data-* attributes. */
export function stateJSON(value) {
  return JSON.stringify(value, (_, x) => (x === -Infinity ? "-Infinity" : x === Infinity ? "Infinity" : x));
}

// --- scaffolding every explorer shares ---------------------------------------------------------

let idCount = 0;
/** An id unique on the page (several explorers, each with its own copy of this module, can share a page). */
export function uniqueId(prefix) {
  idCount += 1;
  return `${prefix}-${idCount}-${Math.random().toString(36).slice(2, 7)}`;
}

/** set(changes): set traits from the page and send them to Python in one message. */
export function setter(model) {
  return (changes) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };
}

/** Call update() whenever one of the named traits changes; returns the cleanup that render returns. */
export function listen(model, names, update) {
  const events = names.map((name) => `change:${name}`);
  for (const event of events) model.on(event, update);
  return () => {
    for (const event of events) model.off(event, update);
  };
}

/** The explorer's box: data-explorer="kind", the title (if any), one line of help, then the content. */
export function explorerRoot(kind, model, help, ...children) {
  const title = model.get("title");
  return el(
    "div",
    { class: `lx-root lx-${kind}`, "data-explorer": kind },
    title ? el("div", { class: "lx-title" }, el("bdi", {}, title)) : null,
    el("p", { class: "lx-help" }, help),
    ...children,
  );
}

/** A box that scrolls its content (both ways) inside the explorer, focusable so keyboards can scroll it too. */
export function scrollRegion(label, content, extraClass = "") {
  return el("div", { class: `lx-scroll ${extraClass}`.trim(), tabindex: 0, role: "region", "aria-label": label }, content);
}

/**
 * Keep a long table's rows current without re-laying out every row on each interaction.
 * refresh(paintRow) calls paintRow(j) now for the rows in the scroll box's view, and for the others after
 * the next frame (or as soon as they scroll into view). Tables of up to `eager` rows are painted at once.
 */
export function lazyRows(scrollBox, trs, eager = 24) {
  const inView = new Set();
  let stale = new Set();
  let paint = null;
  let pending = false;
  const catchUp = () => {
    pending = false;
    for (const j of stale) paint(j);
    stale.clear();
  };
  const observer =
    trs.length > eager && typeof IntersectionObserver === "function"
      ? new IntersectionObserver(
          (entries) => {
            for (const entry of entries) {
              const j = trs.indexOf(entry.target);
              if (!entry.isIntersecting) inView.delete(j);
              else {
                inView.add(j);
                if (stale.delete(j)) paint(j);
              }
            }
          },
          { root: scrollBox, rootMargin: "64px 0px" },
        )
      : null;
  trs.forEach((tr) => observer?.observe(tr));
  return {
    refresh(paintRow) {
      paint = paintRow;
      if (!observer) return trs.forEach((_, j) => paintRow(j));
      stale = new Set(trs.keys());
      for (const j of inView) {
        paintRow(j);
        stale.delete(j);
      }
      if (!pending) {
        pending = true;
        requestAnimationFrame(() => setTimeout(catchUp, 0));
      }
    },
    disconnect: () => observer?.disconnect(),
  };
}

let measurer = null;
/** The width in CSS pixels of the widest of `texts` in the explorers' table font. */
export function textWidth(texts, font = TABLE_FONT) {
  measurer ??= document.createElement("canvas").getContext("2d");
  measurer.font = font;
  return Math.ceil(Math.max(0, ...texts.map((t) => measurer.measureText(String(t)).width)));
}
const TABLE_FONT = "13px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";

/**
 * Give `table` fixed column widths (CSS pixels, padding included): the browser then lays out a changed cell
 * without re-measuring every row of the table. Text wider than its column is cut with an ellipsis.
 */
export function fixColumns(table, widths) {
  table.prepend(el("colgroup", {}, widths.map((w) => el("col", { style: `width:${w}px` }))));
  table.classList.add("lx-fixed");
  table.style.width = `${widths.reduce((a, b) => a + b, 0)}px`;
}

/** A table cell that shows a number (fixed decimals) and keeps its exact value in data-value: {td, set(x)}. */
export function numberCell(step, digits = 3) {
  const td = el("td", { class: "lx-num", "data-step": step });
  let shownValue = td; // nothing shown yet
  return {
    td,
    set(x) {
      if (x === shownValue) return; // unchanged: no DOM write, no relayout
      shownValue = x;
      td.textContent = fmt(x, digits);
      td.dataset.value = exact(x);
    },
  };
}

/** A table cell that shows a weight as a bar and a number, its exact value in data-value: {td, set(w)}. */
export function weightCell() {
  const bar = el("span", { class: "lx-bar" });
  const number = el("span", { class: "lx-bar-number" });
  const td = el("td", { class: "lx-weight", "data-step": "weight" }, el("span", { class: "lx-bar-track", "aria-hidden": "true" }, bar), number);
  let shownValue = td;
  return {
    td,
    set(w) {
      if (w === shownValue) return;
      shownValue = w;
      number.textContent = fmt(w, 3);
      td.dataset.value = exact(w);
      bar.style.transform = `scaleX(${w ?? 0})`; // a transform needs no layout
    },
  };
}

// Cividis (colour-blind safe, monotone in lightness), 33 stops from matplotlib.
const CIVIDIS_HEX =
  "00224e00285b002e6a0533711a386f273e6e32436d3b496c434e6c4b546c535a6d5a5f6e61656f686a716f70737676767d7c78" +
  "8482798c8878938e789b9476a39a74aba072b4a76fbcae6cc4b468cdbb63d5c25edec958e7d150f0d846f9e03afee838";
const CIVIDIS = [];
for (let i = 0; i < CIVIDIS_HEX.length; i += 6) {
  CIVIDIS.push([0, 2, 4].map((o) => parseInt(CIVIDIS_HEX.slice(i + o, i + o + 2), 16)));
}

/** Colour of an attention weight w in [0, 1]: cividis of √w, so that small weights are still told apart. */
export function weightColour(w) {
  const t = Math.sqrt(Math.min(1, Math.max(0, Number.isFinite(w) ? w : 0)));
  return WEIGHT_COLOURS[Math.round(t * (WEIGHT_COLOURS.length - 1))]; // shared: do not modify
}
// cividis at 1024 evenly spaced points: a heatmap repaint looks colours up instead of interpolating.
const WEIGHT_COLOURS = Array.from({ length: 1024 }, (_, i) => cividis(i / 1023));

/** A colour legend for weightColour: a gradient with ticks at 0, 0.05, 0.25, 0.5, 1. */
export function weightLegend() {
  const width = 180;
  const canvas = el("canvas", { class: "lx-legend-bar", width, height: 10, "aria-hidden": "true" });
  const ctx = canvas.getContext("2d");
  for (let x = 0; x < width; x++) {
    ctx.fillStyle = rgb(cividis(x / (width - 1)));
    ctx.fillRect(x, 0, 1, 10);
  }
  const ticks = [0, 0.05, 0.25, 0.5, 1].map((w) =>
    el("span", { class: "lx-legend-tick", style: `left:${(Math.sqrt(w) * 100).toFixed(1)}%` }, String(w)),
  );
  return el(
    "div",
    { class: "lx-legend" },
    el("span", { class: "lx-legend-title" }, "weight"),
    el("span", { class: "lx-legend-scale" }, canvas, el("span", { class: "lx-legend-ticks" }, ticks)),
  );
}

/** Cividis colour of t in [0, 1] as [r, g, b]. */
export function cividis(t) {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (CIVIDIS.length - 1);
  const i = Math.min(CIVIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return CIVIDIS[i].map((c, n) => Math.round(c + f * (CIVIDIS[i + 1][n] - c)));
}

export function rgb([r, g, b]) {
  return `rgb(${r},${g},${b})`;
}

const LABEL_FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";
const HIDDEN_RGB = [230, 230, 230]; // masked cells: light grey with a diagonal stroke

/**
 * Paint an (n, m) matrix of weights into `canvas`, one pixel per cell (scale it up with drawImage or CSS,
 * pixelated). A null row, or hidden[i][j] = true, is a masked cell. Returns the canvas.
 */
export function paintMatrix(canvas, matrix, hidden = null, m = matrix[0]?.length ?? 0) {
  const n = matrix.length;
  if (canvas.width !== m || canvas.height !== n) {
    canvas.width = m;
    canvas.height = n;
  }
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(m, n);
  const px = image.data;
  for (let i = 0; i < n; i++) {
    const row = matrix[i];
    for (let j = 0; j < m; j++) {
      const [r, g, b] = !row || (hidden && hidden[i][j]) ? HIDDEN_RGB : weightColour(row[j]);
      const o = 4 * (i * m + j);
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

/** Black or white text on the colour [r, g, b], whichever has the higher WCAG contrast ratio. */
export function textOn([r, g, b]) {
  const linear = (c) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
  const lum = 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  return (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) ? "#000" : "#fff";
}

/** Roving keyboard selection for a row of buttons: arrows, Home and End move and select. */
export function arrowKeys(buttons, select) {
  buttons.forEach((button, i) => {
    button.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const next = Math.max(0, Math.min(buttons.length - 1, moves[event.key]));
      select(next);
      buttons[next].focus();
    });
  });
}

/** [CLS], [SEP], <s>, </s>, <|endoftext|>…: tokens a tokenizer adds, drawn dashed so they stand out. */
const SPECIAL_TOKEN = /^(\[[A-Z]+\]|<\/?[a-z]+>|<\|[a-z_]+\|>)$/;

/** Token buttons (one per token) that select a query; returns {element, update(selected)}. */
export function tokenPicker(tokens, label, onSelect) {
  const buttons = tokens.map((token, i) =>
    el(
      "button",
      {
        type: "button",
        class: SPECIAL_TOKEN.test(token) ? "lx-token lx-special" : "lx-token",
        "data-index": i,
        "aria-label": `${label}: ${isolate(token)} (position ${i}${SPECIAL_TOKEN.test(token) ? ", special token" : ""})`,
        title: `position ${i}`,
        onclick: () => onSelect(i),
      },
      token,
    ),
  );
  arrowKeys(buttons, onSelect);
  const element = el("div", { class: "lx-tokens", role: "group", "aria-label": label }, buttons);
  return {
    element,
    buttons,
    update(selected) {
      if (selected === this.selected) return;
      buttons.forEach((b, i) => {
        if (this.selected !== undefined && i !== selected && i !== this.selected) return; // only two buttons change
        b.setAttribute("aria-pressed", String(i === selected));
        b.tabIndex = i === selected ? 0 : -1;
      });
      this.selected = selected;
    },
  };
}

/** Hovering any element with data-value inside `container` shows that exact value as its tooltip (set lazily: cheaper than a title per cell on every update). */
export function exactTitlesOnHover(container) {
  container.addEventListener("mouseover", (event) => {
    const cell = event.target.closest?.("[data-value]");
    if (cell && container.contains(cell)) cell.title = cell.dataset.value === "none" ? "no value" : cell.dataset.value;
  });
}

/** A visually hidden live region that reads changes aloud to screen readers. */
export function liveRegion() {
  return el("div", { class: "lx-sr-only", "aria-live": "polite", role: "status" });
}

/**
 * An (n_rows, n_cols) heatmap on a canvas, with labels, numbers in the cells when they fit, a hover
 * tooltip with the exact value, and keyboard navigation (arrows move, Enter/Space activates).
 * matrix rows may be null (no softmax: every key hidden); hidden[i][j] = true marks a masked cell.
 */
export class Heatmap {
  constructor({ label, rowLabels, colLabels, maxSize = 360, describe, onActivate, interactive = true, digits = 2 }) {
    this.rowLabels = rowLabels;
    this.colLabels = colLabels;
    this.maxSize = maxSize;
    this.describe = describe;
    this.onActivate = onActivate;
    this.digits = digits;
    this.focus = null;
    this.data = null;
    this.canvas = el("canvas", {
      class: "lx-heatmap",
      role: interactive ? "application" : "img",
      "aria-roledescription": "heatmap",
      "aria-label": label,
      tabindex: interactive ? 0 : undefined,
    });
    this.tooltip = el("div", { class: "lx-tooltip", "aria-hidden": "true" });
    this.live = liveRegion();
    this.element = el("div", { class: "lx-heatmap-wrap" }, this.canvas, this.tooltip, this.live);
    if (interactive) this._listen();
    // The labels take the theme's text colour: redraw when the page switches between light and dark.
    if (typeof MutationObserver === "function") {
      this._themeWatch = new MutationObserver(() => this.data && this.draw(this.data));
      this._themeWatch.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme", "data-mode", "class"] });
      if (document.body) this._themeWatch.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light"] });
    }
  }

  /** Stop following the page's theme (when the view is removed). */
  stop() {
    this._themeWatch?.disconnect();
  }

  _geometry() {
    // Labels never change, so the layout is measured once.
    if (this._g) return this._g;
    const n = this.rowLabels.length;
    const m = this.colLabels.length;
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = LABEL_FONT;
    const longest = (labels) => Math.max(...labels.map((s) => ctx.measureText(s).width));
    let cell = Math.floor(this.maxSize / Math.max(n, m));
    cell = Math.max(4, Math.min(44, cell));
    const showLabels = cell >= 9;
    const left = showLabels ? Math.min(100, Math.ceil(longest(this.rowLabels)) + 8) : 4;
    const top = showLabels ? Math.min(100, Math.ceil(longest(this.colLabels)) + 8) : 4;
    this._g = { n, m, cell, left, top, showLabels, width: left + m * cell + 2, height: top + n * cell + 2 };
    return this._g;
  }

  /** Draw {matrix, hidden, highlightRow}: one pixel per cell (paintMatrix), scaled up. */
  draw(data) {
    this.data = data;
    const g = (this.geometry = this._geometry());
    const dpr = window.devicePixelRatio || 1;
    const canvas = this.canvas;
    if (canvas.width !== Math.round(g.width * dpr) || canvas.height !== Math.round(g.height * dpr)) {
      canvas.width = Math.round(g.width * dpr);
      canvas.height = Math.round(g.height * dpr);
      canvas.style.width = `${g.width}px`; // at most the box's width (CSS max-width); the height follows
      canvas.style.height = "auto";
      canvas.dataset.geometry = JSON.stringify({ left: g.left, top: g.top, cell: g.cell, rows: g.n, cols: g.m });
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, g.width, g.height);
    const { matrix, hidden } = data;
    const isHidden = (i, j) => !matrix[i] || (hidden && hidden[i] && hidden[i][j]);

    if (!this._pixels || this._painted?.matrix !== matrix || this._painted?.hidden !== hidden) {
      this._pixels = paintMatrix(this._pixels || document.createElement("canvas"), matrix, hidden, g.m);
      this._painted = { matrix, hidden }; // the same arrays next time (only the highlighted row moved): no repaint
    }
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this._pixels, g.left, g.top, g.m * g.cell, g.n * g.cell);

    const showNumbers = g.cell >= 28;
    if (showNumbers || g.cell >= 8) {
      ctx.font = `${Math.max(9, Math.min(12, Math.floor(g.cell * 0.3)))}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.strokeStyle = "#9a9a9a";
      ctx.lineWidth = 1;
      for (let i = 0; i < g.n; i++) {
        for (let j = 0; j < g.m; j++) {
          const x = g.left + j * g.cell;
          const y = g.top + i * g.cell;
          if (isHidden(i, j)) {
            ctx.beginPath(); // masked: a diagonal stroke, so it reads without colour
            ctx.moveTo(x + 2, y + g.cell - 2);
            ctx.lineTo(x + g.cell - 2, y + 2);
            ctx.stroke();
          } else if (showNumbers) {
            const w = matrix[i][j];
            ctx.fillStyle = textOn(weightColour(w));
            ctx.fillText(w.toFixed(this.digits), x + g.cell / 2, y + g.cell / 2 + 0.5);
          }
        }
      }
    }
    if (g.showLabels) this._drawLabels(ctx, g, data.highlightRow);
    const outline = (x, y, w, h) => {
      ctx.lineWidth = 3;
      ctx.strokeStyle = "#fff";
      ctx.strokeRect(x, y, w, h);
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#000";
      ctx.strokeRect(x, y, w, h);
    };
    if (data.highlightRow != null) outline(g.left, g.top + data.highlightRow * g.cell, g.m * g.cell, g.cell);
    if (this.focus && document.activeElement === this.canvas) {
      const [i, j] = this.focus;
      ctx.setLineDash([3, 2]);
      outline(g.left + j * g.cell + 1, g.top + i * g.cell + 1, g.cell - 2, g.cell - 2);
      ctx.setLineDash([]);
    }
  }

  _drawLabels(ctx, g, highlightRow) {
    // The labels are drawn once into their own canvas and copied; only the query's label is redrawn, in bold.
    const dpr = window.devicePixelRatio || 1;
    const colour = getComputedStyle(this.canvas).color || "#1a1a1a";
    if (!this._labels || this._labelsColour !== colour) {
      const layer = document.createElement("canvas");
      layer.width = Math.round(g.width * dpr);
      layer.height = Math.round(g.height * dpr);
      const lc = layer.getContext("2d");
      lc.setTransform(dpr, 0, 0, dpr, 0, 0);
      lc.fillStyle = colour;
      lc.font = LABEL_FONT;
      lc.textBaseline = "middle";
      lc.textAlign = "right";
      this.rowLabels.forEach((label, i) => lc.fillText(label, g.left - 5, g.top + (i + 0.5) * g.cell, g.left - 6));
      lc.textAlign = "left";
      this.colLabels.forEach((label, j) => {
        lc.save();
        lc.translate(g.left + (j + 0.5) * g.cell, g.top - 5);
        lc.rotate(-Math.PI / 2);
        lc.fillText(label, 0, 0, g.top - 6);
        lc.restore();
      });
      this._labels = layer;
      this._labelsColour = colour;
    }
    ctx.drawImage(this._labels, 0, 0, g.width, g.height);
    if (highlightRow != null) {
      const y = g.top + highlightRow * g.cell;
      ctx.clearRect(0, y, g.left - 1, g.cell);
      ctx.fillStyle = colour;
      ctx.font = `bold ${LABEL_FONT}`;
      ctx.textBaseline = "middle";
      ctx.textAlign = "right";
      ctx.fillText(this.rowLabels[highlightRow], g.left - 5, y + g.cell / 2, g.left - 6);
    }
  }

  cellAt(event) {
    const g = this.geometry;
    if (!g) return null;
    const box = this.canvas.getBoundingClientRect();
    const shrink = box.width / g.width || 1; // < 1 when a narrow screen scales the canvas down
    const j = Math.floor(((event.clientX - box.left) / shrink - g.left) / g.cell);
    const i = Math.floor(((event.clientY - box.top) / shrink - g.top) / g.cell);
    return i >= 0 && i < g.n && j >= 0 && j < g.m ? [i, j] : null;
  }

  _listen() {
    const canvas = this.canvas;
    canvas.addEventListener("mousemove", (event) => {
      const cell = this.cellAt(event);
      if (!cell) return this._hideTip();
      const g = this.geometry;
      this.tooltip.textContent = this.describe(cell[0], cell[1]);
      this.tooltip.style.left = `${g.left + (cell[1] + 1) * g.cell + 4}px`;
      this.tooltip.style.top = `${g.top + cell[0] * g.cell}px`;
      this.tooltip.classList.add("lx-visible");
      canvas.style.cursor = this.onActivate ? "pointer" : "default";
    });
    canvas.addEventListener("mouseleave", () => this._hideTip());
    canvas.addEventListener("click", (event) => {
      const cell = this.cellAt(event);
      if (cell && this.onActivate) {
        this.focus = cell;
        this.onActivate(cell[0], cell[1]);
      }
    });
    canvas.addEventListener("focus", () => {
      if (!this.focus) this.focus = [this.data?.highlightRow ?? 0, 0];
      this._announce();
      this.draw(this.data);
    });
    canvas.addEventListener("blur", () => this.draw(this.data));
    canvas.addEventListener("keydown", (event) => {
      const g = this.geometry;
      let [i, j] = this.focus || [0, 0];
      const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      if (event.key in moves) {
        i = Math.max(0, Math.min(g.n - 1, i + moves[event.key][0]));
        j = Math.max(0, Math.min(g.m - 1, j + moves[event.key][1]));
      } else if (event.key === "Home") j = 0;
      else if (event.key === "End") j = g.m - 1;
      else if ((event.key === "Enter" || event.key === " ") && this.onActivate) {
        event.preventDefault();
        this.onActivate(i, j);
        this._announce();
        return;
      } else return;
      event.preventDefault();
      this.focus = [i, j];
      this._announce();
      this.draw(this.data);
    });
  }

  _announce() {
    if (this.focus) this.live.textContent = this.describe(this.focus[0], this.focus[1]);
  }

  _hideTip() {
    this.tooltip.classList.remove("lx-visible");
  }
}
