// recheckbot dashboard: sort and filter the server-rendered bug rows. No dependencies.
// The filter state lives in the URL hash (#job=grenade&sort=fails), so views can be linked.
"use strict";
(function () {
  const list = document.getElementById("bugs");
  const form = document.getElementById("controls");
  if (!list || !form) return;
  const rows = Array.from(list.querySelectorAll("li.bug"));
  const fields = ["q", "project", "job", "queue", "sort"];
  const control = (name) => form.elements.namedItem(name);

  function parse(row, key) {
    try { return JSON.parse(row.dataset[key] || "[]"); } catch (e) { return []; }
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const name of fields) {
      const el = control(name);
      if (el && params.has(name)) el.value = params.get(name);
    }
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const name of fields) {
      const el = control(name);
      if (el && el.value && !(name === "sort" && el.value === el.options[0].value)) params.set(name, el.value);
    }
    const hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function compare(key) {
    if (key === "impact") return (a, b) => Number(a.dataset.rank) - Number(b.dataset.rank);
    if (key === "id") return (a, b) => a.dataset.id.localeCompare(b.dataset.id, undefined, {numeric: true});
    const other = key === "fails" ? "fails24" : "fails";
    return (a, b) => (Number(b.dataset[key]) - Number(a.dataset[key])) ||
                     (Number(b.dataset[other]) - Number(a.dataset[other])) ||
                     a.dataset.id.localeCompare(b.dataset.id);
  }

  function apply() {
    const text = (control("q").value || "").trim().toLowerCase();
    const want = {project: control("project").value, job: control("job").value,
                  queue: control("queue") ? control("queue").value : ""};
    let shown = 0;
    for (const row of rows) {
      const ok = (!text || row.dataset.search.includes(text)) &&
        (!want.project || parse(row, "projects").includes(want.project)) &&
        (!want.job || parse(row, "jobs").includes(want.job)) &&
        (!want.queue || parse(row, "queues").includes(want.queue));
      row.hidden = !ok;
      if (ok) shown += 1;
      for (const chip of row.querySelectorAll("ul.jobs li")) {
        chip.classList.toggle("match", chip.dataset.job === want.job);
      }
    }
    rows.sort(compare(control("sort").value)).forEach((row) => list.appendChild(row));
    document.getElementById("count").textContent =
      shown === rows.length ? rows.length + " bugs" : shown + " of " + rows.length + " bugs";
    document.getElementById("none").hidden = shown > 0 || rows.length === 0;
    list.dataset.ready = "true";
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("input", () => { apply(); writeHash(); });
  form.addEventListener("change", () => { apply(); writeHash(); });
  window.addEventListener("hashchange", () => { readHash(); apply(); });
  readHash();
  apply();
})();
