// hostd dashboard: the figures' charts, drawn with the vendored uPlot from the numbers
// the page carries (data attributes and the tables shown without JavaScript). Each
// chart records what it drew in data-drawn (the sum of every series) for checking.
(function () {
  "use strict";
  if (typeof uPlot === "undefined") { return; }
  var COLOURS = { "2xx": "#198754", "3xx": "#0d6efd", "4xx": "#fd7e14", "5xx": "#dc3545",
                  "p50": "#6c757d", "p95": "#6f42c1", "p99": "#d63384" };

  function numbers(text) {
    return text ? text.split(",").map(function (v) { return v === "" ? null : Number(v); }) : [];
  }

  function total(data) {
    var sum = 0;
    data.slice(1).forEach(function (values) {
      values.forEach(function (v) { if (v !== null) { sum += v; } });
    });
    return sum;
  }

  function draw(element, options, data) {
    var plot = new uPlot(options, data, element);
    element.dataset.drawn = String(Math.round(total(data) * 1e6) / 1e6);
    element.dataset.points = String(data[0].length);
    return plot;
  }

  function sparkline(element) {
    var data = [numbers(element.dataset.t), numbers(element.dataset.requests),
                numbers(element.dataset.errors)];
    draw(element, {
      width: 160, height: 36, legend: { show: false }, cursor: { show: false },
      axes: [{ show: false }, { show: false }],
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(1, max)]; } } },
      series: [{}, { stroke: "#0d6efd", fill: "rgba(13,110,253,.12)", width: 1.5, label: "requests" },
               { stroke: COLOURS["5xx"], width: 1.5, label: "5xx" }]
    }, data);
    element.setAttribute("role", "img");
    element.setAttribute("aria-label", element.dataset.label || "");
  }

  function fromTable(table, columns) {
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var data = [rows.map(function (row) { return Number(row.dataset.t); })];
    columns.forEach(function (index) {
      data.push(rows.map(function (row) {
        var v = row.cells[index].dataset.v;
        return v === "" || v === undefined ? null : Number(v);
      }));
    });
    return data;
  }

  function chart(element) {
    var table = document.getElementById(element.dataset.table);
    if (!table) { return; }
    var latency = element.dataset.kind === "latency";
    var names = latency ? ["p50", "p95", "p99"] : ["2xx", "3xx", "4xx", "5xx"];
    var data = fromTable(table, latency ? [5, 6, 7] : [1, 2, 3, 4]);
    if (latency) {  // seconds to milliseconds
      data = [data[0]].concat(data.slice(1).map(function (values) {
        return values.map(function (v) { return v === null ? null : v * 1000; });
      }));
    }
    var width = Math.max(280, element.clientWidth || element.parentNode.clientWidth || 480);
    draw(element, {
      width: width, height: 180,
      scales: { x: { time: true } },
      axes: [{}, { label: latency ? "ms" : "requests", size: 56 }],
      series: [{}].concat(names.map(function (name) {
        return { label: name, stroke: COLOURS[name], width: 1.5, spanGaps: latency,
                 points: { show: latency, size: 5, fill: COLOURS[name] } };
      }))
    }, data);
  }

  document.querySelectorAll(".spark").forEach(sparkline);
  document.querySelectorAll(".chart").forEach(chart);
})();
