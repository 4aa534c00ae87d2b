/* Comptoir: a short chime when a customer says they are here ("I'm here" page). The queue and the counter
   refresh their live part every few seconds; each arrival there carries data-arrival (its pickup). When a refresh
   brings one that was not there before, the chime (static/sounds/arrival.wav, 8-bit, made for Comptoir) plays and
   the page's announcement says it for screen readers. Nothing plays on a page's first load. No inline code (CSP). */
(function () {
  "use strict";
  var REGIONS = {"queue-live": true, "counter-live": true};
  var before = null;

  function arrivals(root) {
    var found = {};
    root.querySelectorAll("[data-arrival]").forEach(function (el) { found[el.dataset.arrival] = el; });
    return found;
  }

  function chime(region) {
    var source = region.dataset.chime || (document.querySelector("[data-chime]") || {dataset: {}}).dataset.chime;
    if (!source) { return; }
    try {
      var sound = new Audio(source);
      var playing = sound.play();
      if (playing && playing.catch) { playing.catch(function () { /* not allowed before a tap: the banner shows it */ }); }
    } catch (e) { /* no audio: the banner and the announcement still say it */ }
  }

  function announce(text) {
    var out = document.querySelector("p.announce[role=status]");
    if (!out || !text) { return; }
    out.textContent = text;
    window.setTimeout(function () { if (out.textContent === text) { out.textContent = ""; } }, 10000);
  }

  document.addEventListener("htmx:beforeSwap", function (e) {
    var target = e.detail.target;
    if (target && REGIONS[target.id]) { before = arrivals(target); }
  });
  document.addEventListener("htmx:afterSwap", function (e) {
    var target = e.detail.target;
    if (!target || !REGIONS[target.id] || before === null) { return; }
    var now = arrivals(target), fresh = null;
    Object.keys(now).forEach(function (id) { if (!before[id] && !fresh) { fresh = now[id]; } });
    before = null;
    if (fresh) {
      chime(target);
      announce(fresh.textContent.replace(/\s+/g, " ").trim());
    }
  });
})();
