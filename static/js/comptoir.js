/* Comptoir: toasts, scan feedback (sound + colour) and keyboard-wedge scan capture. No inline code (CSP). */
(function () {
  "use strict";
  var audio = null;

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tones = ok ? [[1046, 0.08]] : [[220, 0.15], [180, 0.25]];
      var t = audio.currentTime;
      tones.forEach(function (tone) {
        var osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = ok ? "sine" : "square";
        osc.frequency.value = tone[0];
        gain.gain.value = 0.15;
        osc.connect(gain); gain.connect(audio.destination);
        osc.start(t); osc.stop(t + tone[1]);
        t += tone[1] + 0.05;
      });
    } catch (e) { /* no audio device: colour still answers */ }
  }

  function flash(ok) {
    var cls = ok ? "flash-ok" : "flash-error";
    document.body.classList.remove("flash-ok", "flash-error");
    void document.body.offsetWidth;
    document.body.classList.add(cls);
    window.setTimeout(function () { document.body.classList.remove(cls); }, 700);
    document.body.dataset.lastScan = ok ? "ok" : "error";
  }

  function toast(message, level) {
    var area = document.getElementById("toasts");
    if (!area || !message) { return; }
    var p = document.createElement("p");
    p.className = "toast " + (level || "success");
    p.textContent = message;
    area.appendChild(p);
    window.setTimeout(function () { p.remove(); }, 6000);
  }

  document.addEventListener("toast", function (e) { toast(e.detail.message, e.detail.level); });
  document.addEventListener("scan", function (e) { beep(!!e.detail.ok); flash(!!e.detail.ok); });
  document.addEventListener("htmx:responseError", function (e) {
    toast(document.documentElement.dataset.errorMessage || "Error " + e.detail.xhr.status, "error");
  });
  document.addEventListener("htmx:sendError", function () {
    toast(document.documentElement.dataset.offlineMessage || "Network error", "error");
  });

  /* Keyboard-wedge scanners type fast and press Enter. Outside text fields, collect those
     keystrokes and send them through the scan form, so a scan works on any screen. */
  /* A scanner types a code in a burst; 100 ms between keys still tells it from a person typing on a loaded tablet. */
  var buffer = "", last = 0, MAX_GAP = 100, MIN_LEN = 3;
  function editable(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  document.addEventListener("keydown", function (e) {
    if (editable(e.target) || e.ctrlKey || e.altKey || e.metaKey) { return; }
    var now = Date.now();
    if (now - last > MAX_GAP) { buffer = ""; }
    last = now;
    if (e.key === "Enter") {
      var form = document.getElementById("scan-form"), input = document.getElementById("scan-input");
      if (buffer.length >= MIN_LEN && form && input) {
        e.preventDefault();
        input.value = buffer;
        if (window.htmx) { window.htmx.trigger(form, "submit"); } else { form.submit(); }
      }
      buffer = "";
    } else if (e.key.length === 1) {
      buffer += e.key;
    }
  });
  /* Every scan carries an id made on this device. When the network drops, scanning the same code
     again sends the same id, so the server counts it once; any answer from the server ends it. */
  var pending = null;
  function newScanId() {
    var bytes = new Uint8Array(16), out = "";
    window.crypto.getRandomValues(bytes);  /* works on plain http inside a store network, unlike randomUUID */
    bytes.forEach(function (b) { out += ("0" + b.toString(16)).slice(-2); });
    return out;
  }
  document.addEventListener("submit", function (e) {
    if (!e.target || e.target.id !== "scan-form") { return; }
    var input = document.getElementById("scan-input"), field = document.getElementById("scan-id");
    var code = input ? input.value.trim() : "";
    if (!pending || pending.code !== code) { pending = {id: newScanId(), code: code}; }
    if (field) { field.value = pending.id; }
  }, true);
  document.addEventListener("htmx:afterRequest", function (e) {
    if (e.detail.elt && e.detail.elt.id === "scan-form") {
      if (e.detail.xhr && e.detail.xhr.status) { pending = null; }  /* answered: the next scan is a new one */
      var input = document.getElementById("scan-input");
      if (input) { input.value = ""; }
    }
  });
})();
