// OnlineSoftmaxExplorer front-end: process key blocks one at a time; the running answer meets the exact one.
import { onlineSoftmax } from "./math.js";
import {
  el, exact, explorerRoot, fmt, fmtVector, isolate, listen, liveRegion, rgb, scrollRegion, setter, stateJSON, textOn, uniqueId,
  weightColour,
} from "./ui.js";

function render({ model, el: host }) {
  const q = model.get("q");
  const k = model.get("k");
  const v = model.get("v");
  const blockSize = model.get("block_size");
  const scale = model.get("scale");
  const labels = model.get("key_labels");
  const exactOutput = model.get("exact_output");
  const exactWeights = model.get("exact_weights");
  const { scores, steps } = onlineSoftmax(q, k, v, blockSize, scale);
  const blocks = steps.length;
  const uid = uniqueId("lx-online");
  const set = setter(model);
  const setStep = (s) => set({ step: Math.max(0, Math.min(blocks, s)) });
  const button = (text, label, onclick) => el("button", { type: "button", class: "lx-button", "aria-label": label, onclick }, text);
  const first = button("« start", "Back to the start (no blocks processed)", () => setStep(0));
  const back = button("‹ back", "Undo the last block", () => setStep(model.get("step") - 1));
  const next = button("next block ›", "Process the next key block", () => setStep(model.get("step") + 1));
  const last = button("end »", "Process every block", () => setStep(blocks));
  const slider = el("input", {
    type: "range",
    id: `${uid}-step`,
    class: "lx-slider",
    min: 0,
    max: blocks,
    step: 1,
    "aria-label": "Blocks processed",
    oninput: () => setStep(Number(slider.value)),
  });
  const stepText = el("output", { class: "lx-num", for: `${uid}-step` });

  // One cell per key: its score, coloured by its exact weight once its block has been seen.
  const keyCells = labels.map((label, j) =>
    el(
      "div",
      { class: "lx-keycell", "data-key": j, title: `${isolate(label)}: score ${exact(scores[j])}, exact weight ${exact(exactWeights[j])}` },
      el("bdi", { class: "lx-keycell-label" }, label),
      el("span", { class: "lx-keycell-score" }, fmt(scores[j], 2)),
    ),
  );
  const strip = el("div", { class: "lx-strip", role: "list", "aria-label": "Keys and their scores (scale × q · k), block by block" });
  for (let b = 0; b < blocks; b++) {
    const cells = keyCells.slice(steps[b].start, steps[b].end);
    cells.forEach((c) => c.setAttribute("role", "listitem"));
    strip.append(el("div", { class: "lx-block", "data-block": b }, cells));
  }

  const headRow = el(
    "tr",
    {},
    ["block", "keys", "block max", "running max m", "rescale e^(m_old − m)", "running sum l", "running output acc / l"].map((t) => el("th", { scope: "col" }, t)),
  );
  const rows = steps.map((s, b) => {
    const cells = ["keys", "blockMax", "m", "correction", "l", "output"].map((name) => el("td", { class: "lx-num", "data-step": name }));
    cells[0].textContent = `${s.start}–${s.end - 1}`;
    const tr = el("tr", { "data-block": b }, el("th", { scope: "row" }, String(b + 1)), cells);
    return { tr, cells };
  });
  const table = el(
    "table",
    { class: "lx-table" },
    el("caption", {}, `Online softmax over ${k.length} keys in blocks of ${blockSize}`),
    el("thead", {}, headRow),
    el("tbody", {}, rows.map((r) => r.tr)),
  );
  const runningText = el("div", { class: "lx-num lx-output", "data-role": "running" });
  const exactText = el("div", { class: "lx-num lx-output", "data-role": "exact" }, fmtVector(exactOutput, 4));
  exactText.title = exactOutput.map(exact).join(", ");
  const diffText = el("div", { class: "lx-num", "data-role": "difference" });
  const live = liveRegion();

  const root = explorerRoot(
    "online-softmax",
    model,
    "Process the keys one block at a time. Each block may raise the running max m; the old sums are then rescaled by e^(m_old − m) so nothing is lost, and the running output is exact once every block is in.",
    el(
      "div",
      { class: "lx-controls" },
      el("div", { class: "lx-control" }, first, back, next, last),
      el("div", { class: "lx-control" }, el("label", { for: `${uid}-step` }, "Blocks processed"), slider, stepText),
    ),
    strip,
    el(
      "div",
      { class: "lx-main" },
      el("div", { class: "lx-panel" }, scrollRegion("Online softmax, block by block", table)),
      el(
        "dl",
        { class: "lx-panel lx-compare" },
        el("dt", {}, "running output"),
        el("dd", {}, runningText),
        el("dt", {}, "exact softmax(scale · K q) V (numpy)"),
        el("dd", {}, exactText),
        el("dt", {}, "largest difference"),
        el("dd", {}, diffText),
      ),
    ),
    live,
  );
  host.append(root);

  function update() {
    const step = model.get("step");
    const state = step > 0 ? steps[step - 1] : null;
    slider.value = String(step);
    stepText.textContent = `${step} of ${blocks}`;
    first.disabled = back.disabled = step === 0;
    next.disabled = last.disabled = step === blocks;
    rows.forEach((r, b) => {
      const s = steps[b];
      const done = b < step;
      r.tr.classList.toggle("lx-pending", !done);
      r.tr.classList.toggle("lx-current", b === step - 1);
      const values = [s.blockMax, s.m, b === 0 ? null : s.correction, s.l];
      values.forEach((x, c) => {
        const cell = r.cells[c + 1];
        cell.textContent = done ? (b === 0 && c === 2 ? "– (first block)" : fmt(x, 4)) : "";
        cell.title = done ? exact(x) : "";
        cell.dataset.value = done ? exact(x) : "";
      });
      r.cells[5].textContent = done ? fmtVector(s.output, 4, 6) : "";
      r.cells[5].title = done ? s.output.map(exact).join(", ") : "";
    });
    keyCells.forEach((cell, j) => {
      const seen = state !== null && j < state.end;
      const colour = weightColour(exactWeights[j]);
      cell.style.background = seen ? rgb(colour) : "";
      cell.style.color = seen ? textOn(colour) : "";
      cell.classList.toggle("lx-seen", seen);
    });
    let diff = null;
    if (state) {
      diff = Math.max(...state.output.map((x, c) => Math.abs(x - exactOutput[c])));
      runningText.textContent = fmtVector(state.output, 4);
      runningText.title = state.output.map(exact).join(", ");
      diffText.textContent = `${diff.toExponential(2)}${step === blocks ? " (rounding only: the result is exact)" : ` (${blocks - step} block${blocks - step === 1 ? "" : "s"} to go)`}`;
      live.textContent = `after block ${step}: m = ${fmt(state.m, 3)}, l = ${fmt(state.l, 3)}`;
    } else {
      runningText.textContent = "nothing yet (m = −∞, l = 0)";
      runningText.title = "";
      diffText.textContent = "–";
      live.textContent = "no blocks processed";
    }
    root.dataset.state = stateJSON({
      step,
      blocks,
      m: state ? state.m : -Infinity,
      l: state ? state.l : 0,
      output: state ? state.output : null,
      exact: exactOutput,
      max_difference: diff,
    });
  }

  const stop = listen(model, ["step"], update);
  update();
  return stop;
}

export default { render };
