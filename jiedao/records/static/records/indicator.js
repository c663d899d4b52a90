// Charts of the indicator page: the district ranking and one street's months vs target.
(function () {
  "use strict";
  function draw() {
    var node = document.getElementById("indicator-chart");
    if (!node || !window.echarts) return;
    var data = JSON.parse(node.textContent);
    var unit = data.unit;
    var labels = data.labels;

    var rankEl = document.getElementById("chart-ranking");
    if (rankEl) {
      var ranked = data.ranking.filter(function (r) { return r.progress !== null; });
      var rankChart = echarts.init(rankEl, null, { renderer: "canvas" });
      rankChart.setOption({
        animation: false,
        grid: { left: 90, right: 60, top: 10, bottom: 30 },
        xAxis: { type: "value", axisLabel: { formatter: "{value}%" } },
        yAxis: { type: "category", inverse: true,
                 data: ranked.map(function (r) { return labels.rank.replace("%(n)s", r.rank) + " " + r.street; }) },
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v + "%"; } },
        series: [{ type: "bar", name: labels.progress, barMaxWidth: 36, data: ranked.map(function (r) { return r.progress; }),
                   label: { show: true, position: "right", formatter: "{c}%" },
                   itemStyle: { color: "#2f6fd6" } }]
      });
      window.addEventListener("resize", function () { rankChart.resize(); });
    }

    var seriesEl = document.getElementById("chart-series");
    if (seriesEl && data.months) {
      var seriesChart = echarts.init(seriesEl, null, { renderer: "canvas" });
      var lines = [
        { type: "bar", name: labels.actual, data: data.actual, barMaxWidth: 28, itemStyle: { color: "#2f6fd6" } },
        { type: "line", name: labels.last_year, data: data.last_year, connectNulls: true,
          itemStyle: { color: "#9aa5b4" } }
      ];
      if (data.target !== null) {
        lines.push({ type: "line", name: labels.target, data: data.months.map(function () { return data.target; }),
                     symbol: "none", lineStyle: { type: "dashed", color: "#d64545" }, itemStyle: { color: "#d64545" } });
      }
      seriesChart.setOption({
        animation: false,
        legend: { top: 0 },
        grid: { left: 60, right: 20, top: 40, bottom: 30 },
        tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null || v === undefined ? "—" : v + " " + unit; } },
        xAxis: { type: "category", data: data.months },
        yAxis: { type: "value", name: unit },
        series: lines
      });
      window.addEventListener("resize", function () { seriesChart.resize(); });
    }
    document.documentElement.dataset.chartsReady = "1";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
