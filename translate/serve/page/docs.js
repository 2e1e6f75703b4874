// The API's reference, drawn from /openapi.json by the package itself: FastAPI's own /docs page loads
// its scripts from a CDN, and this server must work offline.
"use strict";

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

function describeParameters(operation) {
  const list = element("ul");
  for (const p of operation.parameters || []) {
    const type = (p.schema && (p.schema.type || (p.schema.anyOf || []).map((s) => s.type).join(" | "))) || "";
    list.append(element("li", null, p.name + " (" + p.in + (p.required ? ", required" : "") + ") " + type));
  }
  return list;
}

async function show() {
  const schema = await (await fetch("/openapi.json")).json();
  const main = document.getElementById("endpoints");
  main.replaceChildren(element("p", null, (schema.info.description || "") + " Version " + schema.info.version + "."));
  for (const [path, methods] of Object.entries(schema.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const card = element("section", "card endpoint");
      card.append(element("h2", null, method.toUpperCase() + " " + path));
      if (operation.summary) card.append(element("p", null, operation.summary));
      if (operation.description) card.append(element("p", "muted", operation.description));
      if ((operation.parameters || []).length) card.append(describeParameters(operation));
      const answers = Object.entries(operation.responses || {}).map(([code, r]) => code + " " + (r.description || ""));
      card.append(element("p", "muted", "Answers: " + answers.join("; ")));
      main.append(card);
    }
  }
}

show().catch((error) => {
  document.getElementById("status").textContent = "Could not read /openapi.json: " + error.message;
});
