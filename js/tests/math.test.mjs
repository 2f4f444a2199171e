// Properties of the explorers' maths that need no reference implementation (run with `npm test` in js/).
import assert from "node:assert/strict";
import { test } from "node:test";
import { attentionRow, entropy, maskMatrix, onlineSoftmax, softLookup, softmax } from "../../lessons_lib/explorers/math.js";

const close = (a, b, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

test("softmax sums to one, ignores -Infinity and survives huge scores", () => {
  const w = softmax([1e4, 1e4 - 1, -Infinity, -1e4]);
  close(w.reduce((a, b) => a + b), 1);
  assert.equal(w[2], 0);
  close(w[0] / w[1], Math.E, 1e-9);
  assert.equal(softmax([-Infinity, -Infinity]), null);
});

test("shifting every score leaves the weights unchanged", () => {
  const a = softmax([0.3, -1.2, 2.0]);
  const b = softmax([100.3, 98.8, 102.0]);
  a.forEach((x, i) => close(x, b[i], 1e-12));
});

test("entropy: uniform is ln n, one-hot is 0", () => {
  close(entropy([0.25, 0.25, 0.25, 0.25]), Math.log(4));
  assert.equal(entropy([0, 1, 0]), 0);
});

test("causal rows never weight the future; an all-masked row has no softmax", () => {
  const q = [[1, 0], [0, 1], [1, 1]];
  const allowed = maskMatrix("causal", 3);
  for (let i = 0; i < 3; i++) {
    const row = attentionRow(q[i], q, q, 1, allowed[i]);
    for (let j = i + 1; j < 3; j++) assert.equal(row.weights[j], 0);
  }
  const none = attentionRow(q[0], q, q, 1, [false, false, false]);
  assert.equal(none.weights, null);
  assert.equal(none.output, null);
});

test("soft lookup at scale 0 averages the values", () => {
  const { weights, output } = softLookup([5, -3], [[1, 0], [0, 1]], [[2], [4]], 0);
  assert.deepEqual(weights, [0.5, 0.5]);
  close(output[0], 3);
});

test("online softmax ends at the plain softmax", () => {
  const q = [0.5, -1, 2];
  const k = [[1, 2, 0], [3, -1, 1], [0, 0, 1], [-2, 1, 4], [1, 1, 1]];
  const v = [[1], [2], [3], [4], [5]];
  const { steps } = onlineSoftmax(q, k, v, 2, 0.5);
  const exact = attentionRow(q, k, v, 0.5, null).output;
  assert.equal(steps.length, 3);
  close(steps[2].output[0], exact[0], 1e-12);
});
