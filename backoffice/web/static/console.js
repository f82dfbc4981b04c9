// Vitrina back office, the chat console (issue #19). No inline script anywhere (the Content-Security-Policy
// forbids it).
//  - The nav's badge (operators and admins): chats waiting for a person, polled from /console/badge.json on
//    every page (and taken from the inbox itself on the console, as soon as it changes). A hand-off newer
//    than the last this tab knew of plays a short tone (Web Audio, no file) and makes the badge ring.
//  - The inbox: "waiting N s" counted here from data attributes (so the server's HTML changes only when the
//    conversations do), the operator's place in a reply kept when the inbox is swapped, and the reply box
//    emptied once its message is sent.
(function () {
  "use strict";
  var POLL_MS = 3000;
  var KNOWN = "vitrina.console.newest";
  var audio = null;

  // Browsers start audio only after a gesture on the page: make the context on the first one.
  function unlock() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) { return; }
    try {
      audio = audio || new Context();
      if (audio.state === "suspended") { audio.resume(); }
    } catch (e) { audio = null; }
  }
  document.addEventListener("pointerdown", unlock);
  document.addEventListener("keydown", unlock);

  function tone() {
    unlock();
    if (!audio) { return "unavailable"; }
    try {
      var now = audio.currentTime;
      [0, 0.18].forEach(function (at) {
        var oscillator = audio.createOscillator();
        var gain = audio.createGain();
        oscillator.frequency.value = at ? 1175 : 880;
        gain.gain.setValueAtTime(0.0001, now + at);
        gain.gain.exponentialRampToValueAtTime(0.25, now + at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.16);
        oscillator.connect(gain);
        gain.connect(audio.destination);
        oscillator.start(now + at);
        oscillator.stop(now + at + 0.17);
      });
      return audio.state;
    } catch (e) { return "failed"; }
  }

  function known() {
    var value = parseFloat(window.sessionStorage.getItem(KNOWN) || "0");
    return isNaN(value) ? 0 : value;
  }

  function update(waiting, newest, title) {
    var badge = document.getElementById("console-badge");
    if (!badge) { return; }
    badge.textContent = String(waiting);
    badge.hidden = waiting < 1;
    if (title) { badge.title = title; }
    document.title = document.title.replace(/^\(\d+\) /, "");
    if (waiting > 0) { document.title = "(" + waiting + ") " + document.title; }
    if (newest && newest > known()) {
      window.sessionStorage.setItem(KNOWN, String(newest));
      if (waiting > 0) {
        badge.dataset.alerts = String(parseInt(badge.dataset.alerts || "0", 10) + 1);
        badge.dataset.sound = tone();
        badge.classList.remove("ring");
        void badge.offsetWidth;  // restart the animation
        badge.classList.add("ring");
      }
    }
  }

  function poll() {
    var badge = document.getElementById("console-badge");
    if (!badge || !window.fetch) { return; }
    window.fetch(badge.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { update(data.waiting, data.newest, data.title); } })
      .catch(function () { /* the next poll tries again */ });
  }

  function fromInbox() {
    var inbox = document.getElementById("inbox");
    if (inbox) {
      update(parseInt(inbox.dataset.waiting || "0", 10), parseFloat(inbox.dataset.newest || "0"), "");
    }
  }

  function tick() {
    var now = Date.now() / 1000;
    document.querySelectorAll(".waited[data-since]").forEach(function (span) {
      var until = span.dataset.until ? parseFloat(span.dataset.until) : now;
      var seconds = Math.max(0, Math.round(until - parseFloat(span.dataset.since)));
      span.textContent = (span.dataset.format || "{seconds}").replace("{seconds}", String(seconds));
    });
  }

  // Keep the operator's place (focus and selection in a reply box) across a swap of the inbox, whether
  // the swap is an answer to a click (htmx:beforeSwap) or the live stream's (htmx:sseBeforeMessage).
  var place = null;
  function remember() {
    var active = document.activeElement;
    place = active && active.id && active.tagName === "TEXTAREA"
      ? { id: active.id, start: active.selectionStart, end: active.selectionEnd } : null;
  }
  function restore() {
    tick();
    fromInbox();
    if (place) {
      var box = document.getElementById(place.id);
      if (box && document.activeElement !== box) {
        box.focus();
        try { box.setSelectionRange(place.start, place.end); } catch (e) { /* not a text box */ }
      }
      place = null;
    }
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    remember();
    // A reply sent: empty its box before the swap (the box is preserved across swaps, so it would keep
    // its text; after the swap the form that sent it is detached and its events no longer reach here).
    var config = event.detail && event.detail.requestConfig;
    var form = config && config.elt;  // the element that made the request (the event's target is the swap's)
    var xhr = event.detail && event.detail.xhr;
    if (form && form.classList && form.classList.contains("reply") && xhr && xhr.status < 400) {
      var box = document.getElementById(form.dataset.box || "");
      if (box) { box.value = ""; }
      place = null;
    }
  });
  document.addEventListener("htmx:sseBeforeMessage", remember);
  document.addEventListener("htmx:afterSwap", restore);
  document.addEventListener("htmx:sseMessage", restore);

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
    fromInbox();
    poll();
    window.setInterval(poll, POLL_MS);
  });
})();
