// botkit's chat page: talks to the OpenAI-compatible API of the server that serves it.
// No framework, no build step, no CDN. The conversation lives in this page (the API is stateless).
"use strict";

const state = { gpts: [], gpt: null, messages: [], controller: null, key: localStorage.getItem("botkit-key") || "" };
const $ = (id) => document.getElementById(id);

function headers(json) {
  const h = json ? { "content-type": "application/json" } : {};
  if (state.key) h.authorization = `Bearer ${state.key}`;
  return h;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// A small, safe Markdown renderer: the text is escaped first, then formatting is added.
function inline(text) {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
}

function markdown(text) {
  const out = [];
  const lines = text.split("\n");
  let list = null;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
    paragraph = [];
    if (list) out.push(`</${list}>`);
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      flush();
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      out.push(`<pre><code>${escapeHtml(code.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (heading) {
      flush();
      out.push(`<h${heading[1].length + 2}>${inline(heading[2])}</h${heading[1].length + 2}>`);
    } else if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (paragraph.length) { out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`); paragraph = []; }
      if (list !== kind) { if (list) out.push(`</${list}>`); out.push(`<${kind}>`); list = kind; }
      out.push(`<li>${inline((bullet || numbered)[1])}</li>`);
    } else if (!line.trim()) {
      flush();
    } else {
      if (list) { out.push(`</${list}>`); list = null; }
      paragraph.push(line);
    }
  }
  flush();
  return out.join("");
}

function status(text) { $("status").textContent = text || ""; }

async function loadGpts() {
  const response = await fetch("/v1/models", { headers: headers(false) });
  if (response.status === 401) {
    $("key-form").hidden = false;
    status("This server needs an API key: enter it on the left.");
    return;
  }
  if (!response.ok) { status(`Could not list the GPTs (${response.status}).`); return; }
  $("key-form").hidden = !state.key;
  state.gpts = (await response.json()).data;
  const nav = $("gpts");
  nav.replaceChildren();
  for (const gpt of state.gpts) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.gpt = gpt.id;
    button.innerHTML = `<span class="name">${escapeHtml(gpt.id)}</span><span class="description">${escapeHtml(gpt.description || "")}</span>`;
    button.addEventListener("click", () => choose(gpt.id));
    nav.append(button);
  }
  if (!state.gpts.length) { status("No GPT is available to you here."); return; }
  const wanted = new URLSearchParams(location.search).get("gpt");
  choose(state.gpts.some((g) => g.id === wanted) ? wanted : state.gpts[0].id);
}

function choose(name) {
  state.gpt = state.gpts.find((g) => g.id === name);
  for (const b of $("gpts").children) b.classList.toggle("selected", b.dataset.gpt === name);
  $("gpt-name").textContent = state.gpt.id;
  $("gpt-description").textContent = state.gpt.description || "";
  newChat();
}

function newChat() {
  if (state.controller) state.controller.abort();
  state.messages = [];
  $("messages").replaceChildren();
  showStarters();
  status("");
}

function showStarters() {
  const box = $("starters");
  box.replaceChildren();
  if (!state.gpt || state.messages.length) return;
  for (const starter of state.gpt.starters || []) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "starter";
    button.textContent = starter;
    button.addEventListener("click", () => send(starter));
    box.append(button);
  }
}

function addMessage(role, text) {
  const item = document.createElement("article");
  item.className = `message ${role}`;
  item.innerHTML = `<div class="who">${role === "user" ? "You" : escapeHtml(state.gpt.id)}</div><div class="body"></div>`;
  item.querySelector(".body").textContent = text;
  $("messages").append(item);
  $("messages").scrollTop = $("messages").scrollHeight;
  return item;
}

function showExtras(item, extras) {
  if (!extras) return;
  if (extras.result && extras.result.fields) {
    const table = document.createElement("table");
    table.className = "result";
    for (const [name, value] of extras.result.fields) {
      const row = table.insertRow();
      row.innerHTML = `<th>${escapeHtml(name)}</th><td>${escapeHtml(String(value))}</td>`;
    }
    item.append(table);
  }
  if (extras.citations && extras.citations.length) {
    const list = document.createElement("ol");
    list.className = "sources";
    for (const c of extras.citations) {
      const li = document.createElement("li");
      li.value = c.number;
      li.textContent = [c.source, c.title].filter(Boolean).join(" > ") + (c.page ? ` (p. ${c.page})` : "");
      li.title = c.snippet || "";
      list.append(li);
    }
    item.append(list);
  }
}

function showFeedback(item, requestId) {
  const box = document.createElement("div");
  box.className = "feedback";
  for (const [rating, label, title] of [["up", "👍", "Good answer"], ["down", "👎", "Bad answer"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = label;
    button.title = title;
    button.setAttribute("aria-label", title);
    button.setAttribute("aria-pressed", "false");
    button.addEventListener("click", async () => {
      const correction = rating === "down" ? (prompt("What should the answer have been? (optional)") || "") : "";
      const response = await fetch("/v1/feedback", {
        method: "POST",
        headers: headers(true),
        body: JSON.stringify({ request_id: requestId, rating, correction }),
      });
      if (response.ok) {
        for (const b of box.children) b.setAttribute("aria-pressed", String(b === button));
        status("thanks for the feedback");
      } else {
        status("could not store the feedback");
      }
    });
    box.append(button);
  }
  item.append(box);
}

function busy(on) {
  $("send").hidden = on;
  $("stop").hidden = !on;
  $("input").disabled = on;
}

async function send(text) {
  text = text.trim();
  if (!text || !state.gpt || state.controller) return;
  $("starters").replaceChildren();
  addMessage("user", text);
  state.messages.push({ role: "user", content: text });
  const item = addMessage("assistant", "");
  const body = item.querySelector(".body");
  let answer = "";
  let extras = null;
  state.controller = new AbortController();
  busy(true);
  status("thinking…");
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: headers(true),
      body: JSON.stringify({ model: state.gpt.id, messages: state.messages, stream: true }),
      signal: state.controller.signal,
    });
    if (!response.ok) {
      const error = await response.json().catch(() => ({}));
      throw new Error((error.error && error.error.message) || `the server answered ${response.status}`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let done = false;
    while (!done) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end).trim();
        buffer = buffer.slice(end + 2);
        if (!event.startsWith("data:")) continue;
        const data = event.slice(5).trim();
        if (data === "[DONE]") { done = true; break; }
        const parsed = JSON.parse(data);
        if (parsed.error) throw new Error(parsed.error.message);
        if (parsed.botkit) extras = parsed.botkit;
        const delta = parsed.choices && parsed.choices[0] && parsed.choices[0].delta;
        if (delta && delta.content) {
          answer += delta.content;
          body.innerHTML = markdown(answer);
          status("");
          $("messages").scrollTop = $("messages").scrollHeight;
        }
      }
    }
    if (!done) throw new Error("the answer was cut off");
    body.innerHTML = markdown(answer);
    showExtras(item, extras);
    if (extras && extras.request_id) showFeedback(item, extras.request_id);
    state.messages.push({ role: "assistant", content: answer });
    status("");
  } catch (error) {
    if (error.name === "AbortError") {
      body.innerHTML = markdown(answer) + '<p class="stopped"><em>[stopped]</em></p>';
      if (answer) state.messages.push({ role: "assistant", content: answer });
      status("stopped");
    } else {
      item.classList.add("failed");
      body.innerHTML = markdown(answer) + `<p>⚠ ${escapeHtml(error.message)}</p>`;
      status("");
      state.messages.pop();
    }
  } finally {
    state.controller = null;
    busy(false);
    $("input").focus();
  }
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
$("new-chat").addEventListener("click", newChat);
$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = $("key").value.trim();
  localStorage.setItem("botkit-key", state.key);
  loadGpts();
});
loadGpts();
