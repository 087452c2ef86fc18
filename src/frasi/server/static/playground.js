// The frasi playground: plain JavaScript over the server's own endpoints (no libraries, no network beyond it).
"use strict";

const $ = (id) => document.getElementById(id);
const LOW = [247, 251, 255];   // colour of the lowest similarity shown
const HIGH = [8, 48, 107];     // colour of 1.0
const LABEL_ORDER = ["negative", "neutral", "positive"];

function keyHeaders() {
  const key = $("key").value.trim();
  sessionStorage.setItem("frasi-key", key);
  return key ? { Authorization: "Bearer " + key } : {};
}

async function api(path, body) {
  const options = body === undefined
    ? { headers: keyHeaders() }
    : { method: "POST", headers: { "Content-Type": "application/json", ...keyHeaders() }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (payload.error && payload.error.message) || response.statusText;
    throw new Error(response.status + ": " + message);
  }
  return payload;
}

function texts() {
  return $("texts").value.split("\n").map((t) => t.trim()).filter((t) => t.length > 0);
}

function showError(error) {
  const box = $("error");
  if (error) {
    box.textContent = String(error.message || error);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

function short(text, n) {
  return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "style") Object.assign(node.style, value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function colour(value, low) {
  const t = low >= 1 ? 1 : Math.min(1, Math.max(0, (value - low) / (1 - low)));
  const rgb = LOW.map((c, i) => Math.round(c + (HIGH[i] - c) * t));
  return { css: "rgb(" + rgb.join(", ") + ")", dark: t > 0.5 };
}

// ---------------------------------------------------------------- similarity heatmap

async function runSimilarity() {
  const items = texts();
  const result = await api("/similarity", { sentences: items, model: $("model").value || undefined });
  const matrix = result.matrix;
  let low = 1;
  matrix.forEach((row) => row.forEach((v) => { low = Math.min(low, v); }));
  const table = el("table", { id: "heatmap-table" });
  const head = el("tr", {}, el("th", {}));
  items.forEach((_, j) => head.append(el("th", {}, String(j + 1))));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  matrix.forEach((row, i) => {
    const tr = el("tr", {}, el("th", { title: items[i] }, (i + 1) + ". " + short(items[i], 28)));
    row.forEach((v, j) => {
      const c = colour(v, low);
      tr.append(el("td", {
        class: "cell", "data-row": String(i), "data-col": String(j), "data-value": v.toFixed(4),
        title: items[i] + "\n" + items[j] + "\ncosine " + v.toFixed(4),
        style: { background: c.css, color: c.dark ? "#fff" : "#1d2433" },
      }, v.toFixed(2)));
    });
    body.append(tr);
  });
  table.append(body);
  const legend = el("div", { class: "legend" }, low.toFixed(2), el("span", { class: "bar" }), "1.00",
                    " \u00b7 " + result.model + ", " + result.usage.total_tokens + " tokens");
  $("heatmap").replaceChildren(table, legend);
}

// ---------------------------------------------------------------- search

async function runSearch() {
  const body = { query: $("query").value, documents: texts(), return_documents: true };
  if ($("ranker").value) body.model = $("ranker").value;
  const result = await api("/rerank", body);
  const top = result.results.length ? result.results[0].relevance_score : 1;
  const bottom = result.results.length ? result.results[result.results.length - 1].relevance_score : 0;
  const span = top - bottom || 1;
  $("results").replaceChildren(...result.results.map((r) => el("li", { "data-index": String(r.index) },
    el("span", { class: "score" }, r.relevance_score.toFixed(4)),
    el("span", { class: "track" }, el("span", { class: "fill", style: {
      display: "block", width: (20 + 80 * (r.relevance_score - bottom) / span).toFixed(1) + "%" } })),
    r.document)));
}

// ---------------------------------------------------------------- sentiment bars

async function runSentiment() {
  const items = texts();
  const result = await api("/sentiment", { input: items });
  const blocks = result.data.map((prediction, i) => {
    const block = el("div", { class: "item", "data-label": prediction.label },
      el("div", { class: "text" }, el("span", { class: "label" }, prediction.label), " \u2014 " + items[i]));
    const bars = el("div", { class: "bars" });
    const labels = Object.keys(prediction.scores || {}).sort(
      (a, b) => (LABEL_ORDER.indexOf(a) + 99) % 99 - (LABEL_ORDER.indexOf(b) + 99) % 99);
    for (const label of labels) {
      const p = prediction.scores[label];
      bars.append(el("span", {}, label),
        el("span", { class: "track " + label }, el("span", { class: "fill", style: {
          display: "block", width: (100 * p).toFixed(1) + "%" } })),
        el("span", {}, (100 * p).toFixed(0) + "%"));
    }
    block.append(bars);
    return block;
  });
  $("sentiment").replaceChildren(...blocks);
}

// ---------------------------------------------------------------- tokens

const SPECIAL = /^(\[[A-Z]+\]|<\/?s>|<pad>|<unk>|<mask>)$/;

async function runTokens() {
  const items = texts();
  const result = await api("/tokenize", { input: items, model: $("model").value || undefined });
  $("tokens").replaceChildren(...result.data.map((info) => {
    const chips = info.tokens.map((token) =>
      el("span", { class: "chip" + (SPECIAL.test(token) ? " special" : "") }, token));
    const note = info.n_tokens + " tokens" + (info.truncated ? " (truncated to " + info.max_length + ")" : "")
      + (info.prompt ? ", prompt \u201c" + info.prompt + "\u201d" : "");
    return el("div", { class: "item" }, el("div", { class: "text" }, short(info.text, 80) + " \u2014 " + note),
              el("div", {}, ...chips));
  }));
}

// ---------------------------------------------------------------- wiring

function action(run) {
  return async () => {
    const buttons = document.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    showError(null);
    try {
      await run();
    } catch (error) {
      showError(error);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  };
}

async function loadModels() {
  const result = await api("/v1/models");
  const embedding = result.data.filter((m) => m.kind === "embedding");
  const rankers = result.data.filter((m) => m.kind === "cross-encoder").concat(embedding);
  $("model").replaceChildren(...embedding.map((m) => el("option", { value: m.id }, m.id)));
  $("ranker").replaceChildren(...rankers.map((m) => el("option", { value: m.id }, m.id + " (" + m.kind + ")")));
  const hasSentiment = result.data.some((m) => m.kind === "sentiment");
  $("run-sentiment").hidden = !hasSentiment;
  return { hasSentiment };
}

async function start() {
  $("key").value = sessionStorage.getItem("frasi-key") || "";
  const status = $("status");
  for (;;) {
    const response = await fetch("/health").catch(() => null);
    if (response && response.ok) break;
    status.textContent = "loading models\u2026";
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  let served = { hasSentiment: false };
  try {
    served = await loadModels();
    status.textContent = "ready";
  } catch (error) {
    status.textContent = "ready (enter the API key)";
    showError(error);
  }
  $("run-similarity").onclick = action(runSimilarity);
  $("run-search").onclick = action(runSearch);
  $("run-sentiment").onclick = action(runSentiment);
  $("run-tokens").onclick = action(runTokens);
  $("run-all").onclick = action(async () => {
    if ($("model").options.length === 0) served = await loadModels();
    await runSimilarity();
    await runSearch();
    if (served.hasSentiment) await runSentiment();
    await runTokens();
  });
  // not an action: a change fires as focus leaves the field, often on the way to a button's click
  $("key").onchange = () => loadModels().then((found) => {
    served = found;
    status.textContent = "ready";
    showError(null);
  }).catch(showError);
  document.body.dataset.ready = "true";
}

start();
