// Bar chart of institutions by kind, from the figures the page already shows.
(function () {
  var el = document.getElementById("kind-chart");
  var data = JSON.parse(document.getElementById("kind-data").textContent);
  if (!el || !window.echarts) return;
  var chart = echarts.init(el);
  chart.setOption({
    grid: { left: 40, right: 16, top: 16, bottom: 30 },
    xAxis: { type: "category", data: data.map(function (d) { return d[0]; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ type: "bar", data: data.map(function (d) { return d[1]; }), itemStyle: { color: "#1d5fa8" } }],
    // Drawn on the canvas: the HTML tooltip writes style="" attributes, which the CSP refuses.
    tooltip: { renderMode: "richText" }
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
