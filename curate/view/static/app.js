// curate view: the table, its filters and the row view. Plain DOM, no framework, no build step.
// Every value from the data is set with textContent; only the `html` fields the server built
// (escaped text, Pygments blocks, <mark> spans) are set as markup.
"use strict";

window.MathJax = {
  tex: { inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]],
         processEscapes: true },
  options: { skipHtmlTags: ["script", "noscript", "style", "textarea", "pre", "code"] },
  svg: { fontCache: "global" },
  startup: {
    typeset: false,
    ready() { MathJax.startup.defaultReady(); document.dispatchEvent(new Event("mathjax-ready")); },
  },
};

const state = { table: "", offset: 0, limit: 50, sort: "", desc: false, q: "", filters: {}, total: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

async function api(endpoint, params) {
  const url = new URL("/api/" + endpoint, location.origin);
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== undefined) url.searchParams.set(k, v);
  const response = await fetch(url, { credentials: "same-origin" });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function typeset(node) {
  if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([node]).catch(() => {});
  else document.addEventListener("mathjax-ready", () => typeset(node), { once: true });
}

async function start() {
  const wanted = new URLSearchParams(location.search);  // deep links: ?table=NAME&trace=TRACE_ID
  history.replaceState(null, "", "/");  // the token lives in the cookie now; keep it out of the history
  const info = await api("tables");
  $("root").textContent = info.root;
  for (const t of info.tables) {
    const option = el("option", `${t.name} (${t.rows.toLocaleString()} rows)`);
    option.value = t.name;
    $("table").append(option);
  }
  const names = info.tables.map((t) => t.name);
  state.table = names.includes(wanted.get("table")) ? wanted.get("table") : names[0];
  $("table").value = state.table;
  if (wanted.get("trace")) state.filters.trace_id = wanted.get("trace");
  $("table").addEventListener("change", () => { state.table = $("table").value; resetFilters(); load(); });
  $("search").addEventListener("change", () => { state.q = $("search").value; state.offset = 0; load(); });
  $("clear").addEventListener("click", () => { resetFilters(); load(); });
  $("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  $("next").addEventListener("click", () => {
    if (state.offset + state.limit < state.total) { state.offset += state.limit; load(); }
  });
  await load();
  const first = $("rows").tBodies[0].rows[0];
  if (wanted.get("trace") && first) first.click();
}

function resetFilters() {
  Object.assign(state, { offset: 0, sort: "", desc: false, q: "", filters: {} });
  $("search").value = "";
  $("heads").replaceChildren();
}

async function load() {
  $("status").textContent = "loading…";
  const params = { table: state.table, offset: state.offset, limit: state.limit, q: state.q,
                   sort: state.sort, desc: state.desc ? "1" : "" };
  for (const [k, v] of Object.entries(state.filters)) params["f." + k] = v;
  const started = performance.now();
  let page;
  try {
    page = await api("rows", params);
  } catch (error) {
    $("status").textContent = error.message;
    $("status").className = "error";
    return;
  }
  $("status").className = "";
  $("status").textContent = `${page.total.toLocaleString()} rows · ${Math.round(performance.now() - started)} ms`;
  state.total = page.total;
  if (!$("heads").children.length) buildHeads(page.columns);
  fillRows(page);
  const last = Math.min(page.offset + page.rows.length, page.total);
  $("range").textContent = page.total ? `${page.offset + 1}–${last} of ${page.total.toLocaleString()}` : "no rows";
  document.body.dataset.loaded = String(Date.now());
}

function buildHeads(columns) {
  const heads = $("heads"), filters = $("filters");
  filters.replaceChildren();
  for (const name of ["problem", ...columns]) {
    const th = el("th", name);
    th.dataset.column = name;
    if (name !== "problem") th.addEventListener("click", () => sortBy(name, th));
    heads.append(th);
    const cell = el("th");
    if (name !== "problem") {
      const input = el("input");
      input.dataset.column = name;
      input.setAttribute("list", "values-" + name);
      input.placeholder = "filter";
      input.value = state.filters[name] || "";
      const options = el("datalist");
      options.id = "values-" + name;
      input.addEventListener("focus", () => fillValues(name, options), { once: true });
      input.addEventListener("change", () => {
        if (input.value) state.filters[name] = input.value; else delete state.filters[name];
        state.offset = 0;
        load();
      });
      cell.append(input, options);
    }
    filters.append(cell);
  }
}

async function fillValues(name, datalist) {
  try {
    for (const v of await api("values", { table: state.table, column: name })) {
      const option = el("option");
      option.value = v.value === null ? "null" : String(v.value);
      option.label = `${option.value} (${v.count})`;
      datalist.append(option);
    }
  } catch (error) { /* a column without a value list: free text only */ }
}

function sortBy(name, th) {
  state.desc = state.sort === name ? !state.desc : false;
  state.sort = name;
  for (const h of $("heads").children) h.classList.remove("sorted", "desc");
  th.classList.add("sorted");
  if (state.desc) th.classList.add("desc");
  state.offset = 0;
  load();
}

function cellValue(name, value) {
  const td = el("td");
  if (name === "verdict" && value) td.append(el("span", value, "badge " + value));
  else if (name === "pass_rate" && typeof value === "number") td.textContent = value.toFixed(2);
  else if (name === "dup_of") td.textContent = value ? "dup" : "";
  else if (name === "contaminated") td.textContent = value ? `${value} hit${value > 1 ? "s" : ""}` : "";
  else td.textContent = value === null || value === undefined ? "" : String(value);
  td.title = td.textContent;
  return td;
}

function fillRows(page) {
  const body = $("rows").tBodies[0];
  body.replaceChildren();
  for (const row of page.rows) {
    const tr = el("tr");
    tr.dataset.row = row._row;
    tr.append(cellValue("problem", row.problem));
    for (const name of page.columns) tr.append(cellValue(name, row[name]));
    tr.addEventListener("click", () => {
      for (const other of body.children) other.classList.remove("open");
      tr.classList.add("open");
      openRow(row._row);
    });
    body.append(tr);
  }
}

function section(title) {
  const box = el("section");
  box.append(el("h3", title));
  return box;
}

function textBlock(html, field) {
  const div = el("div", null, "text");
  div.dataset.field = field;
  div.innerHTML = html;  // built by the server from escaped text (curate/view/render.py)
  return div;
}

async function openRow(row) {
  const pane = $("detail");
  pane.hidden = false;
  pane.replaceChildren(el("p", "loading…"));
  let d;
  try {
    d = await api("row", { table: state.table, row });
  } catch (error) {
    pane.replaceChildren(el("p", error.message, "error"));
    return;
  }
  pane.replaceChildren();
  pane.dataset.row = row;
  pane.append(fieldsList(d.fields));
  const known = ["problem", "reasoning", "answer", "reference", "system"];
  const texts = [...known.filter((f) => f in d.html), ...Object.keys(d.html).filter((f) => !known.includes(f))];
  for (const field of texts) {
    const length = d.lengths[field].toLocaleString();
    const long = field === "reasoning" || (!known.includes(field) && d.lengths[field] > 2000);
    if (long) pane.append(collapsible(`${field} (${length} characters)`, d.html[field], field));
    else { const box = section(field); box.append(textBlock(d.html[field], field)); pane.append(box); }
  }
  if (d.messages) pane.append(messages(d.messages));
  for (const [name, value] of Object.entries(d.json)) {
    const box = section(name === "verify_detail" ? "checker detail (verify_detail)" : name);
    if (name === "verify_detail" && value && value.reason) {
      const extracted = value.extracted !== undefined ? ` · extracted: ${value.extracted}` : "";
      box.append(el("p", `${value.verifier || "checker"}: ${value.reason}${extracted}`, "verdict-reason"));
    }
    box.append(el("pre", JSON.stringify(value, null, 2), "json"));
    box.dataset.field = name;
    pane.append(box);
  }
  if (d.hits.length) pane.append(hits(d.hits));
  if (d.siblings.length) pane.append(siblings(d.siblings, "other samples of this problem"));
  if (d.cluster.length) pane.append(siblings(d.cluster, "dedup cluster"));
  if (d.fields.trace_id) pane.append(traceButton(d.fields.trace_id));
  typeset(pane);
}

function fieldsList(fields) {
  const dl = el("dl");
  for (const [k, v] of Object.entries(fields)) {
    if (v === null || v === undefined || (Array.isArray(v) && !v.length)) continue;
    dl.append(el("dt", k));
    const dd = el("dd");
    if (k === "verdict") dd.append(el("span", v, "badge " + v)); else dd.textContent = Array.isArray(v) ? v.join(", ") : v;
    dl.append(dd);
  }
  return dl;
}

function collapsible(title, html, field) {
  const details = el("details");
  details.dataset.field = field;
  details.append(el("summary", title));
  // Long reasoning is put into the page only when opened, and typeset then.
  details.addEventListener("toggle", () => {
    if (details.open && details.children.length === 1) {
      const block = textBlock(html, field);
      details.append(block);
      typeset(block);
    }
  });
  return details;
}

function messages(turns) {
  const box = section("messages");
  for (const turn of turns) { box.append(el("h4", turn.role)); box.append(textBlock(turn.html, "message")); }
  return box;
}

function hits(list) {
  const box = section("benchmark hits");
  for (const hit of list) {
    box.append(el("p", `${hit.benchmark}:${hit.item_id} — matched in ${hit.field} (${hit.kind}, share ${hit.share})`));
    box.append(textBlock(hit.item_html, "benchmark-item"));
  }
  return box;
}

function siblings(rows, title) {
  const box = section(title);
  const strip = el("div", null, "siblings");
  for (const r of rows) {
    const card = el("div");
    card.append(el("span", r.verdict || "", "badge " + (r.verdict || "")));
    card.append(el("span", ` sample ${r.sample_idx ?? "?"} · ${r.completion_tokens ?? "?"} tokens `));
    const link = el("a", "open");
    link.href = "#";
    link.addEventListener("click", (e) => { e.preventDefault(); openRow(r._row); });
    card.append(link);
    if (r.answer_html !== undefined) card.append(textBlock(r.answer_html, "sibling-answer"));
    else if (r.id) card.append(el("div", r.id));
    strip.append(card);
  }
  box.append(strip);
  return box;
}

function traceButton(traceId) {
  const box = section("through the run");
  const button = el("button", `follow trace ${traceId}`);
  button.type = "button";
  const list = el("ol", null, "trace");
  button.addEventListener("click", async () => {
    list.replaceChildren(el("li", "searching every stage…"));
    const steps = await api("trace", { trace_id: traceId });
    list.replaceChildren();
    for (const s of steps) {
      const why = s.status === "dropped" ? ` — ${s.reject_reason || ""}` : (s.verdict ? ` — verdict ${s.verdict}` : "");
      list.append(el("li", `${s.stage}: ${s.status}${why}`, s.status));
    }
    if (!steps.length) list.append(el("li", "not found in any stage folder"));
  });
  box.append(button, list);
  return box;
}

document.addEventListener("DOMContentLoaded", () => { start().catch((e) => { $("status").textContent = e.message; }); });
