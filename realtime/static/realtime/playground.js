// The admin's playground (realtime/playground.py): one WebSocket to
// /v1/realtime with the browser's own API, OpenAI's GA client events, every
// event shown, usage from `response.done` and the session's row.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const keys = JSON.parse($("pg-keys-data").textContent);
  const urls = JSON.parse($("pg-urls").textContent);
  const csrfToken = document.querySelector("[name=csrfmiddlewaretoken]").value;
  const USAGE = ["input_tokens", "output_tokens", "total_tokens"];

  let socket = null;
  let rowQuery = null; // {key_id, since}: which session row to poll
  let rowTimer = null;
  let reply = null; // the transcript line a response is streaming into
  let usage = {};

  const mode = () => document.querySelector("[name=pg-mode]:checked").value;
  const chosenKey = () => keys.find((key) => String(key.id) === $("pg-key").value);
  const setStatus = (text) => { $("pg-status").textContent = text; };

  function showKey() {
    const key = chosenKey();
    $("pg-models").replaceChildren(...(key ? key.models : []).map((model) => {
      const option = document.createElement("option");
      option.value = model;
      return option;
    }));
    $("pg-model").value = key ? key.model : "gpt-realtime";
  }

  function showMode() {
    $("pg-key-fields").hidden = mode() !== "key";
    $("pg-paste-fields").hidden = mode() !== "paste";
  }

  function setConnected(connected) {
    for (const id of ["pg-text", "pg-send", "pg-send-raw", "pg-stop"]) {
      $(id).disabled = !connected;
    }
    $("pg-start").disabled = connected;
  }

  function addLine(who, text) {
    const line = document.createElement("p");
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    const body = document.createElement("span");
    body.textContent = text;
    line.append(name, body);
    $("pg-transcript").append(line);
    $("pg-transcript").scrollTop = $("pg-transcript").scrollHeight;
    return body;
  }

  // One collapsible entry per event; returns the parsed event (or null).
  function logEvent(direction, text) {
    let event = null;
    let pretty = text;
    try {
      event = JSON.parse(text);
      pretty = JSON.stringify(event, null, 2);
    } catch (error) { /* not JSON: shown as it came */ }
    const entry = document.createElement("details");
    entry.className = direction === "→" ? "out" : "in";
    const summary = document.createElement("summary");
    const type = event && typeof event === "object" ? event.type : "(not JSON)";
    summary.textContent = `${direction} ${type || "(no type)"}`;
    const body = document.createElement("pre");
    body.textContent = pretty;
    entry.append(summary, body);
    $("pg-events").append(entry);
    $("pg-events").scrollTop = $("pg-events").scrollHeight;
    return event;
  }

  function showUsage() {
    for (const cell of document.querySelectorAll("[data-usage]")) {
      cell.textContent = usage[cell.dataset.usage] || 0;
    }
  }

  function handle(event) {
    if (!event) return;
    switch (event.type) {
      case "response.output_text.delta":
      case "response.output_audio_transcript.delta":
        if (!reply) reply = addLine("assistant", "");
        reply.textContent += event.delta;
        break;
      case "response.done": {
        reply = null;
        const reported = (event.response && event.response.usage) || {};
        usage.responses = (usage.responses || 0) + 1;
        for (const name of USAGE) usage[name] = (usage[name] || 0) + (reported[name] || 0);
        showUsage();
        pollRow();
        break;
      }
      case "error":
        addLine("error", (event.error && event.error.message) || "an error event");
        break;
    }
  }

  function send(event) {
    const text = JSON.stringify(event);
    socket.send(text);
    logEvent("→", text);
  }

  function sendText() {
    const text = $("pg-text").value.trim();
    if (!text || !socket) return;
    addLine("you", text);
    send({
      type: "conversation.item.create",
      item: { type: "message", role: "user", content: [{ type: "input_text", text }] },
    });
    send({ type: "response.create", response: { output_modalities: ["text"] } });
    $("pg-text").value = "";
  }

  function sendRaw() {
    let event;
    try {
      event = JSON.parse($("pg-raw").value);
    } catch (error) {
      setStatus(`Not JSON: ${error.message}`);
      return;
    }
    send(event);
  }

  async function pollRow() {
    if (!rowQuery) return null;
    const query = new URLSearchParams(rowQuery);
    const response = await fetch(`${urls.usage}?${query}`, { credentials: "same-origin" });
    if (!response.ok) return null;
    const row = (await response.json()).session;
    showRow(row);
    return row;
  }

  function showRow(row) {
    for (const cell of document.querySelectorAll("[data-row]")) {
      const value = row ? row[cell.dataset.row] : null;
      cell.textContent = value === null || value === undefined || value === "" ? "–" : value;
    }
  }

  // While open, every few seconds; after the close, until the row is final.
  function watchRow(final) {
    clearInterval(rowTimer);
    let tries = 0;
    rowTimer = setInterval(async () => {
      const row = await pollRow();
      if (final && ((row && row.ended_at) || ++tries > 20)) clearInterval(rowTimer);
    }, final ? 500 : 3000);
  }

  async function credential() {
    if (mode() === "paste") {
      rowQuery = null;
      const provider = $("pg-provider").value;
      return { secret: $("pg-pasted").value.trim(), model: $("pg-model").value.trim(),
               extra: provider ? [`x-portkey-provider.${provider}`] : [] };
    }
    const response = await fetch(urls.token, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken },
      body: JSON.stringify({ key: Number($("pg-key").value), model: $("pg-model").value.trim() }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
    }
    rowQuery = { key_id: body.key_id, since: body.since };
    const expires = new Date(body.expires_at * 1000).toLocaleTimeString();
    setStatus(`Token minted (expires ${expires}); connecting…`);
    return { secret: body.token, model: body.model, extra: [] };
  }

  async function start() {
    $("pg-start").disabled = true;
    let chosen;
    try {
      chosen = await credential();
    } catch (error) {
      setStatus(`Refused: ${error.message}`);
      $("pg-start").disabled = false;
      return;
    }
    if (!chosen.secret) {
      setStatus("Paste a key first.");
      $("pg-start").disabled = false;
      return;
    }
    usage = {};
    showUsage();
    showRow(null);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const query = chosen.model ? `?model=${encodeURIComponent(chosen.model)}` : "";
    socket = new WebSocket(`${scheme}//${location.host}/v1/realtime${query}`,
      ["realtime", `openai-insecure-api-key.${chosen.secret}`, ...chosen.extra]);
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      setStatus(`Connected (protocol ${socket.protocol}).`);
      setConnected(true);
      if (rowQuery) watchRow(false);
    };
    socket.onmessage = (message) => {
      if (typeof message.data !== "string") {
        logEvent("←", `(binary, ${message.data.byteLength} bytes)`);
        return;
      }
      handle(logEvent("←", message.data));
    };
    socket.onclose = (close) => {
      setStatus(`Closed (code ${close.code}).`);
      setConnected(false);
      socket = null;
      reply = null;
      if (rowQuery) watchRow(true);
    };
  }

  $("pg-key").addEventListener("change", showKey);
  for (const radio of document.querySelectorAll("[name=pg-mode]")) {
    radio.addEventListener("change", showMode);
  }
  $("pg-start").addEventListener("click", start);
  $("pg-stop").addEventListener("click", () => socket && socket.close(1000));
  $("pg-send").addEventListener("click", sendText);
  $("pg-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter") sendText();
  });
  $("pg-send-raw").addEventListener("click", sendRaw);
  showKey();
  showMode();
})();
