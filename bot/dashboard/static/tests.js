// recheckbot Tests page: filter the server-rendered test rows by job, project and flakiness.
// As on the list page, the filters live in the URL hash (#job=grenade&flaky=1) and only there:
// a hash that does not name a filter clears it, so a view can be linked.
"use strict";
(function () {
  const list = document.getElementById("tests");
  const form = document.getElementById("test-controls");
  if (!list || !form) return;
  const rows = Array.from(list.querySelectorAll("li.test"));
  const control = (name) => form.elements.namedItem(name);

  function names(row, key) {
    try { return JSON.parse(row.dataset[key] || "[]"); } catch (e) { return []; }
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const name of ["job", "project"]) {
      const el = control(name);
      el.value = params.get(name) || "";
      if (el.selectedIndex < 0) el.selectedIndex = 0;  // no option of this page: "all"
    }
    control("flaky").checked = params.get("flaky") === "1";
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const name of ["job", "project"]) {
      if (control(name).value) params.set(name, control(name).value);
    }
    if (control("flaky").checked) params.set("flaky", "1");
    const hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
  }

  function apply() {
    const job = control("job").value;
    const project = control("project").value;
    const flaky = control("flaky").checked;
    let shown = 0;
    for (const row of rows) {
      const keep = (!job || names(row, "jobs").includes(job)) &&
        (!project || names(row, "projects").includes(project)) &&
        (!flaky || row.dataset.flaky === "1");
      row.hidden = !keep;
      shown += keep ? 1 : 0;
      for (const chip of row.querySelectorAll("ul.jobs li")) {
        const named = chip.dataset.job || chip.dataset.project;
        chip.classList.toggle("match", named === job || named === project);
      }
    }
    document.getElementById("count").textContent =
      shown === rows.length ? rows.length + " tests" : shown + " of " + rows.length + " tests";
    document.getElementById("none").hidden = shown > 0 || rows.length === 0;
    list.dataset.hash = location.hash;  // the view drawn (tests wait for it)
    list.dataset.ready = "true";
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("change", () => { writeHash(); apply(); });
  window.addEventListener("hashchange", () => { readHash(); apply(); });
  readHash();
  apply();
})();
