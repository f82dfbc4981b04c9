// Vitrina back office: draws the page's charts (Chart.js) from their data-chart attribute, on load and
// whenever HTMX swaps new content in. No inline script anywhere (the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
  var valence = { 0: "#dc2626", 1: "#9ca3af", 2: "#16a34a" };

  function draw(canvas) {
    if (canvas.dataset.drawn) { return; }
    var spec = JSON.parse(canvas.dataset.chart);
    var percent = spec.unit === "%";
    var stacked = spec.kind === "stacked";
    var datasets = spec.series.map(function (series, i) {
      var colour = stacked ? (valence[i] || palette[i % palette.length]) : palette[i % palette.length];
      return {
        label: series.label,
        data: series.values.map(function (v) { return v === null ? null : (percent ? v * 100 : v); }),
        backgroundColor: colour,
        borderColor: colour,
        spanGaps: false,
        tension: 0.2
      };
    });
    var chart = new Chart(canvas, {
      type: spec.kind === "line" ? "line" : "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.kind === "hbar" ? "y" : "x",
        plugins: { legend: { display: datasets.length > 1 } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, max: stacked && percent ? 100 : undefined,
               title: { display: !!spec.unit, text: spec.unit } }
        }
      }
    });
    canvas.dataset.drawn = "1";
    canvas.chart = chart;
  }

  function drawAll(root) {
    if (typeof Chart === "undefined") { return; }
    (root || document).querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
    if (window.htmx) {
      htmx.onLoad(function (element) { drawAll(element); });
    }
  });
  // The live staff list: say whether its stream is connected.
  document.addEventListener("htmx:sseOpen", function () {
    var state = document.getElementById("stream-state");
    if (state) { state.textContent = "●"; state.className = "stream-state on"; }
  });
  document.addEventListener("htmx:sseError", function () {
    var state = document.getElementById("stream-state");
    if (state) { state.textContent = "○"; state.className = "stream-state off"; }
  });
})();
