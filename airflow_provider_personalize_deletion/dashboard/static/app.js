// The erasure dashboard's page: figures from ./api/*, charts drawn as inline SVG. No library, no build,
// nothing fetched from outside this app. Every text from the server is set with textContent.
//
// The evidence lookup sends the user id in a POST body only: the field is cleared at once, no URL or
// history entry ever holds it, and the page keeps only the record the server returned (which names the
// subject as typed, for the printable report and the exports: the officer's copy).

const SVG_NS = "http://www.w3.org/2000/svg";
// The chart's series: an erased request of a person found again since is "found_again", not "erased".
const STATUSES = ["pending", "erased", "found_again", "rejected", "refused", "unfulfillable"];
const COLORS = {
  pending: "var(--pending)",
  erased: "var(--erased)",
  found_again: "var(--failed)",
  rejected: "var(--rejected)",
  refused: "var(--overlap)",
  unfulfillable: "var(--accent)",
  COMPLETED: "var(--erased)",
  FAILED: "var(--failed)",
  OVERLAPPED: "var(--overlap)",
};
const params = new URLSearchParams(window.location.search);
const state = { summary: null, runsCursor: null, runsLoaded: false, evidence: null, lookups: 0 };

// ---- DOM helpers ----------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function titled(node, title) {
  node.append(svgEl("title", {}, title));
  return node;
}

function chip(text, kind = text) {
  return el("span", { class: `chip ${kind}` }, text);
}

function shortArn(arn) {
  return String(arn ?? "").split("/").pop();
}

// Every time on the page is shown in UTC, and says so: the due dates are UTC days.
function fmtTime(iso) {
  return iso ? `${new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" })} UTC` : "–";
}

function fmtDays(days) {
  return days === null || days === undefined ? "–" : `${days.toFixed(1)} d`;
}

// What an answer left out, in words: "" when nothing.
function groupsLeftOut(shown, total, truncated) {
  if (!truncated) return "";
  if (total === null || total === undefined) return "dataset groups not read (the record is too large)";
  return shown ? `the first ${shown} of ${total} dataset groups shown` : `its ${total} dataset group(s) left out (the answer's size limit)`;
}

function jobsLeftOut(group) {
  return group.jobs_truncated ? `the first ${group.jobs.length} of ${group.jobs_total} jobs shown` : "";
}

function showError(error) {
  const box = document.getElementById("error");
  box.textContent = error ? String(error.message ?? error) : "";
  box.hidden = !error;
}

// Prepare an <svg> to draw on: its size in CSS pixels, content cleared.
function canvas(id) {
  const node = document.getElementById(id);
  node.replaceChildren();
  const width = Math.max(node.clientWidth, 200);
  const height = Math.max(node.clientHeight, 24);
  node.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return { node, width, height };
}

// ---- data ---------------------------------------------------------------------------------------------

async function request(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      const body = await response.json();
      if (typeof body.detail === "string") detail = body.detail;
    } catch {
      // not JSON: keep the status text
    }
    throw new Error(`${response.status} ${detail}`);
  }
  return response;
}

// ---- overview -----------------------------------------------------------------------------------------

// The deadline in words, and in days for the gauge (a calendar month: 28 to 31 days, drawn as 31).
function deadlineOf(summary) {
  const { rule, days } = summary.deadline;
  return rule === "days"
    ? { days, words: `${days} days`, label: `deadline ${days} d`, short: `${days} d` }
    : { days: 31, words: "one calendar month (GDPR art. 12(3))", label: "deadline 1 month", short: "1 month" };
}

function renderTiles(summary) {
  const { days: deadline, words, label } = deadlineOf(summary);
  document.querySelector("[data-testid=pending-count]").textContent = summary.pending;
  document.querySelector("[data-testid=overdue-count]").textContent = summary.overdue;
  document.getElementById("overdue-tile").classList.toggle("alert", summary.overdue > 0);
  document.getElementById("overdue-note").textContent = `pending past their due date: ${words} from receipt, plus any extension (UTC days)`;
  document.querySelector("[data-testid=erased-late-count]").textContent = summary.erased_late;
  document.getElementById("erased-late-tile").classList.toggle("alert", summary.erased_late > 0);
  document.getElementById("erased-late-note").textContent = `erased after their due date, last ${summary.window_days} days`;
  for (const status of ["refused", "unfulfillable"]) {
    const codes = summary.decided[status];
    const total = Object.values(codes).reduce((sum, count) => sum + count, 0);
    document.querySelector(`[data-testid=${status}-count]`).textContent = total;
    document.getElementById(`${status}-note`).textContent = total
      ? Object.entries(codes).map(([code, count]) => `${code}: ${count}`).join(", ")
      : "none";
  }
  const oldest = summary.oldest_pending_days;
  document.querySelector("[data-testid=oldest-pending]").textContent =
    oldest === null ? "none" : `${oldest.toFixed(1)} days`;
  drawGauge(oldest, deadline, label);
  const times = summary.time_to_erasure;
  document.querySelector("[data-testid=median-days]").textContent = fmtDays(times.median_days);
  document.querySelector("[data-testid=p95-days]").textContent = fmtDays(times.p95_days);
  const again = times.erased_then_found_again ? `, and ${times.erased_then_found_again} whose person was found again since` : "";
  document.getElementById("erased-count").textContent = `${times.erased} request(s) erased in the last ${summary.window_days} days${again}`;
  document.querySelector("[data-testid=found-again-count]").textContent = summary.found_again;
  document.getElementById("found-again-tile").classList.toggle("alert", summary.found_again > 0);
}

// A dataset group's latest verification in words: clean, users found again, not verified (why), never.
function verificationText(group) {
  if (group.status === "never_verified") return "never verified";
  const when = fmtTime(group.verified_at);
  if (group.status === "clean") return `clean, ${when}`;
  if (group.status === "found_again") return `${group.users_found} user(s) found again, ${when}`;
  const found = group.users_found ? `; ${group.users_found} user(s) found again` : "";
  return `not verified, ${when}: ${group.reasons.join("; ") || "no reason recorded"}${found}`;
}

function renderVerification(verification) {
  const list = document.getElementById("verification");
  const items = verification.dataset_groups.map((group) => {
    const datasets = group.datasets
      .map((item) => `${shortArn(item.dataset_arn) || "(whole group)"}: ${item.outcome}, last verified ${item.last_verified_at ? fmtTime(item.last_verified_at) : "never"}`)
      .join("\n");
    const label = group.status === "found_again" ? "found again" : group.status.replace("_", " ");
    return el(
      "li",
      { "data-testid": "verification-group", "data-status": group.status, title: `${group.dataset_group_arn}\n${datasets}` },
      el("span", { class: "group-name" }, shortArn(group.dataset_group_arn) || "(group unknown)"),
      " ",
      chip(label, group.status),
      ` ${verificationText(group)}`,
    );
  });
  if (verification.dataset_groups_truncated) items.push(el("li", { class: "truncated" }, `the first ${verification.dataset_groups.length} of ${verification.dataset_groups_total} dataset groups shown`));
  if (!items.length) items.push(el("li", { class: "muted" }, "No verification recorded yet, and no erasure run to name its dataset groups."));
  list.replaceChildren(...items);
}

function drawGauge(oldest, deadline, label) {
  const { node, width } = canvas("deadline-gauge");
  const scale = Math.max(deadline * 1.5, oldest ?? 0);
  const x = (days) => 4 + ((width - 8) * days) / scale;
  node.append(svgEl("rect", { x: 4, y: 4, width: width - 8, height: 10, rx: 5, fill: "var(--line)" }));
  if (oldest !== null) {
    const color = oldest > deadline ? "var(--failed)" : oldest > deadline * 0.75 ? "var(--pending)" : "var(--erased)";
    node.append(titled(svgEl("rect", { x: 4, y: 4, width: x(oldest) - 4, height: 10, rx: 5, fill: color }), `${oldest} days`));
  }
  node.append(svgEl("line", { class: "deadline", x1: x(deadline), x2: x(deadline), y1: 1, y2: 17, "stroke-width": 2 }));
  node.append(svgEl("text", { x: x(deadline), y: 25, "text-anchor": "middle", class: "muted-text", "data-testid": "deadline-label" }, label));
}

function drawStatusChart(days) {
  const { node, width, height } = canvas("status-chart");
  const margin = { top: 22, right: 8, bottom: 20, left: 34 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const max = Math.max(1, ...days.map((day) => STATUSES.reduce((sum, status) => sum + day[status], 0)));
  const step = plotWidth / days.length;
  const y = (value) => margin.top + plotHeight - (plotHeight * value) / max;
  for (const tick of [0, Math.round(max / 2), max]) {
    node.append(svgEl("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
    node.append(svgEl("text", { x: margin.left - 4, y: y(tick) + 4, "text-anchor": "end", class: "muted-text" }, tick));
  }
  days.forEach((day, index) => {
    let base = 0;
    const x = margin.left + index * step;
    for (const status of STATUSES) {
      if (!day[status]) continue;
      const bar = svgEl("rect", {
        x: x + step * 0.1,
        width: Math.max(step * 0.8, 1),
        y: y(base + day[status]),
        height: y(base) - y(base + day[status]),
        fill: COLORS[status],
        "data-day": day.day,
        "data-status": status,
        "data-count": day[status],
      });
      node.append(titled(bar, `${day.day}: ${day[status]} ${status}`));
      base += day[status];
    }
    if ((days.length - 1 - index) % 14 === 0) {
      const label = new Date(`${day.day}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
      const anchor = index === days.length - 1 ? "end" : "middle";
      node.append(svgEl("text", { x: index === days.length - 1 ? x + step : x + step / 2, y: height - 5, "text-anchor": anchor, class: "muted-text" }, label));
    }
  });
  let legendX = margin.left;
  for (const status of STATUSES) {
    const total = days.reduce((sum, day) => sum + day[status], 0);
    node.append(svgEl("rect", { x: legendX, y: 5, width: 10, height: 10, rx: 2, fill: COLORS[status] }));
    const text = svgEl("text", { x: legendX + 14, y: 14, "data-testid": `legend-${status}` }, `${status} ${total}`);
    node.append(text);
    legendX += 14 + 8 * `${status} ${total}`.length + 14;
  }
}

function drawLatencyChart(times, { days: deadline, short }) {
  const { node, width, height } = canvas("latency-chart");
  const weeks = times.weeks;
  if (!weeks.length) {
    node.append(svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted-text" }, "No request erased in the last 90 days"));
    return;
  }
  const margin = { top: 22, right: 40, bottom: 20, left: 34 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const max = Math.max(deadline * 1.1, ...weeks.map((week) => week.p95_days ?? 0)) || 1;
  const x = (index) => margin.left + (weeks.length === 1 ? plotWidth / 2 : (plotWidth * index) / (weeks.length - 1));
  const y = (days) => margin.top + plotHeight - (plotHeight * days) / max;
  for (const tick of [0, Math.round(max / 2), Math.round(max)]) {
    node.append(svgEl("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(tick), y2: y(tick) }));
    node.append(svgEl("text", { x: margin.left - 4, y: y(tick) + 4, "text-anchor": "end", class: "muted-text" }, tick));
  }
  node.append(svgEl("line", { class: "deadline", x1: margin.left, x2: width - margin.right, y1: y(deadline), y2: y(deadline), "stroke-width": 1.5 }));
  node.append(svgEl("text", { x: width - margin.right + 2, y: y(deadline) + 4, class: "muted-text", "data-testid": "latency-deadline" }, short));
  const series = [
    { key: "p95_days", label: "95th percentile", color: "var(--pending)" },
    { key: "median_days", label: "median", color: "var(--accent)" },
  ];
  for (const { key, label, color } of series) {
    const points = weeks.map((week, index) => `${x(index)},${y(week[key])}`).join(" ");
    node.append(svgEl("polyline", { points, fill: "none", stroke: color, "stroke-width": 2 }));
    weeks.forEach((week, index) => {
      const dot = svgEl("circle", { cx: x(index), cy: y(week[key]), r: 3.5, fill: color, "data-week": week.week, "data-series": key, "data-days": week[key] });
      node.append(titled(dot, `week of ${week.week}: ${label} ${week[key]} days (${week.erased} erased)`));
    });
    const last = weeks[weeks.length - 1];
    const above = key === "p95_days";
    node.append(svgEl("text", { x: x(weeks.length - 1) + 6, y: y(last[key]) + (above ? -5 : 12), "data-testid": `latency-${key}` }, `${last[key]} d`));
  }
  node.append(svgEl("text", { x: margin.left, y: 14, class: "series-median" }, "— median"));
  node.append(svgEl("text", { x: margin.left + 70, y: 14, class: "series-p95" }, "— 95th percentile"));
  weeks.forEach((week, index) => {
    if (weeks.length <= 7 || index % 2 === 0) {
      const label = new Date(`${week.week}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
      node.append(svgEl("text", { x: x(index), y: height - 5, "text-anchor": "middle", class: "muted-text" }, label));
    }
  });
}

// One row per run (newest on top), one column per dataset group: a square per job, coloured by its
// status, its numDeleted beside it; a follow-up job is marked with its round, an overlap outlined.
function drawRunsChart(runs) {
  const { node, width } = canvas("runs-chart");
  if (!runs.length) {
    node.append(svgEl("text", { x: width / 2, y: 40, "text-anchor": "middle", class: "muted-text" }, "No run recorded yet"));
    return;
  }
  const groups = [...new Set(runs.flatMap((run) => run.dataset_groups.map((group) => group.dataset_group_arn)))];
  const labelWidth = 250;
  const columnWidth = (width - labelWidth) / Math.max(groups.length, 1);
  const rowHeight = 16;
  groups.forEach((arn, index) => {
    node.append(titled(svgEl("text", { x: labelWidth + index * columnWidth + 4, y: 12, class: "muted-text" }, shortArn(arn)), arn));
  });
  runs.forEach((run, row) => {
    const top = 18 + row * rowHeight;
    node.append(svgEl("rect", { x: 0, y: top + 3, width: 8, height: 10, rx: 2, fill: run.outcome === "erased" ? COLORS.erased : run.outcome === "failed" ? COLORS.FAILED : COLORS.rejected }));
    const when = `${new Date(run.recorded_at).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" })} UTC`;
    const label = svgEl("text", { x: 14, y: top + 12, "data-testid": "run-row", "data-run-id": run.run_id, "data-outcome": run.outcome }, `${when} · ${run.outcome}`);
    node.append(titled(label, run.run_id));
    run.dataset_groups.forEach((group) => {
      let x = labelWidth + groups.indexOf(group.dataset_group_arn) * columnWidth + 4;
      for (const job of group.jobs) {
        const overlapped = Array.isArray(job.overlapping_activity) && job.overlapping_activity.length > 0;
        const square = svgEl("rect", {
          x,
          y: top + 2,
          width: 12,
          height: 12,
          rx: 2,
          fill: COLORS[job.status] ?? COLORS.pending,
          stroke: overlapped ? "var(--overlap)" : "none",
          "stroke-width": overlapped ? 3 : 0,
          "data-job": job.job_name,
          "data-status": job.status,
        });
        const overlapText = overlapped ? `; overlapped ${job.overlapping_activity.map((item) => item.kind).join(", ")}` : "";
        node.append(titled(square, `${job.job_name}: ${job.status}, numDeleted ${job.num_deleted ?? "–"}, round ${job.round}${overlapText}`));
        const text = `${job.round ? `↻${job.round} ` : ""}${job.num_deleted ?? "–"}`;
        node.append(svgEl("text", { x: x + 15, y: top + 12, "data-testid": "num-deleted" }, text));
        x += 22 + 7 * text.length;
      }
    });
  });
}

async function loadOverview() {
  const [summary, runs] = await Promise.all([
    request("api/summary").then((response) => response.json()),
    request("api/runs?limit=10").then((response) => response.json()),
  ]);
  state.summary = summary;
  state.latestRuns = runs.runs;
  document.getElementById("dag-id").textContent = summary.dag_id;
  document.getElementById("updated").textContent = `updated ${fmtTime(summary.generated_at)}`;
  drawOverview();
}

function drawOverview() {
  const summary = state.summary;
  if (!summary) return;
  renderTiles(summary);
  renderVerification(summary.verification);
  drawStatusChart(summary.requests_by_day);
  drawLatencyChart(summary.time_to_erasure, deadlineOf(summary));
  drawRunsChart(state.latestRuns ?? []);
}

// ---- runs -------------------------------------------------------------------------------------------

function runCard(run) {
  const head = el(
    "div",
    { class: "run-head" },
    el("span", { class: "run-id" }, run.run_id),
    chip(run.outcome),
    el("span", { class: "muted" }, fmtTime(run.recorded_at)),
    el("span", {}, `claimed ${run.requests.claimed ?? 0}, erased ${run.requests.erased ?? 0}, overdue when collected ${run.requests.overdue ?? 0}`),
  );
  if (run.follow_up_jobs) head.append(chip(`${run.follow_up_jobs} follow-up job(s)`, "overlap"));
  if (run.earlier_tries) head.append(el("span", { class: "muted" }, `${run.earlier_tries} earlier tr${run.earlier_tries === 1 ? "y" : "ies"} on file`));
  const card = el("div", { class: "run", "data-testid": "run-card", "data-run-id": run.run_id }, head);
  if (run.problems.length) card.append(el("ul", { class: "problems" }, ...run.problems.map((problem) => el("li", {}, problem))));
  if (run.find_and_forget) card.append(forgetBox(run.find_and_forget));
  if (run.record_too_large) {
    card.append(el("p", { class: "truncated", "data-testid": "run-truncated" }, `This record (${(run.record_bytes / 1048576).toFixed(1)} MiB) is too large to show: read it in the audit table under its run id.`));
  } else if (run.dataset_groups_truncated) {
    card.append(el("p", { class: "truncated", "data-testid": "run-truncated" }, `${groupsLeftOut(run.dataset_groups.length, run.dataset_groups_total, true)}; the audit table holds them all.`));
  }
  const groups = el("div", { class: "groups" });
  for (const group of run.dataset_groups) {
    const box = el("div", { class: "group" }, el("div", {}, el("span", { class: "group-name", title: group.dataset_group_arn }, shortArn(group.dataset_group_arn)), " ", chip(group.status)));
    if (group.jobs_truncated) box.append(el("div", { class: "truncated" }, jobsLeftOut(group)));
    for (const job of group.jobs) {
      const line = el("div", { class: "job", title: job.job_arn ?? "" }, `${job.round ? `follow-up ${job.round}` : "initial"} · ${job.job_name} · `, chip(job.status), ` numDeleted ${job.num_deleted ?? "–"}`);
      if (Array.isArray(job.overlapping_activity) && job.overlapping_activity.length) {
        line.append(" ", chip(`overlapped ${job.overlapping_activity.map((item) => item.kind).join(", ")}`, "overlap"));
      }
      if (job.failure_reason) line.append(el("div", { class: "problems" }, job.failure_reason));
      box.append(line);
    }
    groups.append(box);
  }
  card.append(groups);
  return card;
}

// What the run's find and forget did in S3: files rewritten, each unverified file in red with its reason,
// and each location it did not scan (in red when users may be left there). Never shown clean unless the
// record says clean.
function forgetBox(forget) {
  const box = el(
    "div",
    { class: forget.clean ? "forget" : "forget problems", "data-testid": "run-forget" },
    `Find and forget: ${forget.summary ?? "no summary"}`,
    forget.dry_run ? " (dry run: nothing written)" : "",
  );
  if (forget.unverified_objects.length) {
    box.append(el("ul", { class: "problems", "data-testid": "forget-unverified" }, ...forget.unverified_objects.map((item) => el("li", {}, `${item.location}: ${item.reason}`))));
  }
  if (forget.unverified_objects_truncated) {
    box.append(el("div", { class: "truncated" }, `${forget.unverified_objects.length} of ${forget.unverified ?? "?"} unverified file(s) shown; the table erasure_forget holds every file's reason.`));
  }
  if (forget.not_scanned === null) {
    box.append(el("div", { class: "truncated" }, "Locations not scanned: not recorded (a record older than this count)."));
  }
  if (forget.not_scanned_locations.length) {
    box.append(el("ul", { "data-testid": "forget-not-scanned" }, ...forget.not_scanned_locations.map((item) => el("li", { class: item.holds_users ? "problems" : "muted" }, `not scanned: ${item.location}: ${item.reason} (${item.explanation})`))));
  }
  if (forget.not_scanned !== null && forget.not_scanned_locations_truncated) {
    box.append(el("div", { class: "truncated" }, `${forget.not_scanned_locations.length} of ${forget.not_scanned} location(s) not scanned shown; the run's plan in the table erasure_forget_plan holds them all.`));
  }
  return box;
}

async function loadRuns(more = false) {
  const query = new URLSearchParams({ limit: "10" });
  if (more && state.runsCursor) query.set("before", state.runsCursor);
  const page = await (await request(`api/runs?${query}`)).json();
  const list = document.getElementById("runs-list");
  if (!more) list.replaceChildren();
  list.append(...page.runs.map(runCard));
  if (!list.children.length) list.append(el("p", { class: "muted" }, "No run recorded yet."));
  state.runsCursor = page.next;
  state.runsLoaded = true;
  document.getElementById("older-runs").hidden = !page.next;
}

async function showThisRun(summary) {
  const runId = params.get("run_id");
  if (!runId) return;
  const box = document.getElementById("this-run");
  box.hidden = false;
  const dagId = params.get("dag_id");
  if (dagId && dagId !== summary.dag_id) {
    box.replaceChildren(el("p", { class: "muted" }, `This tab shows the erasure runs of ${summary.dag_id}; this run is of ${dagId}.`));
    return;
  }
  try {
    const run = await (await request(`api/run?${new URLSearchParams({ run_id: runId })}`)).json();
    box.replaceChildren(runCard(run));
  } catch (error) {
    box.replaceChildren(el("p", { class: "muted" }, `No audit record for this run (${error.message}): a dry run, or a run that has not reached record_erasure.`));
  }
}

// ---- evidence lookup ----------------------------------------------------------------------------------

// Forget the shown evidence: its table, its record, and the exports of it.
function clearEvidence() {
  state.evidence = null;
  document.getElementById("lookup-result").hidden = true;
  document.getElementById("lookup-summary").textContent = "";
  document.getElementById("lookup-status-now").textContent = "";
  document.querySelector("#lookup-table tbody").replaceChildren();
  document.getElementById("report-subject").textContent = "";
  document.getElementById("lookup-near-misses").hidden = true;
  for (const id of EXPORTS) document.getElementById(id).disabled = true;
}

const EXPORTS = ["export-json", "export-csv", "print-report"];

// A lookup clears the earlier one's evidence at once; the answer of a lookup that a later one superseded
// is dropped, so that the page and its exports only ever hold the latest lookup's evidence.
async function lookUp(event) {
  event.preventDefault();
  const input = document.getElementById("lookup-user-id");
  let userId = input.value;
  input.value = "";
  if (!userId) return;
  const lookup = ++state.lookups;
  clearEvidence();
  showError(null);
  let evidence;
  try {
    // One lookup (one record of it in the event log) for the view, the report and both exports.
    const response = await request("api/evidence", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId, format: "bundle", name_subject: true }),
    });
    const bundle = await response.json();
    evidence = { json: JSON.stringify(bundle.record, null, 2), csv: bundle.csv, record: bundle.record };
  } catch (error) {
    if (lookup === state.lookups) throw error;
    return;
  } finally {
    userId = null;
  }
  if (lookup !== state.lookups) return;
  state.evidence = evidence;
  renderEvidence(evidence.record);
  for (const id of EXPORTS) document.getElementById(id).disabled = false;
}

// What nearly matched a lookup that found nothing: booleans only, never another id or request.
function nearMissText(near) {
  if (!near) return "";
  const notes = [];
  if (near.outer_whitespace) {
    notes.push(near.trimmed_has_requests
      ? "The id typed starts or ends with whitespace; without it, the id has requests on file: look it up again without the spaces."
      : "The id typed starts or ends with whitespace.");
  }
  if (near.case_variants_exist) {
    notes.push("Ids that differ from it only in upper/lower case have requests on file: the lookup matches exactly, so check the id's case with the person.");
  }
  if (near.unicode_variant_has_requests) {
    notes.push("The same id written with other Unicode characters (an accent composed or decomposed, or without invisible zero-width characters, as copying from a document can change it) has requests on file: type the id again rather than pasting it.");
  }
  return notes.join(" ");
}

function renderEvidence(record) {
  document.getElementById("lookup-result").hidden = false;
  const shown = record.truncated
    ? `${record.request_count} request(s) found, the first ${record.requests.length} shown and exported`
    : `${record.request_count} request(s) found`;
  const leftOut = record.dataset_groups_left_out
    ? ` · the dataset groups of ${record.dataset_groups_left_out} request(s) left out to keep the record within its size limit`
    : "";
  document.getElementById("lookup-summary").textContent =
    `${shown}${leftOut} · record made ${fmtTime(record.generated_at)} by ${record.generated_by}`;
  document.getElementById("lookup-status-now").textContent = statusNowText(record);
  document.getElementById("report-subject").textContent = record.subject?.user_id ?? "(not named)";
  document.getElementById("report-made").textContent =
    `Record made ${fmtTime(record.generated_at)} by ${record.generated_by}; evidence version ${record.evidence_version}; matching ${record.matching}.`;
  const near = nearMissText(record.near_misses);
  const nearBox = document.getElementById("lookup-near-misses");
  nearBox.textContent = near;
  nearBox.hidden = !near;
  const rows = record.requests.map((item) => {
    const groups = el("div");
    const groupsNote = groupsLeftOut(item.dataset_groups.length, item.dataset_groups_total, item.dataset_groups_truncated);
    if (groupsNote) groups.append(el("div", { class: "truncated", "data-testid": "groups-truncated" }, groupsNote));
    for (const group of item.dataset_groups) {
      groups.append(
        el(
          "div",
          { "data-testid": "evidence-group", "data-held": group.held_person },
          el("span", { class: "group-name" }, shortArn(group.dataset_group_arn)),
          " ",
          group.status ? chip(group.status) : "",
          " ",
          el("span", { class: "held" }, HELD_TEXT[group.held_person] ?? ""),
        ),
      );
      if (group.verification) groups.append(el("div", { class: "job", "data-testid": "group-verification" }, personVerificationText(group.verification)));
      if (group.jobs_truncated) groups.append(el("div", { class: "truncated" }, jobsLeftOut(group)));
      for (const job of group.jobs) {
        const round = job.erasure_round ? `follow-up ${job.erasure_round}` : "initial";
        const times = `created ${fmtTime(job.created_at)}${job.completed_at ? `, completed ${fmtTime(job.completed_at)}` : ""}`;
        groups.append(el("div", { class: "job" }, `${round} · ${job.job_name ?? shortArn(job.job_arn)} · ${job.status ?? "recorded"} · ${times} · numDeleted ${job.num_deleted_all_ids_of_file ?? "–"} (records of every id of the file)`));
      }
    }
    if (item.dataset_groups_not_holding.length) {
      groups.append(el("div", { class: "muted", "data-testid": "groups-not-holding" }, `Held none of the file's ids (their jobs deleted no record): ${item.dataset_groups_not_holding.map(shortArn).join(", ")}`));
    }
    const days = item.days_to_erasure ?? item.days_pending;
    return el(
      "tr",
      { "data-testid": "evidence-row", "data-request-id": item.request_id },
      el("td", {}, item.request_id),
      el("td", {}, ...statusCell(item)),
      el("td", {}, fmtTime(item.requested_at)),
      el("td", {}, fmtTime(item.erased_at)),
      el("td", {}, ...deadlineCell(item, days)),
      el("td", {}, runCell(item, record.limits.audit_records_read)),
      el("td", {}, groups),
    );
  });
  document.querySelector("#lookup-table tbody").replaceChildren(...rows);
}

// A request's days, its due date (UTC) and extension: late when erased, or still pending, after it.
function deadlineCell(item, days) {
  const cell = [days === null || days === undefined ? "–" : `${days.toFixed(1)}${item.within_deadline === false ? " (late)" : ""}`];
  if (item.due_at) cell.push(el("div", { class: "muted", "data-testid": "due-at" }, `due ${fmtTime(item.due_at)}`));
  const extension = item.extension;
  if (extension) {
    cell.push(el("div", { class: "muted", "data-testid": "extension" }, `extended by ${extension.months} month(s) by ${extension.extended_by ?? "?"}, ${fmtTime(extension.extended_at)}: ${extension.reason ?? ""}`));
  }
  return cell;
}

// Whether a group held the person, in words (see the evidence's held_person).
const HELD_TEXT = {
  yes: "held this person",
  unknown: "held this person: unknown (the service counts records of all the file's ids)",
};

// Whether the person was verified absent from a group since their erasure, in words.
function personVerificationText(check) {
  const by = check.export_job_arns.length ? ` by export ${check.export_job_arns.map(shortArn).join(", ")}` : "";
  const ledger = check.ledger ? ` · ledger #${check.ledger.sequence}` : "";
  const words = {
    verified_absent: `verified absent ${fmtTime(check.recorded_at)}${by}`,
    found_again: `found again ${fmtTime(check.recorded_at)}${by}`,
    not_verified: `not verified by the verification of ${fmtTime(check.recorded_at)}`,
    others_found: `others found by the verification of ${fmtTime(check.recorded_at)}${by}; whether this person was among them is not recorded`,
    no_verification_since: "no verification of this group since the erasure",
  };
  return `${words[check.status] ?? check.status}${ledger}`;
}

// The run's deletion file and place in the evidence ledger, in words.
function runEvidenceText(run) {
  const parts = [];
  const file = run.deletion_file;
  if (file) {
    const deleted = file.deleted === true ? "deleted" : file.deleted === false ? `kept (${file.kept_because})` : "deletion unknown";
    parts.push(`file of ${file.id_count ?? "?"} id(s), fingerprint ${String(file.fingerprint ?? "–").slice(0, 16)}…, ${deleted}`);
  }
  parts.push(run.ledger ? `ledger #${run.ledger.sequence} sha256 ${run.ledger.record_sha256.slice(0, 16)}…` : "not in the evidence ledger");
  return parts.join(" · ");
}

// The person's status now, in words: found again (pending re-erasure) is never shown as erased.
function statusNowText(record) {
  const now = record.status_now;
  const again = now.times_found_again ? `; found again ${now.times_found_again} time(s) after an erasure` : "";
  const words = {
    found_again: "found again in a dataset after being erased: pending re-erasure by the next erasure run",
    pending: "pending erasure",
    erased: `erased (${now.erased_requests} request(s) erased)${again}`,
    rejected: "rejected: set aside, not erased",
    refused: "refused: not erased, by a decision with its reason code",
    unfulfillable: "unfulfillable: not erased, the person could not be identified",
    no_request: "no erasure request",
    unknown: "unknown (no request holds a known status)",
  };
  return `Status now: ${words[now.status] ?? now.status}`;
}

// A request's status: a reappeared one says where and when its person was found again; an erased one
// whose person was found again later says so.
function statusCell(item) {
  const cell = [chip(item.status)];
  if (item.rejected_reason) cell.push(` ${item.rejected_reason}`);
  if (item.decision) {
    const decision = item.decision;
    const basis = decision.legal_basis ? ` (${decision.legal_basis})` : "";
    cell.push(el("span", { "data-testid": "reason-code" }, ` ${decision.reason_code ?? "no reason code"}${basis}, decided by ${decision.decided_by ?? "?"} ${fmtTime(decision.decided_at)}`));
  }
  if (item.source === "reappeared") {
    const where = item.reappeared;
    cell.push(
      " ",
      chip("found again", "found_again"),
      where
        ? ` in ${shortArn(where.dataset_arn)} of ${shortArn(where.dataset_group_arn)} by export ${shortArn(where.export_job_arn)}, ${fmtTime(where.found_at)}`
        : item.reappeared_unread ? " (where: not read, too large)" : " (where: not recorded)",
    );
  }
  if (item.found_again_by) cell.push(" ", chip("found again later", "found_again"));
  return cell;
}

// The run of a request; or why none is shown: none found, or the search stopped before the end.
function runCell(item, budget) {
  if (item.run) {
    const forget = item.run.find_and_forget ? ` · in S3: ${item.run.find_and_forget.summary}` : "";
    const text = `${item.run.run_id} (${item.run.outcome}${item.run.latest_try === false ? ", an earlier try" : ""})${forget} · ${runEvidenceText(item.run)}`;
    const forgetClean = !item.run.find_and_forget || item.run.find_and_forget.clean;
    return forgetClean ? text : el("span", { class: "problems" }, text);
  }
  if (item.run_search === "incomplete") {
    return el("span", { class: "truncated", "data-testid": "run-search-incomplete" }, `not found within this lookup's ${budget} audit records, or in a record too large to read`);
  }
  return "–";
}

// An export's file name: its requests' ids (never the user id), then when it was made.
function exportName(record, kind) {
  const stamp = record.generated_at.replace(/[:.]/g, "-");
  const ids = record.requests.map((item) => String(item.request_id ?? "").replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 40));
  const named = ids.length ? ids.slice(0, 3).join("+") + (ids.length > 3 ? `+${ids.length - 3}-more` : "") : "no-request";
  return `erasure-evidence-${named}-${stamp}.${kind}`;
}

function download(kind) {
  if (!state.evidence) return;
  const type = kind === "json" ? "application/json" : "text/csv";
  const url = URL.createObjectURL(new Blob([state.evidence[kind]], { type }));
  const link = el("a", { href: url, download: exportName(state.evidence.record, kind) });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---- who looked a person up ------------------------------------------------------------------------

function renderLookups(lookups) {
  const table = document.getElementById("lookups-table");
  table.hidden = false;
  const rows = lookups.map((item) =>
    el(
      "tr",
      { "data-testid": "lookup-row", "data-user": item.user ?? "" },
      el("td", {}, fmtTime(item.at)),
      el("td", {}, item.user ?? "–"),
      el("td", {}, item.what ?? "–"),
      el("td", {}, item.requests_found ?? "–"),
      el("td", {}, item.refused ? `refused: ${item.reason ?? ""}` : ""),
    ),
  );
  table.querySelector("tbody").replaceChildren(...rows);
}

async function findLookups(event) {
  event.preventDefault();
  const input = document.getElementById("lookups-user-id");
  const userId = input.value;
  input.value = "";
  if (!userId) return;
  const response = await request("api/lookups", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: userId }),
  });
  renderLookups((await response.json()).lookups);
}

async function recentLookups() {
  renderLookups((await (await request("api/lookups")).json()).lookups);
}

// ---- tabs and start -----------------------------------------------------------------------------------

function selectTab(name) {
  for (const button of document.querySelectorAll("nav [role=tab]")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const panel of document.querySelectorAll("[role=tabpanel]")) {
    panel.hidden = panel.id !== `tab-${name}`;
  }
  if (name === "overview") drawOverview();
  if (name === "runs" && !state.runsLoaded) loadRuns().catch(showError);
}

async function start() {
  for (const button of document.querySelectorAll("nav [role=tab]")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  document.getElementById("older-runs").addEventListener("click", () => loadRuns(true).catch(showError));
  document.getElementById("lookup-form").addEventListener("submit", (event) => lookUp(event).catch(showError));
  document.getElementById("export-json").addEventListener("click", () => download("json"));
  document.getElementById("export-csv").addEventListener("click", () => download("csv"));
  document.getElementById("print-report").addEventListener("click", () => window.print());
  document.getElementById("lookups-form").addEventListener("submit", (event) => findLookups(event).catch(showError));
  document.getElementById("recent-lookups").addEventListener("click", () => recentLookups().catch(showError));
  let resizing;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(drawOverview, 150);
  });
  try {
    await loadOverview();
    await showThisRun(state.summary);
    document.body.dataset.loaded = "true";
  } catch (error) {
    showError(error);
  }
}

start();
