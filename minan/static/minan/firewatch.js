// The live alarm board: a flashing banner and a beep (WebAudio, no audio files) for new unacknowledged
// fire alarms, the alarms' ages kept current between refreshes, the filters inline on screens, the
// duty-room screen's clock and full-screen button, and the close-out form showing only the fields of
// the chosen class. Browsers block sound until the user acts on the page, hence the "Enable sound" button.
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

  // Ages ("12 分钟前"): the board is re-rendered only when something changes, so they are renewed here
  // every 30 s with the steps of selectors.age (minutes below an hour, hours below two days, then days).
  var relative = null;
  try {
    relative = new Intl.RelativeTimeFormat(document.documentElement.lang || undefined, { numeric: "always" });
  } catch (e) { relative = null; }
  function ages() {
    var board = document.getElementById("board");
    if (!board || !relative) return;
    var now = Date.now();
    board.querySelectorAll("[data-since]").forEach(function (el) {
      var since = Date.parse(el.dataset.since);
      if (isNaN(since)) return;
      var minutes = Math.max(0, Math.floor((now - since) / 60000));
      var hours = Math.floor(minutes / 60);
      if (minutes < 1) el.textContent = board.dataset.justNow || "";
      else if (minutes < 60) el.textContent = relative.format(-minutes, "minute");
      else if (hours < 48) el.textContent = relative.format(-hours, "hour");
      else el.textContent = relative.format(-Math.floor(hours / 24), "day");
    });
  }
  if (document.getElementById("board")) window.setInterval(ages, 30000);

  // The filters: a <details> folded behind its button on phones, always open on wider screens.
  var filters = document.querySelector("details[data-board-filters]");
  if (filters && window.matchMedia) {
    var wide = window.matchMedia("(min-width: 641px)");
    var place = function () {
      filters.classList.toggle("inline", wide.matches);
      if (wide.matches) filters.open = true;
    };
    if (wide.addEventListener) wide.addEventListener("change", place);
    place();
  }

  // The duty-room screen: a clock, and full screen on a click (browsers allow it only after one).
  var clock = document.querySelector("[data-wall-clock]");
  if (clock) {
    // In the server's time zone, as every time on the board.
    var format = null;
    try {
      format = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23",
                                                  timeZone: clock.dataset.timeZone || undefined });
    } catch (e) { format = null; }
    var tick = function () { if (format) clock.textContent = format.format(new Date()); };
    tick();
    window.setInterval(tick, 10000);
  }
  var full = document.querySelector("[data-fullscreen]");
  if (full && document.fullscreenEnabled) {
    full.hidden = false;
    full.addEventListener("click", function () {
      if (document.fullscreenElement) document.exitFullscreen();
      else document.documentElement.requestFullscreen().catch(function () { /* refused */ });
    });
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
