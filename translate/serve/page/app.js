// The page of `translate serve`: pick a model, drop images, compare input and result, download.
// Plain script, no libraries: it must work offline. Talks to the same API as any client (/v1).
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], token: localStorage.getItem("translate-token") || "" };
const EXTENSIONS = { png: "png", jpeg: "jpg", webp: "webp" };

function headers(extra) {
  const all = Object.assign({}, extra || {});
  if (state.token) all.Authorization = "Bearer " + state.token;
  return all;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch (e) {
    return response.status + " " + response.statusText;
  }
}

async function loadModels() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (response.status === 401) {
    $("token-label").hidden = false;
    setStatus("This server needs a token: enter it above.", true);
    return;
  }
  if (!response.ok) {
    setStatus("Could not list the models: " + (await errorText(response)), true);
    return;
  }
  const body = await response.json();
  state.models = body.models;
  state.limits = body.limits;
  $("token-label").hidden = !body.auth;
  const select = $("model");
  select.replaceChildren(...state.models.map((m) => new Option(m.name + " (" + m.kind + ")", m.name)));
  showCard();
  setStatus(state.models.length + " model(s) ready.");
}

function currentModel() {
  return state.models.find((m) => m.name === $("model").value);
}

function showCard() {
  const model = currentModel();
  if (!model) return;
  const rows = [
    ["kind", model.kind === "upscale" ? "super-resolution x" + model.scale : "image-to-image translation"],
    ["method", model.method],
    ["direction", model.direction],
    ["architecture", model.architecture],
    ["trained at", model.trained_size ? model.trained_size + " px" : null],
    ["image sizes", model.sizes],
    ["best metric", model.best_metric ? model.best_metric.name + " " + Number(model.best_metric.value).toPrecision(4) +
      (model.best_metric.step != null ? " (step " + model.best_metric.step + ")" : "") : null],
    ["source", model.source],
    ["runs on", model.device + ", " + model.precision],
  ];
  const list = document.createElement("dl");
  for (const [label, value] of rows) {
    if (value == null || value === "") continue;
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = label;
    dd.textContent = value;
    list.append(dt, dd);
  }
  $("card").replaceChildren(list);
}

function resultElement(file) {
  const node = $("result-template").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = file.name || "image";
  const url = URL.createObjectURL(file);
  node.querySelector(".input").src = url;
  node.querySelector(".before").src = url;
  const slider = node.querySelector(".slider");
  const clip = node.querySelector(".after-clip");
  slider.addEventListener("input", () => { clip.style.clipPath = "inset(0 0 0 " + slider.value + "%)"; });
  $("results").prepend(node);
  return node;
}

async function translateFile(file, model, format) {
  const node = resultElement(file);
  node.dataset.state = "running";
  const started = performance.now();
  try {
    const response = await fetch(
      "/v1/models/" + encodeURIComponent(model.name) + "/translate?format=" + format,
      { method: "POST", body: file, headers: headers({ "Content-Type": file.type || "application/octet-stream" }) },
    );
    if (!response.ok) throw new Error(await errorText(response));
    const blob = await response.blob();
    const seconds = (performance.now() - started) / 1000;
    const url = URL.createObjectURL(blob);
    node.querySelector(".output").src = url;
    node.querySelector(".after").src = url;
    const link = node.querySelector(".download");
    const stem = (file.name || "image").replace(/\.[^.]*$/, "");
    link.href = url;
    link.download = stem + "-" + model.name + "." + EXTENSIONS[format];
    const compute = response.headers.get("X-Compute-Ms");
    const batch = response.headers.get("X-Batch-Size");
    node.querySelector(".time").textContent = seconds.toFixed(2) + " s" +
      (compute ? " (model " + compute + " ms" + (batch && batch !== "1" ? ", batch of " + batch : "") + ")" : "");
    node.dataset.state = "done";
  } catch (error) {
    node.querySelector(".time").textContent = "failed: " + error.message;
    node.querySelector(".time").className = "time error";
    node.dataset.state = "error";
  }
}

async function translateFiles(files) {
  const model = currentModel();
  if (!model) { setStatus("No model to run.", true); return; }
  const images = Array.from(files);
  if (!images.length) return;
  setStatus("Running " + images.length + " image(s) through " + model.name + "...");
  const format = $("format").value;
  await Promise.all(images.map((file) => translateFile(file, model, format)));
  setStatus("Done: " + images.length + " image(s).");
}

function wireUp() {
  $("model").addEventListener("change", showCard);
  $("files").addEventListener("change", (event) => { translateFiles(event.target.files); event.target.value = ""; });
  $("token").value = state.token;
  $("token").addEventListener("change", () => {
    state.token = $("token").value.trim();
    localStorage.setItem("translate-token", state.token);
    loadModels();
  });
  const drop = $("drop");
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => translateFiles(event.dataTransfer.files));
}

wireUp();
loadModels().catch((error) => setStatus("Could not reach the server: " + error.message, true));
