/* Comptoir queue: live countdowns on each row, and a chime + announcement when new work arrives.
   The server renders the same state and text (app/core/urgency.py, app/web/queue.py); this only keeps
   them current between two refreshes. No inline code (CSP). */
(function () {
  "use strict";
  var TICK = 30000, SOON_PERCENT = 80;
  var audio = null;

  function region() { return document.getElementById("queue-live"); }

  function chime() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var t = audio.currentTime;
      [[660, 0.12], [880, 0.18]].forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = tone[0];
        gain.gain.value = 0.12;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t); osc.stop(t + tone[1]);
        t += tone[1] + 0.04;
      });
    } catch (e) { /* no audio device, or not allowed before a tap: the announcement still says it */ }
  }

  function fill(template, values) {
    return (template || "").replace(/\{(\w+)\}/g, function (whole, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? values[key] : whole;
    });
  }

  function duration(texts, minutes) {
    if (minutes < 60) { return fill(texts.tMin, {min: minutes}); }
    var rest = minutes % 60;
    return fill(texts.tHmin, {h: Math.floor(minutes / 60), min: (rest < 10 ? "0" : "") + rest});
  }

  /* The same rule as urgency.urgency: late after the deadline, "soon" from 80% of the allowed time. */
  function state(start, deadline, now) {
    if (now > deadline) { return "late"; }
    var allowed = deadline - start;
    if (!(allowed > 0) || (now - start) * 100 >= allowed * SOON_PERCENT) { return "soon"; }
    return "ok";
  }

  function update() {
    var live = region();
    if (!live) { return; }
    var texts = live.dataset, now = Date.now();
    var labels = {ok: texts.tLabelok, soon: texts.tLabelsoon, late: texts.tLabellate};
    live.querySelectorAll("[data-deadline]").forEach(function (row) {
      var deadline = Date.parse(row.dataset.deadline), start = Date.parse(row.dataset.start);
      if (isNaN(deadline)) { return; }
      if (isNaN(start)) { start = deadline; }
      var s = state(start, deadline, now);
      var minutes = Math.max(1, Math.ceil(Math.abs(deadline - now) / 60000));
      var text = fill(s === "late" ? texts.tLateby : texts.tIn, {time: duration(texts, minutes)});
      ["ok", "soon", "late"].forEach(function (name) {
        row.classList.toggle("u-" + name, name === s);
      });
      var badge = row.querySelector(".urgency");
      if (badge) {
        ["ok", "soon", "late"].forEach(function (name) { badge.classList.toggle("u-" + name, name === s); });
        var label = badge.querySelector(".u-label"), out = badge.querySelector(".u-text");
        if (label && labels[s] && label.textContent !== labels[s]) { label.textContent = labels[s]; }
        if (out && out.textContent !== text) { out.textContent = text; }
      }
    });
  }

  function latest() {
    var marker = document.querySelector("#queue-live .live-state");
    return marker ? parseInt(marker.dataset.latest, 10) || 0 : 0;
  }

  var before = null;
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.target && e.detail.target.id === "queue-live") { before = latest(); }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    if (!e.detail.target || e.detail.target.id !== "queue-live") { return; }
    update();
    var now = latest();
    if (before !== null && now > before) {
      chime();
      var announce = document.getElementById("queue-announce");
      if (announce) {
        announce.textContent = region().dataset.tNew || "";
        window.setTimeout(function () { announce.textContent = ""; }, 10000);
      }
    }
    before = null;
  });

  /* Loaded on every page (htmx does not run scripts of boosted pages): does nothing without the queue. */
  document.addEventListener("htmx:afterSettle", update);

  function start() {
    update();
    window.setInterval(update, TICK);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
