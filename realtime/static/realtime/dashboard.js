/* The staff dashboard's charts (templates/admin/dashboard.html), drawn with the
 * vendored Chart.js from the JSON the page carries (realtime/dashboard.py). */
(function () {
  "use strict";

  const PALETTE = [
    "#417690", "#e6a23c", "#5aa469", "#c0504d", "#8064a2",
    "#4bacc6", "#f79646", "#9bbb59", "#7f7f7f",
  ];
  const data = JSON.parse(document.getElementById("dashboard-data").textContent);
  const style = getComputedStyle(document.documentElement);
  const foreground = style.getPropertyValue("--body-fg").trim() || "#333";
  const grid = style.getPropertyValue("--hairline-color").trim() || "#e8e8e8";

  Chart.defaults.color = foreground;
  Chart.defaults.borderColor = grid;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;

  function bucketLabel(iso) {
    const text = new Date(iso).toISOString(); // the buckets are UTC
    return data.unit === "hour" ? text.slice(11, 16) : text.slice(5, 10);
  }

  function color(index, name) {
    return name === "other" ? "#bbbbbb" : PALETTE[index % PALETTE.length];
  }

  function overTime(id, metric) {
    const canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.series.buckets.map(bucketLabel),
        datasets: data.series.groups.map((group, index) => ({
          label: group.name,
          data: group[metric],
          backgroundColor: color(index, group.name),
          stack: "groups",
        })),
      },
      options: {
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  function ranking(id, rows, labelField, valueField) {
    const canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map((row) => row[labelField]),
        datasets: [{
          label: valueField,
          data: rows.map((row) => row[valueField]),
          backgroundColor: PALETTE[0],
        }],
      },
      options: {
        indexAxis: "y",
        scales: { x: { beginAtZero: true } },
        plugins: { legend: { display: false } },
      },
    });
  }

  const charts = [
    overTime("chart-sessions", "sessions"),
    overTime("chart-tokens", "tokens"),
    overTime("chart-cost", "cost"),
    ranking("chart-top-keys", data.top_keys, "key", "cost"),
    ranking("chart-close-codes", data.errors.by_close_code, "close_code", "errors"),
    ranking("chart-end-reasons", data.errors.by_end_reason, "end_reason", "errors"),
  ];
  // For the browser test: how many charts were drawn.
  document.documentElement.dataset.charts = String(charts.length);
})();
