// Keep "in 4 minutes" countdowns (e.g. the next escalation) live between page loads.
// Progressive enhancement: without JavaScript the server-rendered text stays as it was.
(function () {
  var items = document.querySelectorAll(".countdown[data-seconds]");
  if (!items.length) return;
  var started = Date.now();
  function text(seconds) {
    if (seconds <= 0) return "due now";
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    if (h) return h + " h " + m + " min";
    if (m) return m + " min " + (s < 10 ? "0" : "") + s + " s";
    return s + " s";
  }
  function tick() {
    var elapsed = Math.floor((Date.now() - started) / 1000);
    items.forEach(function (item) {
      var left = parseInt(item.getAttribute("data-seconds"), 10) - elapsed;
      item.textContent = text(left);
    });
  }
  tick();
  setInterval(tick, 1000);
})();
