// jiedao: the few behaviours the pages need, without a framework.
(function () {
  "use strict";

  function setupNavToggle() {
    var button = document.querySelector(".nav-toggle");
    var nav = document.getElementById("sidebar");
    if (!button || !nav) return;
    button.addEventListener("click", function () {
      var open = nav.classList.toggle("is-open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  }

  // The server marks the current item when it knows it; otherwise the longest matching
  // link prefix wins (so /accounts/users/5/ highlights 账号管理).
  function markCurrentNav() {
    var links = document.querySelectorAll(".sidebar a[data-nav]");
    if (!links.length || document.querySelector(".sidebar a.is-current")) return;
    var path = window.location.pathname, best = null, bestLen = 0;
    links.forEach(function (a) {
      var href = a.getAttribute("href");
      if (href && href !== "/" && path.indexOf(href) === 0 && href.length > bestLen) {
        best = a; bestLen = href.length;
      }
    });
    if (best) { best.classList.add("is-current"); best.setAttribute("aria-current", "page"); }
  }

  // <form data-confirm="…"> asks before submitting (revoke, deactivate).
  function setupConfirm() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form.getAttribute && form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    }, true);
  }

  // An element loading itself by htmx with data-failed="…" (the inbox's deferred count) says
  // so when its request fails, instead of "loading…" for ever; its hx-trigger can retry.
  function setupFailedLoads() {
    ["htmx:responseError", "htmx:sendError", "htmx:timeout"].forEach(function (name) {
      document.addEventListener(name, function (event) {
        var el = event.detail && event.detail.elt;
        var message = el && el.getAttribute && el.getAttribute("data-failed");
        if (!message) return;
        el.textContent = message;
        el.classList.add("is-failed");
        el.removeAttribute("aria-busy");
      });
    });
  }

  // A filter form that pushes its query into the address (hx-push-url, the inbox): going Back
  // restores the list htmx kept, but not what the fields held (a field's value is not in the
  // snapshot), so they are set again from the address — the filters say what the list shows.
  function setupHistoryFilters() {
    document.addEventListener("htmx:historyRestore", function () {
      var params = new URLSearchParams(window.location.search);
      document.querySelectorAll("form[hx-push-url]").forEach(function (form) {
        Array.prototype.forEach.call(form.elements, function (field) {
          if (!field.name || field.type === "hidden" || field.type === "submit") return;
          if (field.type === "checkbox" || field.type === "radio") {
            field.checked = params.getAll(field.name).indexOf(field.value) >= 0;
          } else {
            field.value = params.get(field.name) || "";
          }
        });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupNavToggle();
    markCurrentNav();
    setupConfirm();
    setupFailedLoads();
    setupHistoryFilters();
  });
})();
