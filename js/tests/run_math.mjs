// Runs the explorers' pure maths (lessons_lib/explorers/math.js) on cases read as JSON from stdin and
// writes the results as JSON to stdout; tests/test_explorer_math_js.py compares them with numpy.
// Infinities travel as the strings "-Infinity" / "Infinity" (JSON has no such numbers).
import { readFileSync } from "node:fs";
import * as math from "../../lessons_lib/explorers/math.js";

const revive = (_, x) => (x === "-Infinity" ? -Infinity : x === "Infinity" ? Infinity : x);
const replace = (_, x) => (x === -Infinity ? "-Infinity" : x === Infinity ? "Infinity" : Number.isNaN(x) ? "NaN" : x);

const cases = JSON.parse(readFileSync(0, "utf8"), revive);
const results = cases.map(({ fn, args }) => {
  if (typeof math[fn] !== "function") throw new Error(`math.js has no function ${fn}`);
  return math[fn](...args);
});
process.stdout.write(JSON.stringify(results, replace));
