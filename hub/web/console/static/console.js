/* Tawasul console: sign-in, ticket actions through /api/v1 (with the session's CSRF token), canned
   responses and the reply counter, copy-to-clipboard, and live updates from /api/v1/events (SSE).
   Everything the server sends is already escaped HTML; this script never builds markup from data. */
(function () {
  "use strict";

  var words = {};
  try { words = JSON.parse(document.getElementById("i18n").textContent); } catch (e) { words = {}; }
  function word(key, values) {
    var text = words[key] || key;
    Object.keys(values || {}).forEach(function (k) { text = text.split("{" + k + "}").join(values[k]); });
    return text;
  }
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }
  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (resp) {
      return resp.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { message: text }; }
        return { status: resp.status, body: data };
      });
    });
  }
  function announce(text) {
    var box = document.getElementById("announcer");
    if (box) { box.textContent = ""; window.setTimeout(function () { box.textContent = text; }, 50); }
  }
  function flashNext(text) { try { sessionStorage.setItem("tawasul-flash", text); } catch (e) { /* private mode */ } }
  function showFlash() {
    var text = null;
    try { text = sessionStorage.getItem("tawasul-flash"); sessionStorage.removeItem("tawasul-flash"); } catch (e) { text = null; }
    var box = document.getElementById("flash");
    if (text && box) { box.textContent = text; box.hidden = false; }
  }
  function showResult(box, text, ok) {
    if (!box) { window.alert(text); return; }
    box.textContent = text;
    box.classList.toggle("ok", !!ok);
    box.hidden = false;
    if (!ok) { box.setAttribute("tabindex", "-1"); box.focus(); }
  }
  function explain(result, kind) {
    if (result.status === 401) { return word("session_over"); }
    if (result.status === 409 && kind === "takeover") { return word("already_taken"); }
    var message = (result.body && result.body.message) || ("HTTP " + result.status);
    if (result.status === 409) { return word("not_allowed", { message: message }); }
    return word("error", { message: message });
  }

  // --- sign-in --------------------------------------------------------------------------------
  function setupLogin() {
    var form = document.getElementById("login-form");
    if (!form) { return; }
    var box = document.getElementById("login-error");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var username = form.username.value.trim(), password = form.password.value;
      if (!username || !password) { showResult(box, word("login_missing")); return; }
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      api("POST", "/api/v1/login", { username: username, password: password }).then(function (result) {
        button.disabled = false;
        if (result.status === 200) {
          window.location.assign(form.getAttribute("data-next") || "/console/");
          return;
        }
        if (result.status === 423) {
          var until = result.body.locked_until ? new Date(result.body.locked_until) : null;
          var when = until ? until.toLocaleString(document.documentElement.lang === "ar" ? "ar-SA-u-nu-latn-ca-gregory" : "en-GB") : "";
          showResult(box, word("login_locked", { when: when }));
        } else if (result.status === 401) {
          showResult(box, word("login_invalid"));
        } else if (result.status === 400) {
          showResult(box, word("login_missing"));
        } else {
          showResult(box, word("login_failed"));
        }
        form.password.value = "";
      }, function () { button.disabled = false; showResult(box, word("login_failed")); });
    });
  }

  // --- header ---------------------------------------------------------------------------------
  function setupHeader() {
    document.addEventListener("click", function (event) {
      var target = event.target.closest ? event.target.closest("button") : null;
      if (!target) { return; }
      if (target.hasAttribute("data-logout")) {
        api("POST", "/api/v1/logout").then(function () { window.location.assign("/console/login"); });
      } else if (target.hasAttribute("data-duty")) {
        var on = target.getAttribute("data-on") === "true";
        target.disabled = true;
        api("POST", "/api/v1/users/" + target.getAttribute("data-duty") + "/duty", { on_duty: on }).then(function (result) {
          if (result.status === 200) { flashNext(word("done_ok")); window.location.reload(); }
          else { target.disabled = false; showResult(null, explain(result)); }
        });
      } else if (target.hasAttribute("data-read-all")) {
        api("POST", "/api/v1/notifications/read", { all: true }).then(function () { window.location.reload(); });
      } else if (target.hasAttribute("data-copy")) {
        copyText(document.getElementById(target.getAttribute("data-copy")), target);
      } else if (target.hasAttribute("data-manual-sent")) {
        target.disabled = true;
        api("POST", "/api/v1/outbox/" + target.getAttribute("data-manual-sent") + "/sent").then(function (result) {
          if (result.status === 200) { flashNext(word("done_ok")); window.location.reload(); }
          else { target.disabled = false; showResult(document.getElementById("action-result"), explain(result)); }
        });
      } else if (target.hasAttribute("data-refresh-rows")) {
        refreshRows([]);
      }
    });
  }

  function copyText(area, button) {
    if (!area) { return; }
    var done = function () { var old = button.textContent; button.textContent = word("copied"); announce(word("copied")); window.setTimeout(function () { button.textContent = old; }, 2000); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(area.value).then(done, function () { area.select(); document.execCommand("copy"); done(); });
    } else {
      area.select();
      document.execCommand("copy");
      done();
    }
  }

  // --- ticket actions -----------------------------------------------------------------------------
  function formBody(form, submitter) {
    var body = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === "submit") { return; }
      if (el.type === "checkbox") { body[el.name] = el.checked; }
      else if (el.type === "radio") { if (el.checked) { body[el.name] = el.value; } }
      else { body[el.name] = el.value; }
    });
    if (submitter && submitter.name) { body[submitter.name] = submitter.value === "1" ? true : submitter.value; }
    return body;
  }

  function setupActions() {
    var box = document.getElementById("action-result");
    Array.prototype.forEach.call(document.querySelectorAll("form[data-api]"), function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var confirmKey = form.getAttribute("data-confirm");
        if (confirmKey && !window.confirm(word(confirmKey))) { return; }
        var buttons = form.querySelectorAll("button");
        Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
        var kind = form.getAttribute("data-kind");
        api("POST", form.getAttribute("data-api"), formBody(form, event.submitter)).then(function (result) {
          Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
          if (result.status === 200) {
            flashNext(word("done_ok"));
            window.location.reload();
          } else if (result.status === 401) {
            window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname));
          } else {
            showResult(box, explain(result, kind));
          }
        }, function () {
          Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
          showResult(box, word("error", { message: "network" }));
        });
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("form[data-review]"), function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = formBody(form), scores = {};
        Object.keys(body).forEach(function (k) { if (k !== "comment" && k !== "send_back") { scores[k] = parseInt(body[k], 10); } });
        api("POST", "/api/v1/quality-reviews/" + form.getAttribute("data-review"), {
          scores: scores, comment: body.comment, send_back: body.send_back
        }).then(function (result) {
          if (result.status === 200) { flashNext(word("done_ok")); window.location.reload(); }
          else { showResult(form.querySelector(".alert"), explain(result)); }
        });
      });
    });
  }

  // --- reply: canned responses and the length counter ---------------------------------------------
  function setupReply() {
    var area = document.getElementById("reply-text");
    if (!area) { return; }
    var output = document.getElementById("reply-counter");
    var max = parseInt(area.getAttribute("data-max"), 10) || 4000;
    var bytes = area.getAttribute("data-unit") === "bytes";
    var encoder = window.TextEncoder ? new TextEncoder() : null;
    function update() {
      var n = bytes && encoder ? encoder.encode(area.value).length : area.value.length;
      var parts = Math.max(1, Math.ceil(n / max));
      output.textContent = output.getAttribute("data-template").replace("{n}", n).replace("{max}", max).replace("{parts}", parts);
      output.classList.toggle("over", n > max);
    }
    area.addEventListener("input", update);
    update();
    var canned = document.querySelector("select[data-canned-for]");
    if (canned) {
      canned.addEventListener("change", function () {
        var option = canned.options[canned.selectedIndex];
        var text = option ? option.getAttribute("data-text") : "";
        if (text) {
          area.value = area.value.trim() ? area.value.replace(/\s*$/, "\n\n") + text : text;
          update();
          area.focus();
        }
        canned.selectedIndex = 0;
      });
    }
  }

  // --- live updates ------------------------------------------------------------------------------------
  var pendingRows = null, pendingTimeline = null, freshNumbers = [];

  function refreshRows(numbers) {
    var body = document.getElementById("inbox-rows");
    if (!body) { return; }
    var url = window.location.pathname + window.location.search + (window.location.search ? "&" : "?") + "partial=rows";
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (resp) {
      if (resp.status !== 200) { return null; }
      return resp.text();
    }).then(function (html) {
      if (html === null) { return; }
      body.innerHTML = html;  // server-rendered, escaped
      Array.prototype.forEach.call(body.querySelectorAll("tr[data-number]"), function (row) {
        if (numbers.indexOf(row.getAttribute("data-number")) >= 0) { row.classList.add("fresh"); }
      });
      var notice = document.getElementById("inbox-notice");
      if (notice) { notice.hidden = true; }
      announce(word("updated"));
    });
  }

  function refreshTimeline() {
    var box = document.getElementById("timeline-box");
    if (!box) { return; }
    var list = document.getElementById("timeline");
    var atEnd = list ? (list.scrollHeight - list.scrollTop - list.clientHeight < 40) : true;
    var before = list ? parseInt(list.getAttribute("data-count"), 10) : 0;
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (resp) {
      return resp.status === 200 ? resp.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      box.innerHTML = html;  // server-rendered, escaped
      var fresh = document.getElementById("timeline");
      if (!fresh) { return; }
      var items = fresh.children, after = parseInt(fresh.getAttribute("data-count"), 10);
      for (var i = Math.max(0, before); i < after && i < items.length; i++) { items[i].classList.add("fresh"); }
      if (atEnd) { fresh.scrollTop = fresh.scrollHeight; }
      if (after > before) { announce(word("new_activity")); }
    });
  }

  function setupLive() {
    var body = document.body;
    var status = document.getElementById("live-status");
    if (!window.EventSource || !body.hasAttribute("data-live") && !status) { return; }
    var source = new EventSource("/api/v1/events");
    window.tawasulLive = { source: source, events: [] };
    source.addEventListener("hello", function () {
      if (status) { status.textContent = word("live_on"); status.className = "live on"; }
    });
    source.onerror = function () {
      if (status) { status.textContent = word("live_off"); status.className = "live off"; }
    };
    function handle(kind) {
      return function (message) {
        var data = {};
        try { data = JSON.parse(message.data); } catch (e) { return; }
        window.tawasulLive.events.push({ kind: kind, data: data, at: Date.now() });
        if (kind === "notification") {
          var unread = document.getElementById("unread");
          if (unread) { unread.textContent = String((parseInt(unread.textContent, 10) || 0) + 1); }
        }
        var page = body.getAttribute("data-page");
        if (page === "inbox" && data.ticket) {
          freshNumbers.push(data.ticket);
          if (body.getAttribute("data-first-page") === "true") {
            window.clearTimeout(pendingRows);
            pendingRows = window.setTimeout(function () { refreshRows(freshNumbers); freshNumbers = []; }, 400);
          } else {
            var notice = document.getElementById("inbox-notice");
            if (notice) { notice.hidden = false; }
          }
        } else if (page === "conversation") {
          var mine = String(data.beneficiary) === body.getAttribute("data-beneficiary") || data.ticket === body.getAttribute("data-ticket");
          if (mine) {
            window.clearTimeout(pendingTimeline);
            pendingTimeline = window.setTimeout(refreshTimeline, 200);
          }
        }
      };
    }
    ["message", "ticket", "notification"].forEach(function (kind) { source.addEventListener(kind, handle(kind)); });
    source.addEventListener("signed_out", function () { source.close(); window.location.assign("/console/login"); });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  function start() {
    showFlash();
    setupLogin();
    setupHeader();
    setupActions();
    setupReply();
    setupLive();
    var list = document.getElementById("timeline");
    if (list) { list.scrollTop = list.scrollHeight; }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
