// Bar chart of the online and false-alarm rates per county, from the figures the page already shows.
(function () {
  "use strict";
  var el = document.getElementById("firewatch-chart");
  var data = document.getElementById("firewatch-chart-data");
  if (!el || !data || !window.echarts) return;
  var figures = JSON.parse(data.textContent);
  var chart = echarts.init(el);
  chart.setOption({
    // Drawn on the canvas: the HTML tooltip writes style="" attributes, which the CSP refuses.
    tooltip: { trigger: "axis", renderMode: "richText" },
    legend: {},
    xAxis: { type: "category", data: figures.counties },
    yAxis: { type: "value", max: 100 },
    series: figures.series.map(function (s) { return { name: s.name, type: "bar", data: s.data }; })
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
