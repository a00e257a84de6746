// The live alarm board: a flashing banner and a beep (WebAudio, no audio files) for new unacknowledged
// fire alarms, and the close-out form showing only the fields of the chosen class.
// Browsers block sound until the user acts on the page, hence the "Enable sound" button.
(function () {
  "use strict";
  var KEY = "minan.firewatch.sound";
  var ctx = null;
  var seen = null; // ids of unacknowledged fire alarms already announced
  var reminder = null;
  var toggle = document.querySelector("[data-sound-toggle]");

  function wanted() {
    try { return window.localStorage.getItem(KEY) === "on"; } catch (e) { return false; }
  }
  function remember(on) {
    try { window.localStorage.setItem(KEY, on ? "on" : "off"); } catch (e) { /* private mode */ }
  }
  function audio() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    if (!ctx) ctx = new AC();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }
  function showToggle() {
    if (!toggle) return;
    var on = wanted() && ctx && ctx.state === "running";
    toggle.textContent = on ? toggle.dataset.onLabel : toggle.dataset.offLabel;
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
  }
  function beep() {
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
    if (!wanted() || !ctx || ctx.state !== "running") return;
    var t = ctx.currentTime;
    for (var i = 0; i < 3; i++) {
      var start = t + i * 0.3;
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.25, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
      osc.connect(gain);
      gain.connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.22);
    }
  }
  function current() {
    var board = document.getElementById("board");
    var raw = board ? board.dataset.fireUnack || "" : "";
    return raw ? raw.split(",") : [];
  }
  function check() {
    var ids = current();
    var fresh = ids.filter(function (id) { return !seen || seen.indexOf(id) < 0; });
    seen = ids;
    if (fresh.length) beep();
    if (ids.length && !reminder) {
      reminder = window.setInterval(function () { if (current().length) beep(); }, 15000);
    } else if (!ids.length && reminder) {
      window.clearInterval(reminder);
      reminder = null;
    }
  }

  if (document.getElementById("board")) {
    if (toggle) {
      toggle.addEventListener("click", function () {
        var on = !(wanted() && ctx && ctx.state === "running");
        remember(on);
        if (on) { audio(); beep(); }
        window.setTimeout(showToggle, 50);
      });
    }
    if (wanted()) {
      // A remembered choice: the context starts suspended until the first click anywhere.
      audio();
      document.addEventListener("click", function once() {
        audio();
        window.setTimeout(showToggle, 50);
        document.removeEventListener("click", once);
      });
    }
    showToggle();
    document.body.addEventListener("htmx:beforeSwap", function (evt) {
      var url = evt.detail.xhr && evt.detail.xhr.responseURL || "";
      if (url.indexOf("/accounts/login") >= 0) { evt.detail.shouldSwap = false; window.location.reload(); }
    });
    document.body.addEventListener("htmx:afterSettle", check);
    check();
  }

  // The close-out form: only the chosen class's fields (all of them without JavaScript).
  var form = document.querySelector("form[data-close-form]");
  if (form) {
    var show = function () {
      var chosen = form.querySelector("input[name=classification]:checked");
      form.querySelectorAll("fieldset[data-class]").forEach(function (set) {
        set.hidden = !!chosen && set.dataset.class !== chosen.value;
      });
    };
    form.addEventListener("change", show);
    show();
  }
})();
