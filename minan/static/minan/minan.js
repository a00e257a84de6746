// Behaviour every page shares, here rather than in on*= attributes: the Content-Security-Policy allows
// scripts only from our own static files (docs/security.md).
(function () {
  "use strict";

  // The navigation menu button on narrow screens.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-menu-toggle]") : null;
    if (!button) return;
    var nav = document.getElementById(button.getAttribute("aria-controls"));
    if (!nav) return;
    var open = nav.classList.toggle("open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // A select that submits its form when changed (the language switch).
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("select[data-autosubmit]") && select.form) select.form.submit();
  });

  // Forms that ask before they do something that cannot be undone: <form data-confirm="question">.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Colours chosen by administrators (risk classes) come as data-colour and are set through the DOM,
  // which the policy allows, instead of style="" attributes, which it does not.
  function paint(root) {
    var els = root.querySelectorAll ? root.querySelectorAll("[data-colour]") : [];
    for (var i = 0; i < els.length; i++) {
      var colour = els[i].getAttribute("data-colour");
      if (/^#[0-9a-fA-F]{3,8}$/.test(colour)) els[i].style.backgroundColor = colour;
    }
  }
  document.addEventListener("htmx:load", function (event) { paint(event.target); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { paint(document); });
  } else {
    paint(document);
  }
})();
