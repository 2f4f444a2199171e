// The explorers' interaction maths: pure functions of plain arrays, no DOM.
// Same conventions as lessons_lib (row vectors; masks: true = may attend). tests/test_explorer_math_js.py
// runs these under Node against numpy on random inputs.

/** Dot product of two equal-length arrays. */
export function dot(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Stable softmax; -Infinity entries get weight 0. Returns null when every entry is -Infinity. */
export function softmax(scores) {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  if (max === -Infinity) return null;
  const e = new Array(scores.length);
  let total = 0;
  for (let i = 0; i < scores.length; i++) {
    e[i] = scores[i] === -Infinity ? 0 : Math.exp(scores[i] - max);
    total += e[i];
  }
  for (let i = 0; i < e.length; i++) e[i] /= total;
  return e;
}

/** Shannon entropy -Σ p ln p in nats (0 ln 0 = 0). */
export function entropy(weights) {
  let h = 0;
  for (const p of weights) if (p > 0) h -= p * Math.log(p);
  return Math.max(h, 0);
}

/** weights @ values for values of shape (n, d_v). */
export function weightedSum(weights, values) {
  const out = new Array(values[0].length).fill(0);
  for (let j = 0; j < values.length; j++) {
    const w = weights[j];
    if (w === 0) continue;
    const row = values[j];
    for (let c = 0; c < out.length; c++) out[c] += w * row[c];
  }
  return out;
}

/** Chapter 1: soft lookup of one query. Returns {scores, weights, output} (scores already scaled). */
export function softLookup(query, keys, values, scale) {
  const scores = keys.map((key) => scale * dot(key, query));
  const weights = softmax(scores);
  return { scores, weights, output: weightedSum(weights, values) };
}

/**
 * The causal rule, written out once: key j is visible to query i iff j <= i + (nK - nQ)
 * (queries aligned to the last keys when nQ != nK, as lessons_lib.causal_mask does).
 */
export function causalVisible(i, j, nQ, nK = nQ) {
  return j <= i + (nK - nQ);
}

/**
 * The (n, n) mask of a mode (rows = queries; true = may attend): "none" | "causal" | "padding" | "custom".
 * padding: only the first paddingLength keys (null = all n); custom: every key except maskedCells [[i, j], ...].
 */
export function maskMatrix(mode, n, paddingLength, maskedCells) {
  const length = mode === "padding" && paddingLength != null ? paddingLength : n;
  const rows = [];
  for (let i = 0; i < n; i++) {
    const row = new Array(n);
    for (let j = 0; j < n; j++) row[j] = j < length && (mode !== "causal" || causalVisible(i, j, n, n));
    rows.push(row);
  }
  if (mode === "custom") {
    for (const [i, j] of maskedCells || []) if (i >= 0 && i < n && j >= 0 && j < n) rows[i][j] = false;
  }
  return rows;
}

/**
 * One query row of scaled dot-product attention, every step kept:
 * scores = k @ q_i, scaled = scale * scores, masked = scaled with hidden keys at -Infinity,
 * weights = softmax(masked), output = weights @ v, entropy of the weights (nats).
 * When every key is hidden there is no softmax: weights, output and entropy are null.
 */
export function attentionRow(qRow, k, v, scale, allowed) {
  const scores = k.map((keyRow) => dot(qRow, keyRow));
  const scaled = scores.map((s) => s * scale);
  const masked = scaled.map((s, j) => (allowed && !allowed[j] ? -Infinity : s));
  const weights = softmax(masked);
  if (weights === null) return { scores, scaled, masked, weights: null, output: null, entropy: null };
  return { scores, scaled, masked, weights, output: weightedSum(weights, v), entropy: entropy(weights) };
}

/** Every row's weights (rows with every key hidden are null). */
export function attentionWeights(q, k, scale, allowedRows) {
  return q.map((qRow, i) => {
    const masked = k.map((keyRow, j) => (allowedRows && !allowedRows[i][j] ? -Infinity : scale * dot(qRow, keyRow)));
    return softmax(masked);
  });
}

/**
 * Online softmax of one query over key blocks (the FlashAttention recurrence). Returns one entry per
 * block with {start, end, blockMax, m, correction, l, acc, output}; the last output is the exact answer.
 */
export function onlineSoftmax(q, k, v, blockSize, scale) {
  const scores = k.map((keyRow) => scale * dot(q, keyRow));
  let m = -Infinity;
  let l = 0;
  let acc = new Array(v[0].length).fill(0);
  const steps = [];
  for (let start = 0; start < k.length; start += blockSize) {
    const end = Math.min(start + blockSize, k.length);
    let blockMax = -Infinity;
    for (let j = start; j < end; j++) if (scores[j] > blockMax) blockMax = scores[j];
    const mNew = Math.max(m, blockMax);
    const correction = Math.exp(m - mNew); // exp(-Infinity) = 0 on the first block
    let blockSum = 0;
    const next = acc.map((a) => a * correction);
    for (let j = start; j < end; j++) {
      const p = Math.exp(scores[j] - mNew);
      blockSum += p;
      for (let c = 0; c < next.length; c++) next[c] += p * v[j][c];
    }
    l = l * correction + blockSum;
    acc = next;
    m = mNew;
    steps.push({ start, end, blockMax, m, correction, l, acc: acc.slice(), output: acc.map((a) => a / l) });
  }
  return { scores, steps };
}

/** Index of the largest entry (first one on ties). */
export function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
