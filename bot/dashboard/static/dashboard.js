// recheckbot dashboard: sort and filter the server-rendered bug rows. No dependencies.
// The filter state lives in the URL hash (#job=grenade&sort=fails) and only there: a hash
// that does not name a filter clears it, so views can be linked and moved between.
// With a job filter, each card shows that job's numbers and chart (data-job-figures:
// {job: [fails, fails24, [failed builds per day]]}), and every card shown shares one scale.
"use strict";
(function () {
  const list = document.getElementById("bugs");
  const form = document.getElementById("controls");
  if (!list || !form) return;
  const rows = Array.from(list.querySelectorAll("li.bug"));
  const fields = ["q", "project", "job", "queue", "sort"];
  const windowDays = list.dataset.windowDays;
  const control = (name) => form.elements.namedItem(name);

  function parse(row, key, empty) {
    try { return JSON.parse(row.dataset[key] || empty); } catch (e) { return JSON.parse(empty); }
  }

  function defaultValue(el) {
    return el.tagName === "SELECT" ? el.options[0].value : "";
  }

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const name of fields) {
      const el = control(name);
      if (!el) continue;
      const wanted = params.has(name) ? params.get(name) : defaultValue(el);
      el.value = wanted;
      if (el.value !== wanted) el.value = defaultValue(el);  // not an option of this page
    }
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const name of fields) {
      const el = control(name);
      if (el && el.value && el.value !== defaultValue(el)) params.set(name, el.value);
    }
    const hash = params.toString();
    history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    list.dataset.hash = location.hash;
  }

  // What a card shows: the bug's own numbers, or one job's.
  function figures(row, job) {
    if (job) {
      const found = parse(row, "jobFigures", "{}")[job];
      if (found) return {fails: found[0], fails24: found[1], days: found[2]};
      return {fails: 0, fails24: 0, days: []};
    }
    return {fails: Number(row.dataset.fails), fails24: Number(row.dataset.fails24),
            days: parse(row, "days", "[]")};
  }

  // The same rounding as nice_top in bot/dashboard/svg.py.
  const NICE_TOPS = [1, 1.5, 2, 3, 4, 5, 6, 8, 10];
  function niceTop(peak) {
    if (peak <= 1) return 1;
    const magnitude = Math.pow(10, Math.floor(Math.log10(peak)));
    for (const factor of NICE_TOPS) {
      const top = factor * magnitude;
      if (top >= peak && Number.isInteger(top)) return top;
    }
    return 10 * magnitude;
  }

  function barHeight(count, top, height) {
    if (count <= 0) return 0;
    return Math.round(Math.max(1, count * height / Math.max(1, top)) * 10) / 10;
  }

  function draw(row, days, top) {
    const svg = row.querySelector("div.tchart svg.plot");
    if (!svg) return;
    const base = Number(svg.querySelector("line.axis").getAttribute("y1")) - 0.5;
    const height = base - 12;  // svg.py's SMALL_PAD above the plot
    for (const bar of svg.querySelectorAll("rect.bar")) {
      const n = days[Number(bar.dataset.i)] || 0;
      const h = barHeight(n, top, height);
      bar.setAttribute("height", h);
      bar.setAttribute("y", Math.round((base - h) * 10) / 10);
      const title = bar.querySelector("title");
      if (title) title.textContent = title.textContent.replace(/: \d+ failed$/, ": " + n + " failed");
    }
    for (const label of svg.querySelectorAll("text.val")) {
      const n = days[Number(label.dataset.i)] || 0;
      label.textContent = n ? String(n) : "";
      label.setAttribute("y", Math.round((base - barHeight(n, top, height) - 3) * 10) / 10);
    }
    const topLabel = row.querySelector("text.y-top");
    if (topLabel) topLabel.textContent = String(top);
  }

  function compare(key) {
    if (key === "impact") return (a, b) => Number(a.dataset.rank) - Number(b.dataset.rank);
    if (key === "id") return (a, b) => a.dataset.id.localeCompare(b.dataset.id, undefined, {numeric: true});
    const other = key === "fails" ? "shownFails24" : "shownFails";
    const own = key === "fails" ? "shownFails" : "shownFails24";
    return (a, b) => (Number(b.dataset[own]) - Number(a.dataset[own])) ||
                     (Number(b.dataset[other]) - Number(a.dataset[other])) ||
                     a.dataset.id.localeCompare(b.dataset.id);
  }

  function matches(row, text, want) {
    return (!text || row.dataset.search.includes(text)) &&
      (!want.project || parse(row, "projects", "[]").includes(want.project)) &&
      (!want.job || parse(row, "jobs", "[]").includes(want.job)) &&
      (!want.queue || parse(row, "queues", "[]").includes(want.queue));
  }

  function apply() {
    const text = (control("q").value || "").trim().toLowerCase();
    const want = {project: control("project").value, job: control("job").value,
                  queue: control("queue") ? control("queue").value : ""};
    const shown = rows.filter((row) => matches(row, text, want));
    const seen = new Map(rows.map((row) => [row, figures(row, want.job)]));
    const peaks = shown.map((row) => Math.max(0, ...seen.get(row).days));
    const top = niceTop(Math.max(0, ...peaks));  // one scale for every card shown
    for (const row of rows) {
      const f = seen.get(row);
      row.hidden = !shown.includes(row);
      row.dataset.shownFails = f.fails;
      row.dataset.shownFails24 = f.fails24;
      row.querySelector(".numbers .fails24").textContent = f.fails24;
      row.querySelector(".numbers .fails").textContent = f.fails + " in " + windowDays + " d";
      draw(row, f.days, top);
      for (const chip of row.querySelectorAll("ul.jobs li")) {
        chip.classList.toggle("match", chip.dataset.job === want.job);
      }
    }
    rows.sort(compare(control("sort").value)).forEach((row) => list.appendChild(row));
    document.getElementById("count").textContent =
      shown.length === rows.length ? rows.length + " bugs" : shown.length + " of " + rows.length + " bugs";
    document.getElementById("none").hidden = shown.length > 0 || rows.length === 0;
    const legend = document.getElementById("legend-job");
    if (legend) {
      legend.hidden = !want.job;
      document.getElementById("legend-job-name").textContent = want.job;
    }
    list.dataset.hash = location.hash;  // the view drawn (tests wait for it)
    list.dataset.ready = "true";
  }

  form.addEventListener("submit", (event) => event.preventDefault());
  form.addEventListener("input", () => { apply(); writeHash(); });
  form.addEventListener("change", () => { apply(); writeHash(); });
  window.addEventListener("hashchange", () => { readHash(); apply(); });
  readHash();
  apply();
})();
